"""``load_data --extras sla``: the loaded tickets' SLA clocks, breaches and due times.

Every loaded ticket gets the clocks the rules of ``sla.clocks`` would have left on it by
now, under one policy made for loads, ``Load data (24x7)`` (created once, ordered after
every other policy, no calendar: a deadline is the start plus the target, which keeps a
million clocks cheap to compute; the targets are ``TARGETS``):

- a first-response clock started at ``created``: completed at ``first_response_at`` (MET
  or BREACHED by the time it took) for tickets past NEW, open for NEW tickets;
- a resolution clock started at ``created``: completed at ``resolved_at`` for RESOLVED
  and CLOSED tickets, open otherwise;
- an open clock is, as the monitor would have left it at ``now``: BREACHED (not
  completed, with its breach) once past its deadline, AT_RISK past its warning time,
  else RUNNING; in a WAITING ticket it is PAUSED since ``updated`` unless it had been
  breached before;
- one ``SLABreach`` per breached clock at its deadline; those of done tickets mostly
  acknowledged (by the assignee, within a day);
- ``Ticket.sla_due_at``: the earliest deadline of the ticket's open clocks that count
  (``DUE_STATUSES``); empty for done and paused tickets.

No next-response clocks (they need the comment thread's replay). Completed clocks feed
the dashboard's daily tally through the table's triggers; ``finish`` folds it as the
monitor task would have. About 2 clocks per ticket and a breach for a few in ten.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from nixflow.models import DONE_CATEGORIES, Priority, StageCategory
from nixflow.toolkit.loading import LoadBatch, LoadedTicket, LoadRun, copy_rows, reserve_ids
from sla.models import MetricType, SLAPolicy, SLAStatus, SLATarget

POLICY = "Load data (24x7)"
WARNING_THRESHOLD = 75
HOUR, DAY = 60, 24 * 60  # in minutes
# priority: (first response, resolution) in minutes, around the clock
TARGETS = {
    Priority.URGENT: (1 * HOUR, 1 * DAY),
    Priority.HIGH: (4 * HOUR, 3 * DAY),
    Priority.NORMAL: (8 * HOUR, 7 * DAY),
    Priority.LOW: (24 * HOUR, 14 * DAY),
}
# The open clocks whose deadline is the ticket's ``sla_due_at`` (the clocks the SLA app
# calls due): ticking, or breached and still counting (overdue: the most urgent of all).
DUE_STATUSES = (SLAStatus.RUNNING, SLAStatus.AT_RISK, SLAStatus.BREACHED)
ACKNOWLEDGED_SHARE = 0.7

METRIC_COLUMNS = (
    "id",
    "ticket_id",
    "policy_id",
    "metric_type",
    "status",
    "target_seconds",
    "started_at",
    "running_since",
    "deadline",
    "warning_at",
    "paused_at",
    "paused_seconds",
    "elapsed_seconds",
    "completed_at",
    "created",
)
BREACH_COLUMNS = (
    "metric_id",
    "ticket_id",
    "policy_id",
    "breach_type",
    "breached_at",
    "acknowledged_by_id",
    "acknowledged_at",
    "acknowledgement_note",
)


@dataclass
class Clock:
    ticket: LoadedTicket
    metric_type: str
    status: str
    target_seconds: int
    deadline: datetime
    warning_at: datetime
    running_since: datetime | None = None
    paused_at: datetime | None = None
    elapsed_seconds: int = 0
    completed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.completed_at is None


def clocks_for(ticket: LoadedTicket, now: datetime) -> list[Clock]:
    """The ticket's clocks as ``sla.clocks`` and the monitor would have left them."""
    first_minutes, resolution_minutes = TARGETS[Priority(ticket.priority)]
    first = _clock(ticket, MetricType.FIRST_RESPONSE, first_minutes * 60)
    resolution = _clock(ticket, MetricType.RESOLUTION, resolution_minutes * 60)
    if ticket.first_response_at is not None:
        _complete(first, ticket.first_response_at)
    else:
        _leave_open(first, ticket, now)
    if ticket.category in DONE_CATEGORIES:
        # Resolved and closed tickets have a resolution time (load_data's tickets do).
        _complete(resolution, ticket.resolved_at or ticket.updated)
    else:
        _leave_open(resolution, ticket, now)
    return [first, resolution]


def _clock(ticket: LoadedTicket, metric_type: str, target: int) -> Clock:
    return Clock(
        ticket=ticket,
        metric_type=metric_type,
        status=SLAStatus.RUNNING,
        target_seconds=target,
        deadline=ticket.created + timedelta(seconds=target),
        warning_at=ticket.created + timedelta(seconds=math.ceil(target * WARNING_THRESHOLD / 100)),
    )


def _complete(clock: Clock, at: datetime) -> None:
    clock.elapsed_seconds = int((at - clock.ticket.created).total_seconds())
    late = clock.elapsed_seconds > clock.target_seconds
    clock.status = SLAStatus.BREACHED if late else SLAStatus.MET
    clock.completed_at = at


def _leave_open(clock: Clock, ticket: LoadedTicket, now: datetime) -> None:
    waiting = ticket.category == StageCategory.WAITING
    if waiting and ticket.updated < clock.deadline:
        # Paused on entering the waiting stage, before the deadline.
        clock.status, clock.paused_at = SLAStatus.PAUSED, ticket.updated
        clock.elapsed_seconds = int((ticket.updated - ticket.created).total_seconds())
        return
    clock.running_since = ticket.created
    if clock.deadline <= now:
        clock.status = SLAStatus.BREACHED  # marked by the monitor, still open
    elif clock.warning_at <= now:
        clock.status = SLAStatus.AT_RISK
    else:
        clock.status = SLAStatus.RUNNING


def sla_due_at(clocks: Sequence[Clock]) -> datetime | None:
    due = [
        c.deadline
        for c in clocks
        if c.is_open and c.status in DUE_STATUSES and c.running_since is not None
    ]
    return min(due, default=None)


class SlaLoader:
    tables = ("sla_slametric", "sla_slabreach", "sla_sladailytally", "nixflow_ticket")

    def __init__(self, run: LoadRun) -> None:
        self.run = run
        self.policy_id = load_policy().pk

    def load(self, batch: LoadBatch) -> Mapping[str, int]:
        clocks = [c for t in batch.tickets for c in clocks_for(t, self.run.now)]
        ids = reserve_ids("sla_slametric", len(clocks))
        copy_rows("sla_slametric", METRIC_COLUMNS, self.metric_rows(clocks, ids))
        breaches = copy_rows("sla_slabreach", BREACH_COLUMNS, self.breach_rows(clocks, ids))
        due = self.set_due(clocks)
        return {"SLA clocks": len(clocks), "SLA breaches": breaches, "tickets with an SLA due": due}

    def metric_rows(self, clocks: list[Clock], ids: list[int]) -> Iterator[tuple[Any, ...]]:
        for clock, metric_id in zip(clocks, ids, strict=True):
            paused = clock.status == SLAStatus.PAUSED  # a paused clock has no deadline
            yield (
                metric_id,
                clock.ticket.id,
                self.policy_id,
                clock.metric_type,
                clock.status,
                clock.target_seconds,
                clock.ticket.created,
                clock.running_since,
                None if paused else clock.deadline,
                None if paused else clock.warning_at,
                clock.paused_at,
                0,
                clock.elapsed_seconds,
                clock.completed_at,
                clock.ticket.created,
            )

    def breach_rows(self, clocks: list[Clock], ids: list[int]) -> Iterator[tuple[Any, ...]]:
        rng, now = self.run.rng, self.run.now
        for clock, metric_id in zip(clocks, ids, strict=True):
            if clock.status != SLAStatus.BREACHED:
                continue
            ticket, by, at = clock.ticket, None, None
            if ticket.category in DONE_CATEGORIES and rng.random() < ACKNOWLEDGED_SHARE:
                by = ticket.assignee_id or rng.choice(self.run.agents)
                at = min(clock.deadline + timedelta(hours=rng.random() * 24), now)
            note = "Acknowledged in the weekly SLA review." if by else ""
            yield (metric_id, ticket.id, self.policy_id, clock.metric_type, clock.deadline,
                   by, at, note)  # fmt: skip

    def set_due(self, clocks: list[Clock]) -> int:
        by_ticket: dict[int, list[Clock]] = {}
        for clock in clocks:
            by_ticket.setdefault(clock.ticket.id, []).append(clock)
        due = {tid: d for tid, cs in by_ticket.items() if (d := sla_due_at(cs)) is not None}
        if not due:
            return 0
        with connection.cursor() as cursor:
            # One UPDATE per batch, of the open tickets only (a fifth or so): the dead row
            # versions it leaves are what the final VACUUM is for.
            cursor.execute(
                "UPDATE nixflow_ticket AS t SET sla_due_at = v.due "
                "FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, due) WHERE t.id = v.id",
                [list(due), list(due.values())],
            )
        return len(due)

    def finish(self) -> None:
        from sla.services import tally_compact

        tally_compact()


def load_policy() -> SLAPolicy:
    """The loads' policy with its targets, made once (ordered after every other)."""
    policy, created = SLAPolicy.objects.get_or_create(
        name=POLICY, defaults={"order": 100_000, "warning_threshold": WARNING_THRESHOLD}
    )
    if created:
        SLATarget.objects.bulk_create(
            SLATarget(policy=policy, priority=priority, metric_type=kind, minutes=minutes)
            for priority, (first, resolution) in TARGETS.items()
            for kind, minutes in (
                (MetricType.FIRST_RESPONSE, first),
                (MetricType.NEXT_RESPONSE, first),
                (MetricType.RESOLUTION, resolution),
            )
        )
    return policy


def loader(run: LoadRun) -> SlaLoader:
    return SlaLoader(run)
