"""Business calendars with their working intervals and holidays: created, changed and
deleted only here.

The admin and the API both call these services. Each checks that the actor may change
the SLA configuration, validates the calendar as its model does (``full_clean``: the
time zone, and whether the holidays package knows the country and subdivision), its
intervals and its holidays (each date once), locks the row it changes, and records one
event (payloads in ``sla.events``) in the same transaction: intervals and holidays are
part of the calendar, so a change of several is one event.

Every change saves the calendar's ``updated``, which is what tells cached calendar specs
(``sla.calendar.calendar_spec``) that they are stale. Running clocks keep the deadline
they were given. A calendar that policies use cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from nixflow.models import User
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.services import Changes, model_update
from sla import events
from sla.models import BusinessCalendar, CalendarHoliday, WorkingInterval
from sla.services._common import (
    Row,
    changes_payload,
    checked_rows,
    name_taken_as_error,
    plain,
    require_admin,
)

CALENDAR_FIELDS = ("name", "time_zone", "holiday_country", "holiday_subdivision")
INTERVAL_FIELDS = ("weekday", "start", "end")
HOLIDAY_FIELDS = ("date", "name")
CALENDAR_IN_USE = "SLA policies use this calendar: give them another one first."


def _intervals(rows: Sequence[Mapping[str, Any]]) -> list[Row]:
    checked = checked_rows(
        WorkingInterval, rows, fields=INTERVAL_FIELDS, parent="calendar", label="intervals"
    )
    return sorted(checked, key=lambda row: (row["weekday"], row["start"], row["end"]))


def _holidays(rows: Sequence[Mapping[str, Any]]) -> list[Row]:
    checked = checked_rows(
        CalendarHoliday, rows, fields=HOLIDAY_FIELDS, parent="calendar", label="holidays"
    )
    dates = [row["date"] for row in checked]
    twice = sorted({day for day in dates if dates.count(day) > 1})
    if twice:
        listed = ", ".join(f"{day:%Y-%m-%d}" for day in twice)
        raise ValidationError({"holidays": [f"{listed} listed more than once."]})
    return sorted(checked, key=lambda row: row["date"])


def _stored(calendar: BusinessCalendar) -> tuple[list[Row], list[Row]]:
    intervals = calendar.intervals.order_by("weekday", "start", "end").values(*INTERVAL_FIELDS)
    holidays = calendar.holidays.order_by("date").values(*HOLIDAY_FIELDS)
    return [dict(row) for row in intervals], [dict(row) for row in holidays]


def _write_rows(calendar: BusinessCalendar, intervals: list[Row], holidays: list[Row]) -> None:
    WorkingInterval.objects.bulk_create(WorkingInterval(calendar=calendar, **i) for i in intervals)
    CalendarHoliday.objects.bulk_create(CalendarHoliday(calendar=calendar, **h) for h in holidays)


def _values(
    calendar: BusinessCalendar, intervals: list[Row], holidays: list[Row]
) -> dict[str, Any]:
    """The payload of sla.calendar.created and .deleted."""
    values = {name: getattr(calendar, name) for name in CALENDAR_FIELDS}
    return plain({**values, "intervals": intervals, "holidays": holidays})


@transaction.atomic
def business_calendar_create(
    *,
    actor: User | None,
    name: str,
    time_zone: str = "UTC",
    holiday_country: str = "",
    holiday_subdivision: str = "",
    intervals: Sequence[Mapping[str, Any]] = (),
    holidays: Sequence[Mapping[str, Any]] = (),
) -> BusinessCalendar:
    """A new calendar with its working intervals (weekday, start, end; none: 24x7) and
    listed holidays (date, name)."""
    require_admin(actor)
    calendar = BusinessCalendar(
        name=name,
        time_zone=time_zone,
        holiday_country=holiday_country,
        holiday_subdivision=holiday_subdivision,
    )
    calendar.full_clean()
    interval_rows, holiday_rows = _intervals(intervals), _holidays(holidays)
    with name_taken_as_error(BusinessCalendar):
        calendar.save()
    _write_rows(calendar, interval_rows, holiday_rows)
    events.publish(
        events.CALENDAR_CREATED,
        subject=calendar,
        actor=actor,
        payload=_values(calendar, interval_rows, holiday_rows),
    )
    return calendar


def _replace_rows(
    calendar: BusinessCalendar,
    intervals: Sequence[Mapping[str, Any]] | None,
    holidays: Sequence[Mapping[str, Any]] | None,
) -> Changes:
    """Replace the intervals and the holidays given (None: keep them) where they differ
    from the stored ones; what changed, as (old rows, new rows)."""
    old_intervals, old_holidays = _stored(calendar)
    changes: Changes = {}
    if intervals is not None:
        new = _intervals(intervals)
        if new != old_intervals:
            calendar.intervals.all().delete()
            _write_rows(calendar, new, [])
            changes["intervals"] = (old_intervals, new)
    if holidays is not None:
        new = _holidays(holidays)
        if new != old_holidays:
            calendar.holidays.all().delete()
            _write_rows(calendar, [], new)
            changes["holidays"] = (old_holidays, new)
    return changes


@transaction.atomic
# Same signature shape as sla_policy_update: each entity's update with its own rows.
def business_calendar_update(
    *,
    calendar: BusinessCalendar,
    actor: User | None,
    data: Mapping[str, Any],
    intervals: Sequence[Mapping[str, Any]] | None = None,
    holidays: Sequence[Mapping[str, Any]] | None = None,
) -> BusinessCalendar:
    """Change any of the calendar's fields (``data``, names from CALENDAR_FIELDS) and,
    when given, replace its intervals or holidays (None keeps them). The calendar is
    validated as it would be saved (a new subdivision against the stored country).
    Values equal to the stored ones change nothing; when nothing changes, nothing is
    recorded."""
    require_admin(actor)
    # Concurrent replacements of the holidays would collide on sla_holiday_unique
    # without the lock. NO KEY: clocks computing with the calendar do not wait.
    calendar = BusinessCalendar.objects.select_for_update(no_key=True).get(pk=calendar.pk)
    changes = model_update(instance=calendar, data=data, allowed=CALENDAR_FIELDS, save=False)
    changes.update(_replace_rows(calendar, intervals, holidays))
    if not changes:
        return calendar
    # Saved always on a change, rows included: `updated` marks cached specs stale.
    calendar.updated = timezone.now()
    with name_taken_as_error(BusinessCalendar):
        saved = [name for name in changes if name in CALENDAR_FIELDS]
        calendar.save(update_fields=[*saved, "updated"])
    events.publish(
        events.CALENDAR_UPDATED, subject=calendar, actor=actor, payload=changes_payload(changes)
    )
    return calendar


@transaction.atomic
def business_calendar_delete(*, calendar: BusinessCalendar, actor: User | None) -> None:
    """Delete a calendar with its intervals and holidays; refused (ValidationError)
    while policies use it."""
    require_admin(actor)
    calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    if calendar.policies.exists():
        raise ConflictError(CALENDAR_IN_USE)
    intervals, holidays = _stored(calendar)
    events.publish(
        events.CALENDAR_DELETED,
        subject=calendar,
        actor=actor,
        payload=_values(calendar, intervals, holidays),
    )
    try:
        with transaction.atomic():
            calendar.delete()
    except ProtectedError as error:
        raise ConflictError(CALENDAR_IN_USE) from error
