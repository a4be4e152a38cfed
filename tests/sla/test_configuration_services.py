"""The configuration services themselves: who may call them, what they refuse, and that
a refusal leaves the configuration and the event log as they were."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from eventlog.models import EventLog
from nixflow.models import Priority, User
from sla import events
from sla import services as sla_services
from sla.calendar import calendar_spec
from sla.models import BusinessCalendar, SLAPolicy
from tests.sla.factories import BusinessCalendarFactory, SLAPolicyFactory

pytestmark = pytest.mark.django_db


def test_agents_cannot_change_the_configuration_even_through_the_services(
    agent: User, policy: SLAPolicy
) -> None:
    calendar = BusinessCalendarFactory(name="Office")
    attempts = [
        lambda: sla_services.sla_policy_create(actor=agent, name="Mine"),
        lambda: sla_services.sla_policy_update(policy=policy, actor=agent, data={"order": 1}),
        lambda: sla_services.sla_policy_delete(policy=policy, actor=agent),
        lambda: sla_services.business_calendar_create(actor=agent, name="Mine"),
        lambda: sla_services.business_calendar_update(
            calendar=calendar, actor=agent, data={"name": "X"}
        ),
        lambda: sla_services.business_calendar_delete(calendar=calendar, actor=agent),
    ]

    for attempt in attempts:
        with pytest.raises(PermissionDenied, match="Only admins"):
            attempt()

    assert not EventLog.objects.filter(type__startswith="sla.").exists()
    policy.refresh_from_db()
    assert (policy.order, BusinessCalendar.objects.get().name) == (10, "Office")


def test_a_refused_target_list_leaves_the_policy_and_the_log_as_they_were(
    boss: User, policy: SLAPolicy
) -> None:
    twice = {"priority": "LOW", "metric_type": "resolution", "minutes": 60}

    with pytest.raises(ValidationError) as refused:
        sla_services.sla_policy_update(
            policy=policy, actor=boss, data={"order": 1}, targets=[twice, twice]
        )

    assert refused.value.message_dict == {
        "targets": [
            "More than one target for LOW/resolution: give each priority and metric one target."
        ]
    }
    policy.refresh_from_db()
    assert (policy.order, policy.targets.count()) == (10, 6)
    assert not EventLog.objects.filter(type=events.POLICY_UPDATED).exists()


def test_a_target_row_the_model_refuses_is_named_by_its_position(boss: User) -> None:
    with pytest.raises(ValidationError) as refused:
        sla_services.sla_policy_create(
            actor=boss,
            name="Zero",
            targets=[{"priority": "HIGH", "metric_type": "resolution", "minutes": 0}],
        )

    [message] = refused.value.message_dict["targets"]
    assert message.startswith("Row 1: minutes: ")
    assert not SLAPolicy.objects.filter(name="Zero").exists()


def test_conditions_are_stored_once_each_in_the_order_given(boss: User) -> None:
    policy = sla_services.sla_policy_create(
        actor=boss, name="Twice", priorities=["HIGH", "LOW", "HIGH"], sources=["EMAIL", "EMAIL"]
    )

    policy.refresh_from_db()
    assert (policy.priorities, policy.sources) == (["HIGH", "LOW"], ["EMAIL"])


def test_a_calendar_with_a_holiday_listed_twice_is_refused(boss: User) -> None:
    day = {"date": date(2026, 5, 1), "name": "Labour Day"}

    with pytest.raises(ValidationError) as refused:
        sla_services.business_calendar_create(actor=boss, name="Twice", holidays=[day, day])

    assert refused.value.message_dict == {"holidays": ["2026-05-01 listed more than once."]}
    assert not BusinessCalendar.objects.exists()


def test_changing_only_a_calendars_rows_marks_cached_specs_stale(boss: User) -> None:
    calendar = BusinessCalendarFactory(name="Office")
    assert calendar_spec(calendar).is_24x7

    changed = sla_services.business_calendar_update(
        calendar=calendar,
        actor=boss,
        data={},
        intervals=[{"weekday": 0, "start": time(9), "end": time(17)}],
    )

    assert changed.updated > calendar.updated
    assert calendar_spec(changed).intervals == ((0, time(9), time(17)),)


def test_the_system_may_change_the_configuration_and_is_recorded_as_no_one() -> None:
    target = {"priority": "LOW", "metric_type": "resolution", "minutes": 5}
    policy = sla_services.sla_policy_create(actor=None, name="Seeded", targets=[target])

    event = EventLog.objects.get(type=events.POLICY_CREATED)
    assert (event.actor, event.actor_label, event.subject_id) == (None, "system", str(policy.pk))


def test_a_calendar_in_use_and_a_policy_with_clocks_are_refused_deletion(
    boss: User, breach: object
) -> None:
    calendar = BusinessCalendarFactory(name="Office")
    SLAPolicyFactory(name="Office hours", calendar=calendar, targets={Priority.LOW: (1, 1, 1)})
    standard = SLAPolicy.objects.get(name="Standard")

    with pytest.raises(ValidationError, match="give them another one first"):
        sla_services.business_calendar_delete(calendar=calendar, actor=boss)
    with pytest.raises(ValidationError, match="deactivate it instead"):
        sla_services.sla_policy_delete(policy=standard, actor=boss)

    assert BusinessCalendar.objects.filter(pk=calendar.pk).exists()
    assert SLAPolicy.objects.filter(pk=standard.pk).exists()
    assert not EventLog.objects.filter(type__endswith=".deleted").exists()
