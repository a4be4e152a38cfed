"""Demo SLA data for `seed_demo`: a business calendar, policies, and clocks on the demo
tickets in every state (running, at risk, met, breached), so the dashboard means
something on the first run.

The demo tickets are created first and then moved into the past (nixflow/demo.py), so
their clocks can't come from the live ticket events. They are rebuilt here by replaying
each ticket's history through the same clock functions the events drive
(``sla.clocks``), at the historical times; then one monitor pass marks what is at risk
or breached now, as beat would have.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from nixflow.models import DONE_CATEGORIES, Priority, StageCategory, Ticket, User
from sla import clocks, services
from sla.models import (
    BusinessCalendar,
    MetricType,
    SLABreach,
    SLAMetric,
    SLAPolicy,
)

CALENDAR = "Berlin office"
# priority: (first response, next response, resolution) in business minutes
STANDARD = {
    Priority.LOW: (8 * 60, 8 * 60, 50 * 60),
    Priority.NORMAL: (4 * 60, 4 * 60, 30 * 60),
    Priority.HIGH: (2 * 60, 2 * 60, 16 * 60),
}
URGENT = {Priority.URGENT: (30, 30, 8 * 60)}
TYPES = (MetricType.FIRST_RESPONSE, MetricType.NEXT_RESPONSE, MetricType.RESOLUTION)


def _targets(minutes: dict[Priority, tuple[int, int, int]]) -> list[dict[str, object]]:
    return [
        {"priority": priority, "metric_type": kind, "minutes": m}
        for priority, values in minutes.items()
        for kind, m in zip(TYPES, values, strict=True)
    ]


def ensure_policies() -> list[SLAPolicy]:
    """The calendar and the two policies, created once, through the services (so the
    event log shows them created, by the system)."""
    calendar = BusinessCalendar.objects.filter(name=CALENDAR).first()
    if calendar is None:
        calendar = services.business_calendar_create(
            actor=None,
            name=CALENDAR,
            time_zone="Europe/Berlin",
            holiday_country="DE",
            holiday_subdivision="BE",
            intervals=[{"weekday": day, "start": time(8), "end": time(18)} for day in range(5)],
            holidays=[
                {
                    "date": timezone.now().date().replace(month=12, day=31),
                    "name": "Company day off",
                }
            ],
        )
    urgent = SLAPolicy.objects.filter(name="Urgent (24x7)").first()
    if urgent is None:
        urgent = services.sla_policy_create(
            actor=None,
            name="Urgent (24x7)",
            order=10,
            priorities=[Priority.URGENT],
            escalation_email="oncall@nixflow.example",
            targets=_targets(URGENT),
        )
    # Demo data written as calls, alike the policy above: other values.
    standard = SLAPolicy.objects.filter(name="Standard (office hours)").first()
    if standard is None:
        standard = services.sla_policy_create(
            actor=None,
            name="Standard (office hours)",
            order=20,
            calendar=calendar,
            targets=_targets(STANDARD),
        )
    return [urgent, standard]


def _apply(
    metrics: list[SLAMetric], resolution: SLAMetric | None, before: str, after: str, at: datetime
) -> None:
    """The clock rules of a stage change from ``before`` to ``after`` (sla.clocks)."""
    if after in DONE_CATEGORIES and before not in DONE_CATEGORIES:
        for metric in metrics:
            clocks.complete(metric, at)
    elif after not in DONE_CATEGORIES and before in DONE_CATEGORIES:
        if resolution is not None:
            clocks.reopen(resolution, at, paused=after == StageCategory.WAITING)
    elif after == StageCategory.WAITING:
        for metric in metrics:
            clocks.pause(metric, at)
    elif before == StageCategory.WAITING:
        for metric in metrics:
            clocks.resume(metric, at)


def _replay(ticket: Ticket) -> None:
    """Rebuild the ticket's clocks from its history, at the times things happened."""
    policy = clocks.policy_for(ticket)
    if policy is None:
        return
    categories = {s.name: s.category for s in ticket.workflow.stages.all()}
    started = [
        clocks.start(
            ticket=ticket, policy=policy, metric_type=kind, at=ticket.created, paused=False
        )
        for kind in (MetricType.FIRST_RESPONSE, MetricType.RESOLUTION)
    ]
    first, resolution = started
    metrics = [m for m in started if m is not None]
    category: str = StageCategory.NEW
    history = ticket.history.filter(field__in=["stage", "first_response_at"]).order_by(
        "created", "id"
    )
    for row in history:
        if row.field == "first_response_at" and first is not None:
            clocks.complete(first, row.created)
        elif row.field == "stage" and row.new_value in categories:
            after = categories[row.new_value]
            _apply(metrics, resolution, category, after, row.created)
            category = after
        for metric in metrics:
            metric.refresh_from_db()
    clocks.keep_due(ticket)  # as the ticket events do after changing clocks


AT_RISK_TITLES = [
    "Payroll export fails for the whole finance team",
    "Warehouse scanners cannot reach the server",
    "CEO cannot join the board call: headset not detected",
]


def _urgent_and_due_soon(requesters: list[User], now: datetime) -> None:
    """Three urgent tickets opened 24 minutes ago, with no answer yet: 80 % of the urgent
    policy's 30-minute first response, so the monitor finds them at risk at any hour.

    Created through the services before any policy exists (no live clocks), then moved
    24 minutes back; being the newest tickets, they keep ticket numbers in time order.
    """
    from nixflow import services as core_services

    opened = now - timedelta(minutes=24)
    for title, requester in zip(AT_RISK_TITLES, requesters, strict=False):
        ticket = core_services.ticket_create(
            requester=requester, title=title, priority=Priority.URGENT, actor=requester
        )
        Ticket.objects.filter(pk=ticket.pk).update(created=opened, updated=opened)
        ticket.history.update(created=opened)


@transaction.atomic
def seed_sla(*, acknowledger: User, requesters: list[User]) -> dict[str, int]:
    """Policies, then clocks for every ticket without any; counts of clocks by status."""
    now = timezone.now()
    if requesters:
        _urgent_and_due_soon(requesters, now)
    ensure_policies()
    without = Ticket.objects.exclude(sla_metrics__isnull=False).select_related("workflow", "stage")
    for ticket in without.order_by("created", "id"):
        _replay(ticket)
    services.sla_scan(now=now)
    # A few acknowledged breaches, as a team would have done: the oldest, at most half of
    # them, so the dashboard also has breaches waiting (how many breach depends on the
    # weekday the demo is seeded: the office-hours calendar stops at weekends).
    waiting = list(SLABreach.objects.filter(acknowledged_at__isnull=True).order_by("breached_at"))
    for breach in waiting[: min(5, len(waiting) // 2)]:
        services.breach_acknowledge(
            breach=breach, actor=acknowledger, note="Known printer outage; customer informed."
        )
    counts: dict[str, int] = {}
    for status in SLAMetric.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts
