"""Time rules: "stage entered more than 5 business days ago", checked by a periodic scan.

An event rule runs when something happens; a time rule runs when nothing has happened
for a while, so no event can fire it. Every minute (the ``automation.tasks.time_rules_scan``
task, or ``manage.py automation_scan``) each active time rule is asked, in SQL, which
tickets are due:

- the rule's **basis** instant (entering the current stage, creation, last change, last
  change the requester saw) is before the rule's **cutoff**, now minus its amount; in
  business units the amount is counted back through the working time of the rule's
  calendar (``sla.calendar.subtract_business_seconds``), so "5 business days" from a
  Friday 16:00 runs out the next Friday 16:00, not on the weekend;
- the rule's conditions hold (``automation.conditions.conditions_q``; a condition SQL
  cannot say, business hours, is checked in Python on the tickets the others leave);
- the ticket is open (its stage is neither resolved nor closed), unless a condition of
  the rule names the stage or its category: "resolved for 7 days, then close" says which
  stages it means itself;
- the rule has not acted on it in this **state**: a ``RuleFiring`` row holds (rule,
  ticket, state), the state being the basis instant (``stage_entered:2026-12-04T15:00:
  00.000000Z``). A ticket that sits in its stage is acted on once; one that leaves and
  comes back has a new state and is acted on again.

The pass only decides; the actions follow, once each. Due tickets are taken ``CHUNK``
at a time, each chunk in one transaction: their rows are read with ``FOR UPDATE SKIP
LOCKED`` (two scans at once take different tickets), the firings inserted in one
statement (``ON CONFLICT DO NOTHING``: the unique (rule, ticket, state) is what finally
keeps two scans from claiming a ticket twice, also when one read it before the other's
firing committed), and one ``automation.time_rule_due`` event recorded per
``ACT_GROUP`` firings (subject: the rule). The event's subscriber (``act_on_due``,
through the outbox and a Celery worker) then runs the rule on each of its tickets as
event rules run (``automation.engine.rule_apply``: the ticket's row locked, in a
savepoint, under the rule's name and version, recorded per ticket as
``automation.rule_applied`` or, refused, ``automation.rule_failed``). The event log
delivers each event to its subscriber at least once and records the delivery in the
handler's transaction, so the actions happen exactly once per firing, after the
pass's commit, even when a worker dies halfway.

So a pass costs a few set-based statements per ``CHUNK`` due tickets, whatever the size
of the desk (the actions, a dozen queries a ticket through the services, are spread
over the workers). The handler checks again before acting: a ticket that moved on
since (another state), a rule disabled or deleted, or conditions that no longer hold,
and it does nothing. A refused rule's firing stays: the rule failed for that state and
is not retried every minute; the ticket's next state tries again. At most
``AUTOMATION_TIME_RULE_BATCH`` tickets a rule per pass (1000 by default) keep a pass
short after an outage; the rest are due at the next one.

Rows written without the services may have no public update time: they count from
their creation, as the dry run reads them. Every ticket has its stage entry time (the
services write it, migration nixflow 0019 filled it in on older rows, ``load_data``
writes it), and the scan compares that column alone: an OR with "empty, and created
before the cutoff" would keep the (stage, stage_entered_at) index from stopping at the
cutoff, and every pass would walk all of a stage's tickets, whatever is due.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, DateTimeField, Exists, Func, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from automation import selectors
from automation.actions import rule_ref
from automation.conditions import Context, conditions_match, conditions_q
from automation.engine import rule_apply
from automation.models import Rule, RuleFiring, TimeBasis, TimeUnit, Trigger
from eventlog.models import EventLog
from eventlog.services import event_build, event_record_many
from eventlog.subscribers import subscribe
from nixflow.models import DONE_CATEGORIES, Ticket
from sla.calendar import CalendarSpec, calendar_spec, subtract_business_seconds

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 1000
# Tickets claimed per transaction: their row locks are held for its few set-based
# statements only (the actions run later, in the subscriber's own transactions), so an
# agent's edit of one of them waits a moment at most.
CHUNK = 500
# Firings per automation.time_rule_due event, i.e. per delivery: the subscriber runs
# their actions in one transaction (its delivery record's), so each ticket's row stays
# locked until the group is done; recording an event (and its outbox row) per ticket
# instead would make them most of a pass's cost.
ACT_GROUP = 25
_DAY = 86400
# The basis column of each time basis. Those that may be empty count from the ticket's
# creation instead (public_updated, empty on rows written without the services; the state
# of a stage_entered_at left empty by some bulk write, which the scan does not look for).
_COLUMNS = {
    TimeBasis.STAGE_ENTERED: "stage_entered_at",
    TimeBasis.CREATED: "created",
    TimeBasis.UPDATED: "updated",
    TimeBasis.PUBLIC_UPDATED: "public_updated",
}
_NULLABLE = frozenset({"stage_entered_at", "public_updated"})
# A state names its instant in UTC to the microsecond, the same text from Python and SQL.
_STATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_STATE_SQL_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
# Conditions that say which stages a rule means: the "open tickets only" default is off.
_STAGE_FIELDS = frozenset({"stage", "stage_category"})


@dataclass(frozen=True)
class RuleScan:
    """What one pass did for one rule."""

    rule_id: int
    cutoff: datetime.datetime | None
    due: int = 0  # tickets claimed: firing recorded, actions queued
    not_matched: int = 0  # due by time, but a Python-checked condition did not hold


@dataclass(frozen=True)
class TimeScanResult:
    rules: list[RuleScan]

    @property
    def due(self) -> int:
        return sum(r.due for r in self.rules)


def batch_limit() -> int:
    return int(getattr(settings, "AUTOMATION_TIME_RULE_BATCH", DEFAULT_BATCH))


# --- When a rule is due ------------------------------------------------------------------
def business_day_seconds(spec: CalendarSpec) -> int:
    """How long a business day of ``spec`` is: its week's working time over the days that
    have any (Mon-Fri 09-17: 8 hours; 24x7: 24 hours). A calendar whose days differ
    (a short Friday) gets their average, so "5 business days" is a working week."""
    if spec.is_24x7:
        return _DAY
    totals: dict[int, int] = {}
    for weekday, start, end in spec.intervals:
        seconds = (end.hour * 3600 + end.minute * 60 + end.second) - (
            start.hour * 3600 + start.minute * 60 + start.second
        )
        totals[weekday] = totals.get(weekday, 0) + (seconds if seconds > 0 else seconds + _DAY)
    return min(_DAY, sum(totals.values()) // len(totals))


def rule_cutoff(rule: Rule, now: datetime.datetime) -> datetime.datetime:
    """The instant a ticket's basis must be before for ``rule`` to be due ``now``: now
    minus the rule's amount, in working time of its calendar for business units (the
    latest instant with that much working time up to now). The dry run uses it too."""
    amount = int(rule.time_amount or 0)
    unit = TimeUnit(rule.time_unit)
    if unit == TimeUnit.HOURS:
        return now - datetime.timedelta(hours=amount)
    if unit == TimeUnit.DAYS:
        return now - datetime.timedelta(days=amount)
    spec = calendar_spec(rule.calendar)
    per_unit = 3600 if unit == TimeUnit.BUSINESS_HOURS else business_day_seconds(spec)
    return subtract_business_seconds(spec, now, amount * per_unit)


def _column(rule: Rule) -> str:
    return _COLUMNS[TimeBasis(rule.time_basis)]


def rule_state(rule: Rule, ticket: Ticket) -> str:
    """The state ``rule`` measures ``ticket`` in: its basis and the basis instant."""
    column = _column(rule)
    instant = getattr(ticket, column) or ticket.created
    return f"{rule.time_basis}:{instant.astimezone(datetime.UTC).strftime(_STATE_FORMAT)}"


class _StateInstant(Func):
    """SQL's text of an instant, as ``rule_state`` writes it in Python."""

    template = f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{_STATE_SQL_FORMAT}')"
    output_field = CharField()


def _state_sql(rule: Rule) -> Concat:
    """``rule_state`` in SQL, of the ticket of the enclosing query (a subquery's outer
    row)."""
    column = _column(rule)
    instant: Any = OuterRef(column)
    if column in _NULLABLE:
        instant = Coalesce(OuterRef(column), OuterRef("created"), output_field=DateTimeField())
    return Concat(Value(f"{rule.time_basis}:"), _StateInstant(instant), output_field=CharField())


def _before(rule: Rule, cutoff: datetime.datetime) -> Q:
    """basis < cutoff. The stage entry time alone (see the module's docstring), so that
    the (stage, stage_entered_at) index bounds the walk at the cutoff; the public update
    time, which no index holds, as an OR rather than a COALESCE, which keeps the created
    index usable for its empty rows."""
    column = _column(rule)
    before = Q(**{f"{column}__lt": cutoff})
    if column == "public_updated":
        before |= Q(public_updated__isnull=True, created__lt=cutoff)
    return before


def _names_stages(rule: Rule) -> bool:
    return any(c.get("field") in _STAGE_FIELDS for c in rule.conditions or [])


def _sql_conditions(rule: Rule) -> tuple[Q, bool]:
    """The rule's conditions as SQL, and whether Python must still check each ticket.

    When some condition is not SQL, the others still narrow the tickets if all must
    hold; with "any", none can (a ticket may match by the one SQL cannot say)."""
    whole = conditions_q(rule)
    if whole is not None:
        return whole, False
    if rule.match == "any":
        return Q(), True
    narrowing = Q()
    for condition in rule.conditions or []:
        part = conditions_q(Rule(match="all", conditions=[condition]))
        if part is not None:
            narrowing &= part
    return narrowing, True


def due_tickets(rule: Rule, *, cutoff: datetime.datetime) -> tuple[QuerySet[Ticket], bool]:
    """The tickets ``rule`` is due on with this cutoff (``rule_cutoff``) as far as SQL
    can tell, oldest basis first, and whether each must still pass ``conditions_match``
    in Python."""
    conditions, in_python = _sql_conditions(rule)
    fired = RuleFiring.objects.filter(rule=rule, ticket=OuterRef("pk"), state=_state_sql(rule))
    tickets = Ticket.objects.filter(_before(rule, cutoff)).filter(conditions)
    if not _names_stages(rule):
        tickets = tickets.exclude(stage__category__in=DONE_CATEGORIES)
    tickets = tickets.filter(~Exists(fired)).order_by(_column(rule), "id")
    return tickets, in_python


# --- The scan ----------------------------------------------------------------------------
TIME_RULE_DUE = "automation.time_rule_due"
SUBSCRIBER = "automation.time_rules"

# One statement per chunk: the firings of the claimed tickets, those no scan recorded yet.
_FIRE = """
    INSERT INTO automation_rulefiring (rule_id, ticket_id, state, fired_at)
    SELECT %(rule)s, claimed.ticket_id, claimed.state, %(now)s
    FROM unnest(%(tickets)s::bigint[], %(states)s::text[]) AS claimed (ticket_id, state)
    ON CONFLICT ON CONSTRAINT automation_firing_once DO NOTHING
    RETURNING id, ticket_id, state
"""


def _fire(rule: Rule, tickets: list[Ticket], now: datetime.datetime) -> list[tuple[int, int, str]]:
    """Record that ``rule`` acts on ``tickets`` in their current states: (firing id,
    ticket id, state) of those no scan had recorded yet."""
    if not tickets:
        return []
    params: dict[str, Any] = {
        "rule": rule.pk,
        "now": now,
        "tickets": [t.pk for t in tickets],
        "states": [rule_state(rule, t) for t in tickets],
    }
    with connection.cursor() as cursor:
        cursor.execute(_FIRE, params)
        return [(int(f), int(t), str(s)) for f, t, s in cursor.fetchall()]


def _due_events(
    rule: Rule, fired: list[tuple[int, int, str]], cutoff: datetime.datetime
) -> list[EventLog]:
    """``automation.time_rule_due`` for each ``ACT_GROUP`` firings: what the subscriber
    acts on."""
    return [
        event_build(
            type=TIME_RULE_DUE,
            subject=rule,
            actor=None,
            payload={
                "rule": rule_ref(rule),
                "cutoff": cutoff.isoformat(),
                "firings": [
                    {"firing_id": firing_id, "ticket_id": ticket_id, "state": state}
                    for firing_id, ticket_id, state in fired[start : start + ACT_GROUP]
                ],
            },
        )
        for start in range(0, len(fired), ACT_GROUP)
    ]


def time_rule_scan(*, rule: Rule, now: datetime.datetime, limit: int | None = None) -> RuleScan:
    """Claim the tickets ``rule`` is due on, at most ``limit`` of them, and queue its
    actions on each (``act_on_due``)."""
    limit = batch_limit() if limit is None else limit
    try:
        cutoff = rule_cutoff(rule, now)
    except ValueError as error:  # a calendar with no working time: nothing can be due
        logger.warning("time rule %s skipped: %s", rule.pk, error)
        return RuleScan(rule_id=rule.pk, cutoff=None)
    due = not_matched = 0
    rejected: set[int] = set()  # failed a Python-checked condition in this pass
    context = Context(at=now, trigger=Trigger.TIME)
    while due < limit:
        tickets, in_python = due_tickets(rule, cutoff=cutoff)
        if rejected:
            tickets = tickets.exclude(pk__in=rejected)
        if in_python:
            tickets = tickets.select_related("stage", "requester", "team", "assignee", "workflow")
            tickets = tickets.prefetch_related("tags")
        else:  # what the state is made of, and nothing more
            tickets = tickets.only("id", "created", _column(rule))
        size = min(CHUNK, limit - due)
        with transaction.atomic():
            chunk = list(tickets.select_for_update(skip_locked=True, of=("self",))[:size])
            matching = []
            for ticket in chunk:
                context.cache.clear()
                if in_python and not conditions_match(rule, ticket, context=context):
                    rejected.add(ticket.pk)
                    not_matched += 1
                else:
                    matching.append(ticket)
            fired = _fire(rule, matching, now)
            event_record_many(events=_due_events(rule, fired, cutoff))
            due += len(fired)
        if len(chunk) < size:
            break
    return RuleScan(rule_id=rule.pk, cutoff=cutoff, due=due, not_matched=not_matched)


def time_rules_scan(*, now: datetime.datetime | None = None) -> TimeScanResult:
    """One pass over every active time rule, in their order. Idempotent, and safe to run
    concurrently (see the module's docstring); after an outage it catches up, each
    ticket once per state."""
    now = now or timezone.now()
    scans = [
        time_rule_scan(rule=rule, now=now)
        for rule in selectors.rules_active(Trigger.TIME)
        if rule.time_basis and rule.time_amount and rule.time_unit
    ]
    return TimeScanResult(rules=scans)


# --- Acting ------------------------------------------------------------------------------
@subscribe(TIME_RULE_DUE, name=SUBSCRIBER)
def act_on_due(event: EventLog) -> None:
    """Run the rule of an ``automation.time_rule_due`` event on each of its tickets, once
    (the delivery is recorded in this transaction), where it still applies: the rule
    active, the ticket in the state the scan saw, the conditions still true."""
    payload = event.payload
    rule = (
        Rule.objects.select_related("calendar")
        .filter(pk=payload["rule"]["id"], is_active=True, trigger=Trigger.TIME)
        .first()
    )
    if rule is None or not rule.time_basis:
        return
    for firing in payload["firings"]:
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("stage", "workflow")
            .filter(pk=firing["ticket_id"])
            .first()
        )
        if ticket is None or rule_state(rule, ticket) != firing["state"]:
            continue
        context = Context(trigger=Trigger.TIME, event_type=event.type, event_id=event.pk)
        if conditions_match(rule, ticket, context=context):
            rule_apply(rule=rule, ticket=ticket, context=context)
