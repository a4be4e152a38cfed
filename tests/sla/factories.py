"""factory-boy factories for the SLA models the tests build.

They write rows directly, without the services (so no events): for setting the scene.
Tests of how policies and calendars are written go through the services, the API or
the admin instead. ``SLADailyTally`` has no factory: its rows are written by the
database's triggers, which the tally tests exercise.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import factory
from django.utils import timezone

from nixflow.models import Priority
from sla.models import (
    BusinessCalendar,
    CalendarHoliday,
    MetricType,
    SLABreach,
    SLAMetric,
    SLAPolicy,
    SLAStatus,
    SLATarget,
    WorkingInterval,
)
from tests.factories import TicketFactory

# First response, next response, resolution: the order of a targets tuple.
METRIC_TYPES = (MetricType.FIRST_RESPONSE, MetricType.NEXT_RESPONSE, MetricType.RESOLUTION)


# --- Calendars --------------------------------------------------------------------------
class BusinessCalendarFactory(factory.django.DjangoModelFactory[BusinessCalendar]):
    """A 24x7 calendar in UTC unless given ``intervals`` ((weekday, start, end), ...) and
    ``holidays`` ((date, name), ...)."""

    class Meta:
        model = BusinessCalendar
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Calendar {n}")
    time_zone = "UTC"

    @factory.post_generation
    def intervals(
        calendar: BusinessCalendar,  # noqa: N805 -- factory-boy passes the built object
        create: bool,
        rows: Iterable[tuple[int, time, time]] | None,
        **kwargs: Any,
    ) -> None:
        for weekday, start, end in rows or ():
            WorkingIntervalFactory(calendar=calendar, weekday=weekday, start=start, end=end)

    @factory.post_generation
    def holidays(
        calendar: BusinessCalendar,  # noqa: N805 -- factory-boy passes the built object
        create: bool,
        rows: Iterable[tuple[date, str]] | None,
        **kwargs: Any,
    ) -> None:
        for day, name in rows or ():
            CalendarHolidayFactory(calendar=calendar, date=day, name=name)


def office_hours(weekdays: Iterable[int], start: time, end: time) -> list[tuple[int, time, time]]:
    """The same working interval on each of ``weekdays`` (Monday 0)."""
    return [(weekday, start, end) for weekday in weekdays]


class WorkingIntervalFactory(factory.django.DjangoModelFactory[WorkingInterval]):
    class Meta:
        model = WorkingInterval

    calendar = factory.SubFactory(BusinessCalendarFactory)
    weekday = 0
    start = time(9)
    end = time(17)


class CalendarHolidayFactory(factory.django.DjangoModelFactory[CalendarHoliday]):
    class Meta:
        model = CalendarHoliday

    calendar = factory.SubFactory(BusinessCalendarFactory)
    date = factory.Sequence(lambda n: date(2026, 1, 1) + timedelta(days=n))
    name = ""


# --- Policies ---------------------------------------------------------------------------
class SLAPolicyFactory(factory.django.DjangoModelFactory[SLAPolicy]):
    """A 24x7 policy matching every ticket. ``targets`` gives its targets as
    ``{priority: (first response, next response, resolution)}`` in business minutes."""

    class Meta:
        model = SLAPolicy
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Policy {n}")
    order = 100

    @factory.post_generation
    def targets(
        policy: SLAPolicy,  # noqa: N805 -- factory-boy passes the built object
        create: bool,
        minutes: dict[str, tuple[int, int, int]] | None,
        **kwargs: Any,
    ) -> None:
        if minutes:
            SLATarget.objects.bulk_create(
                SLATarget(policy=policy, priority=priority, metric_type=metric_type, minutes=m)
                for priority, values in minutes.items()
                for metric_type, m in zip(METRIC_TYPES, values, strict=True)
            )


class SLATargetFactory(factory.django.DjangoModelFactory[SLATarget]):
    class Meta:
        model = SLATarget

    policy = factory.SubFactory(SLAPolicyFactory)
    priority = Priority.NORMAL
    metric_type = MetricType.RESOLUTION
    minutes = 60


# --- Clocks and breaches ----------------------------------------------------------------
def _warning_at(metric: Any) -> datetime:
    return metric.started_at + timedelta(seconds=metric.target_seconds * 3 // 4)


class SLAMetricFactory(factory.django.DjangoModelFactory[SLAMetric]):
    """A running resolution clock started now: deadline after ``target_seconds``, at risk
    after 75 %. ``completed=True``: MET when it started (``status`` may say BREACHED),
    with no deadline, as a completed clock has."""

    class Meta:
        model = SLAMetric

    class Params:
        completed = factory.Trait(
            status=SLAStatus.MET,
            running_since=None,
            deadline=None,
            warning_at=None,
            completed_at=factory.SelfAttribute("started_at"),
        )

    ticket = factory.SubFactory(TicketFactory)
    policy = factory.SubFactory(SLAPolicyFactory)
    metric_type = MetricType.RESOLUTION
    status = SLAStatus.RUNNING
    target_seconds = 3600
    started_at = factory.LazyFunction(timezone.now)
    running_since = factory.SelfAttribute("started_at")
    deadline = factory.LazyAttribute(lambda m: m.started_at + timedelta(seconds=m.target_seconds))
    warning_at = factory.LazyAttribute(_warning_at)


class SLABreachFactory(factory.django.DjangoModelFactory[SLABreach]):
    """The breach of a clock that breached at its deadline (a BREACHED clock is made
    unless ``metric`` is given)."""

    class Meta:
        model = SLABreach

    metric = factory.SubFactory(SLAMetricFactory, status=SLAStatus.BREACHED)
    ticket = factory.SelfAttribute("metric.ticket")
    policy = factory.SelfAttribute("metric.policy")
    breach_type = factory.SelfAttribute("metric.metric_type")
    breached_at = factory.LazyAttribute(lambda b: b.metric.deadline or timezone.now())
