"""The SLA clocks: how ticket events start, pause, resume, re-target and complete them.

Connected to ``nixflow.events.ticket_event`` (see ``SlaConfig.ready``), so every clock
change happens inside the transaction of the ticket change that caused it.

The rules:
- When a ticket is created, the first active policy whose conditions match (by order)
  starts a first-response and a resolution clock, each with the policy's target for the
  ticket's priority. A ticket created in a WAITING stage starts with its clocks paused.
- A change of priority, workflow or source re-evaluates the policy: open clocks take
  the new policy's targets and keep the business time already used; clocks the new
  policy has no target for are cancelled.
- Entering a WAITING stage pauses every running clock; leaving it resumes them, with
  the deadline recomputed from the business time left.
- The first public agent comment completes first response; a public reply by the
  requester starts a next-response clock, completed by the next public agent comment.
- Entering RESOLVED or CLOSED completes resolution (and any response clock still open:
  a resolution answers the requester); reopening resumes the resolution clock.
- Completing after the deadline is BREACHED, before it MET. A breach is recorded once
  per clock, whether the monitor or the completion notices it first.

After every event that changed its clocks, the ticket's ``sla_due_at`` (the earliest
deadline among its ticking clocks, which the desk's list sorts by) is brought up to date
in the same transaction: ``keep_due``. The monitor changes no deadline (it marks clocks
at risk and breached), so it never has to touch the ticket.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, cast

from django.db.models import Min, Q

from nixflow import events
from nixflow.models import DONE_CATEGORIES, StageCategory, Ticket
from sla.calendar import add_business_seconds, business_seconds, calendar_spec
from sla.events import publish_breaches
from sla.models import (
    OPEN_STATUSES,
    TICKING,
    MetricType,
    SLABreach,
    SLAMetric,
    SLAPolicy,
    SLAStatus,
)

RESPONSE_TYPES = (MetricType.FIRST_RESPONSE, MetricType.NEXT_RESPONSE)

# The clocks whose deadline makes a ticket urgent: ticking ones, and breached ones still
# counting (not completed, not paused), whose deadline has passed: those tickets are the
# most overdue, and must not drop out of "most urgent first" when the monitor marks them.
DUE = Q(status__in=TICKING) | Q(
    status=SLAStatus.BREACHED, completed_at__isnull=True, running_since__isnull=False
)


# --- policies ---------------------------------------------------------------------------
def policy_for(ticket: Ticket) -> SLAPolicy | None:
    """The first active policy (by order) whose conditions match the ticket."""
    policies = (
        SLAPolicy.objects.filter(is_active=True)
        .select_related("calendar")
        .prefetch_related("targets")
        .order_by("order", "name")
    )
    return next((policy for policy in policies if policy.matches(ticket)), None)


def target_seconds(policy: SLAPolicy, priority: str, metric_type: str) -> int | None:
    for target in policy.targets.all():  # prefetched: no query per call
        if target.priority == priority and target.metric_type == metric_type:
            return target.minutes * 60
    return None


# --- one clock --------------------------------------------------------------------------
def _schedule(metric: SLAMetric) -> None:
    """Deadline and warning time of a ticking clock, from the business time it has left."""
    spec = calendar_spec(metric.policy.calendar)
    warning_total = math.ceil(metric.target_seconds * metric.policy.warning_threshold / 100)
    remaining = max(metric.target_seconds - metric.elapsed_seconds, 0)
    to_warning = max(warning_total - metric.elapsed_seconds, 0)
    # Callers set running_since first: a ticking clock has one (sla_metric_ticking_has_deadline).
    running_since = cast(datetime, metric.running_since)
    metric.deadline = add_business_seconds(spec, running_since, remaining)
    metric.warning_at = add_business_seconds(spec, running_since, to_warning)


def _used_since(metric: SLAMetric, since: datetime, until: datetime) -> int:
    return business_seconds(calendar_spec(metric.policy.calendar), since, until)


def start(
    *, ticket: Ticket, policy: SLAPolicy, metric_type: str, at: datetime, paused: bool
) -> SLAMetric | None:
    target = target_seconds(policy, ticket.priority, metric_type)
    if target is None:
        return None
    # Keyword arguments one a line: alike in shape to other constructor calls, different fields.
    metric = SLAMetric(
        ticket=ticket,
        policy=policy,
        metric_type=metric_type,
        target_seconds=target,
        started_at=at,
    )
    if paused:
        metric.status, metric.paused_at = SLAStatus.PAUSED, at
    else:
        metric.status, metric.running_since = SLAStatus.RUNNING, at
        _schedule(metric)
    metric.save()
    return metric


def pause(metric: SLAMetric, at: datetime) -> None:
    if metric.status not in TICKING:
        return
    # A ticking clock has running_since (the sla_metric_ticking_has_deadline constraint).
    metric.elapsed_seconds += _used_since(metric, cast(datetime, metric.running_since), at)
    metric.status, metric.paused_at = SLAStatus.PAUSED, at
    metric.running_since = metric.deadline = metric.warning_at = None
    metric.save()


def resume(metric: SLAMetric, at: datetime) -> None:
    if metric.status != SLAStatus.PAUSED:
        return
    # A paused clock has paused_at (the sla_metric_paused_has_paused_at constraint).
    metric.paused_seconds += _used_since(metric, cast(datetime, metric.paused_at), at)
    metric.status, metric.running_since, metric.paused_at = SLAStatus.RUNNING, at, None
    _schedule(metric)
    metric.save()


def complete(metric: SLAMetric, at: datetime) -> None:
    """Stop the clock: MET if the business time used stayed within the target."""
    if metric.completed_at is not None or metric.status == SLAStatus.CANCELLED:
        return
    if metric.running_since is not None:
        metric.elapsed_seconds += _used_since(metric, metric.running_since, at)
    if metric.status == SLAStatus.PAUSED:
        metric.paused_seconds += _used_since(metric, cast(datetime, metric.paused_at), at)
    late = metric.elapsed_seconds > metric.target_seconds
    if metric.status != SLAStatus.BREACHED:
        metric.status = SLAStatus.BREACHED if late else SLAStatus.MET
    metric.completed_at, metric.running_since, metric.paused_at = at, None, None
    metric.save()
    if metric.status == SLAStatus.BREACHED:
        record_breach(metric, breached_at=metric.deadline or at)


def cancel(metric: SLAMetric, at: datetime) -> None:
    if metric.completed_at is None and metric.status != SLAStatus.CANCELLED:
        if metric.running_since is not None:
            metric.elapsed_seconds += _used_since(metric, metric.running_since, at)
        metric.status = SLAStatus.CANCELLED
        metric.running_since = metric.paused_at = None
        metric.save()


def reopen(metric: SLAMetric, at: datetime, *, paused: bool) -> None:
    """Resume a completed clock (a reopened ticket), keeping the business time it used."""
    if metric.completed_at is None:
        return
    metric.completed_at = None
    if metric.status == SLAStatus.BREACHED:
        # Already breached and recorded once; it counts on, with no deadline to watch.
        metric.running_since = None if paused else at
        metric.save()
        return
    if paused:
        metric.status, metric.paused_at, metric.running_since = SLAStatus.PAUSED, at, None
        metric.deadline = metric.warning_at = None
    else:
        metric.status, metric.running_since = SLAStatus.RUNNING, at
        _schedule(metric)
    metric.save()


def retarget(metric: SLAMetric, policy: SLAPolicy, target: int, at: datetime) -> None:
    """Move an open clock to ``policy``'s ``target``, keeping the business time used."""
    if metric.running_since is not None:
        metric.elapsed_seconds += _used_since(metric, metric.running_since, at)
        metric.running_since = at
    metric.policy, metric.target_seconds = policy, target
    if metric.status in TICKING:
        metric.status = SLAStatus.RUNNING  # the monitor re-marks it at risk if it still is
        _schedule(metric)
    metric.save()


def record_breach(metric: SLAMetric, *, breached_at: datetime) -> None:
    """The breach row, once per clock (the monitor may have recorded it already)."""
    breach, created = SLABreach.objects.get_or_create(
        metric=metric,
        defaults={
            "ticket_id": metric.ticket_id,
            "policy_id": metric.policy_id,
            "breach_type": metric.metric_type,
            "breached_at": breached_at,
        },
    )
    if created:
        publish_breaches([breach])


def keep_due(ticket: Ticket, *, clocks: list[SLAMetric] | None = None) -> None:
    """Set ``ticket.sla_due_at`` to the earliest deadline among its due clocks (None when
    none runs), in the database and on ``ticket``. Callers hold the ticket's row lock
    (the ticket services take it) or own the ticket (created in this transaction), so
    no other transaction changes its clocks meanwhile.

    ``clocks``: every clock the ticket has, when the caller knows them (it has just
    started them on a new ticket); the deadline is then taken from them, not read back.
    The UPDATE writes only when the value changes: a new row version costs an entry in
    every index of the ticket table, and most comments change no deadline."""
    if clocks is None:
        due = SLAMetric.objects.filter(DUE, ticket_id=ticket.pk).aggregate(due=Min("deadline"))
        deadline = due["due"]
        Ticket.objects.filter(pk=ticket.pk).exclude(sla_due_at=deadline).update(sla_due_at=deadline)
    else:
        ticking = [c.deadline for c in clocks if c.status in TICKING and c.deadline is not None]
        deadline = min(ticking, default=None)
        if deadline != ticket.sla_due_at:
            Ticket.objects.filter(pk=ticket.pk).update(sla_due_at=deadline)
    ticket.sla_due_at = deadline


# --- reacting to ticket events ----------------------------------------------------------
def _open_metrics(ticket: Ticket, *types: str) -> list[SLAMetric]:
    """The ticket's clocks that can still change, locked against the monitor."""
    query = Q(status__in=OPEN_STATUSES) | Q(status=SLAStatus.BREACHED, completed_at__isnull=True)
    metrics = SLAMetric.objects.filter(query, ticket=ticket).select_related("policy__calendar")
    if types:
        metrics = metrics.filter(metric_type__in=types)
    return list(metrics.select_for_update(of=("self",)).order_by("id"))


# Each handler returns whether it may have changed a deadline, i.e. whether
# ``sla_due_at`` must be kept (on_ticket_event): most events change no clock, and then
# keeping it would cost two queries for nothing (mail intake runs one per message).
def _created(event: events.TicketEvent) -> bool:
    ticket = event.ticket
    policy = policy_for(ticket)
    if policy is None:
        return False
    # A new ticket has no other clocks: its due time is known without reading it back.
    keep_due(ticket, clocks=_start_missing(ticket, policy, event.occurred_at))
    return False


def _start_missing(ticket: Ticket, policy: SLAPolicy, at: datetime) -> list[SLAMetric]:
    """Start the clocks a ticket without any should have; the clocks started."""
    paused = ticket.stage.category == StageCategory.WAITING
    if ticket.stage.category in DONE_CATEGORIES:
        return []
    types = [MetricType.RESOLUTION]
    if ticket.first_response_at is None:
        types.insert(0, MetricType.FIRST_RESPONSE)
    started = (
        start(ticket=ticket, policy=policy, metric_type=metric_type, at=at, paused=paused)
        for metric_type in types
    )
    return [metric for metric in started if metric is not None]


def _updated(event: events.TicketEvent) -> bool:
    if not {"priority", "workflow", "source"} & set(event.changes):
        return False
    ticket, at = event.ticket, event.occurred_at
    policy = policy_for(ticket)
    metrics = _open_metrics(ticket)
    if policy is not None and not SLAMetric.objects.filter(ticket=ticket).exists():
        _start_missing(ticket, policy, at)  # a policy applies for the first time
        return True
    for metric in metrics:
        target = target_seconds(policy, ticket.priority, metric.metric_type) if policy else None
        if target is None or policy is None:
            cancel(metric, at)
        else:
            retarget(metric, policy, target, at)
    return bool(metrics)


def _transitioned(event: events.TicketEvent) -> bool:
    ticket, at = event.ticket, event.occurred_at
    before, after = event.payload["from_category"], event.payload["to_category"]
    waiting = after == StageCategory.WAITING
    if after in DONE_CATEGORIES:
        if before not in DONE_CATEGORIES:
            for metric in _open_metrics(ticket):
                complete(metric, at)
        return True
    if before in DONE_CATEGORIES:  # reopened
        resolution = (
            SLAMetric.objects.filter(ticket=ticket, metric_type=MetricType.RESOLUTION)
            .exclude(status=SLAStatus.CANCELLED)
            .select_for_update()
            .order_by("-started_at", "-id")
            .first()
        )
        if resolution is not None:
            reopen(resolution, at, paused=waiting)
        return True
    for metric in _open_metrics(ticket):
        if waiting:
            pause(metric, at)
        elif before == StageCategory.WAITING:
            resume(metric, at)
    return True


def _commented(event: events.TicketEvent) -> bool:
    if event.payload["is_internal"] or event.actor is None:
        return False
    ticket, at = event.ticket, event.occurred_at
    if event.payload["by_agent"] and event.actor.pk != ticket.requester_id:
        responses = _open_metrics(ticket, *RESPONSE_TYPES)
        for metric in responses:
            complete(metric, at)
        return bool(responses)
    if ticket.stage.category in DONE_CATEGORIES:
        return False
    if _open_metrics(ticket, MetricType.NEXT_RESPONSE):
        return False  # the requester wrote again before anyone answered: same clock
    resolution = (
        SLAMetric.objects.filter(ticket=ticket, metric_type=MetricType.RESOLUTION)
        .select_related("policy")
        .order_by("-started_at")
        .first()
    )
    policy = resolution.policy if resolution is not None else policy_for(ticket)
    if policy is None:
        return False
    started = start(
        ticket=ticket,
        policy=policy,
        metric_type=MetricType.NEXT_RESPONSE,
        at=at,
        paused=ticket.stage.category == StageCategory.WAITING,
    )
    return started is not None


def _merged(event: events.TicketEvent) -> bool:
    """A ticket merged into another: its conversation goes on there, under the target's
    clocks, so its own stop as cancelled (not met: nobody answered *this* ticket; not
    breached: it did not run late). A clock that had already breached stays breached,
    stopped: it was late, and the breach is on record (the monitor wrote it)."""
    metrics = _open_metrics(event.ticket)
    for metric in metrics:
        if metric.status == SLAStatus.BREACHED:
            complete(metric, event.occurred_at)
        else:
            cancel(metric, event.occurred_at)
    return bool(metrics)


HANDLERS = {
    events.TICKET_CREATED: _created,
    events.TICKET_UPDATED: _updated,
    events.TICKET_TRANSITIONED: _transitioned,
    events.TICKET_COMMENTED: _commented,
    events.TICKET_MERGED: _merged,
}


def on_ticket_event(sender: Any, event: events.TicketEvent, **kwargs: Any) -> None:
    handler = HANDLERS.get(event.type)
    if handler is not None and handler(event):
        keep_due(event.ticket)
