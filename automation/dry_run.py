"""Dry run: how many recent tickets a rule would have matched, before anyone enables it.

A rule starts disabled; its author asks "what would this have caught over the last 30
days?" and gets a count and a few examples to open. The rule's conditions are counted
in SQL (``automation.conditions.conditions_q``) whenever they can be said as a filter,
so the answer over a busy desk's month is two indexed counts, not a loop. A condition
that cannot be SQL (business hours of a calendar) makes ``conditions_q`` answer None;
the tickets are then read in chunks and judged in Python with ``conditions_match``, over
at most ``AUTOMATION_DRY_RUN_PYTHON_LIMIT`` of the newest (narrowed first by the
conditions SQL can say, when all must hold), and the result says so (``in_sql`` False,
``judged``, and ``limited`` when the cap cut the period short).

A time rule ("stage entered more than 5 business days ago") also gets its time
condition, as of now, as the time-rule scan decides it: of the tickets created in the
period, the open ones (unless the rule names stages) whose basis instant is before the
rule's cutoff. The dry run changes nothing and records no event: it is a read.

Nothing here needs the rule to be saved: the admin's button sends the form as it is
being edited, the API's ``POST /api/automation/rules/dry-run/`` a rule as it takes one.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from automation import conditions
from automation.models import Rule, TimeBasis, Trigger
from automation.time_rules import rule_cutoff
from nixflow.models import Ticket
from nixflow.models.workflows import DONE_CATEGORIES

# The fields of a rule a dry run reads (the rest, actions included, cannot change what
# the rule matches).
MATCHING_FIELDS = (
    "trigger",
    "match",
    "conditions",
    "time_basis",
    "time_amount",
    "time_unit",
    "calendar",
)
PYTHON_CHUNK = 500


@dataclass(frozen=True)
class DryRun:
    """What a rule would have matched among the tickets created in the last ``days``."""

    matched: int
    examined: int
    examples: list[Ticket] = field(default_factory=list)
    days: int = 30
    since: datetime.datetime | None = None
    # False: some condition is not SQL, the tickets were judged one by one in Python
    # (``judged`` of them: those the SQL-able conditions left, at most the cap)...
    in_sql: bool = True
    judged: int = 0
    # ...and the cap was reached: older candidates of the period were not judged.
    limited: bool = False
    # A time rule: its time condition was applied as of this instant.
    as_of: datetime.datetime | None = None


def python_limit() -> int:
    return int(getattr(settings, "AUTOMATION_DRY_RUN_PYTHON_LIMIT", 5000))


def rule_from_data(data: Mapping[str, Any]) -> Rule:
    """An unsaved rule with the matching fields of ``data`` (already validated, e.g. by
    the API's serializer or the admin's form), for a dry run of an edit not yet saved."""
    return Rule(**{name: data[name] for name in MATCHING_FIELDS if name in data})


def rule_dry_run(
    *, rule_or_data: Rule | Mapping[str, Any], days: int = 30, examples: int = 10
) -> DryRun:
    """Count the tickets created in the last ``days`` days that the rule would have
    matched, with up to ``examples`` of them, newest first."""
    rule = rule_or_data if isinstance(rule_or_data, Rule) else rule_from_data(rule_or_data)
    now = timezone.now()
    since = now - datetime.timedelta(days=days)
    period = Ticket.objects.filter(created__gte=since)
    as_of = None
    if rule.trigger == Trigger.TIME and _is_timed(rule):
        period = period.filter(_time_condition(rule, now))
        as_of = now
    q = conditions.conditions_q(rule)
    if q is not None:
        return _in_sql(period, q, days=days, since=since, examples=examples, as_of=as_of)
    return _in_python(rule, period, days=days, since=since, examples=examples, as_of=as_of)


def _in_sql(
    period: QuerySet[Ticket],
    q: Q,
    *,
    days: int,
    since: datetime.datetime,
    examples: int,
    as_of: datetime.datetime | None,
) -> DryRun:
    matching = period.filter(q)
    return DryRun(
        matched=matching.count(),
        examined=period.count(),
        examples=list(matching.select_related("stage").order_by("-created", "-id")[:examples]),
        days=days,
        since=since,
        as_of=as_of,
    )


def _chunks(period: QuerySet[Ticket], limit: int) -> Iterator[list[Ticket]]:
    """The period's newest ``limit`` tickets, a chunk at a time, with what conditions
    read (stage, team, requester, tags) loaded per chunk, not per ticket."""
    seen = 0
    rows = period.select_related("stage", "workflow", "team", "requester", "assignee")
    rows = rows.prefetch_related("tags").order_by("-created", "-id")
    while seen < limit:
        chunk = list(rows[seen : min(seen + PYTHON_CHUNK, limit)])
        if not chunk:
            return
        seen += len(chunk)
        yield chunk


def _narrowing(rule: Rule) -> Q:
    """With "all conditions", the conditions SQL can say narrow the tickets Python then
    judges; with "any", none can (a ticket may match by the others)."""
    if rule.match == "any":
        return Q()
    narrowing = Q()
    for condition in rule.conditions or []:
        part = conditions.conditions_q(Rule(match="all", conditions=[condition]))
        if part is not None:
            narrowing &= part
    return narrowing


def _in_python(
    rule: Rule,
    period: QuerySet[Ticket],
    *,
    days: int,
    since: datetime.datetime,
    examples: int,
    as_of: datetime.datetime | None,
) -> DryRun:
    limit = python_limit()
    candidates = period.filter(_narrowing(rule))
    matched, judged = 0, 0
    found: list[Ticket] = []
    for chunk in _chunks(candidates, limit):
        for ticket in chunk:
            judged += 1
            if conditions.conditions_match(rule, ticket, context=_context(rule, ticket)):
                matched += 1
                if len(found) < examples:
                    found.append(ticket)
    limited = judged >= limit and candidates.count() > judged
    return DryRun(
        matched=matched,
        examined=period.count(),
        examples=found,
        days=days,
        since=since,
        in_sql=False,
        judged=judged,
        limited=limited,
        as_of=as_of,
    )


def _context(rule: Rule, ticket: Ticket) -> conditions.Context:
    """The dry run judges each ticket as of now (business hours are read at the moment of
    the dry run), with no event: a condition on a new comment's text reads none."""
    return conditions.Context(at=None, trigger=rule.trigger)


# --- A time rule's time condition, as of now ---------------------------------------------
# As the scan (``automation.time_rules``) decides it, so that a dry run and the rule once
# enabled agree: the basis column before the rule's cutoff, computed by the scan's own
# ``rule_cutoff``; only open tickets unless a condition names the stage or its category.
# The scan's record of what it already acted on is left out: the question is which
# tickets the rule matches, not which it has still to act on.
BASIS_COLUMNS = {
    TimeBasis.STAGE_ENTERED: "stage_entered_at",
    TimeBasis.CREATED: "created",
    TimeBasis.UPDATED: "updated",
    TimeBasis.PUBLIC_UPDATED: "public_updated",
}
STAGE_FIELDS = frozenset({"stage", "stage_category"})


def _is_timed(rule: Rule) -> bool:
    return bool(rule.time_basis and rule.time_amount and rule.time_unit)


def _time_condition(rule: Rule, now: datetime.datetime) -> Q:
    cutoff = rule_cutoff(rule, now)
    column = BASIS_COLUMNS[TimeBasis(rule.time_basis)]
    due = Q(**{f"{column}__lt": cutoff})
    if column == "public_updated":  # never seen by the requester: since its creation
        due |= Q(public_updated__isnull=True, created__lt=cutoff)
    if not any(c.get("field") in STAGE_FIELDS for c in rule.conditions or []):
        due &= ~Q(stage__category__in=DONE_CATEGORIES)
    return due
