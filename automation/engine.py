"""Running rules: a trigger fired on a ticket runs its active rules, in order, inside the
transaction of the change that fired it.

For each rule of the trigger, by position: when its conditions match the ticket, its
actions run (``rule_apply``) in a savepoint, on the ticket's locked row, as the system
and under the rule's name and version. A refused action rolls back that rule's changes
only, and is recorded (``automation.rule_failed``); the change that fired the rule
stands. A rule that acted and has ``stop_processing`` ends the trigger's run.

Rules fire rules: a rule's changes publish events like anyone's, and those run the
rules of their triggers in turn. Two guards keep that finite:

- **loop guard**: the chain of rules whose changes led to an event is kept in a context
  variable, and no rule of the chain runs again on what it caused (A's change never
  fires A, nor does B's change that A's fired);
- **depth cap**: a chain of ``AUTOMATION_MAX_DEPTH`` rules (default 5) runs nothing
  more; what would have run is recorded as ``automation.chain_stopped``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import transaction

from automation import events, selectors
from automation.actions import ActionError, actions_perform, rule_ref
from automation.conditions import Context, conditions_match
from automation.models import Rule
from nixflow.models import Ticket

DEFAULT_MAX_DEPTH = 5

# The rules (as rule_ref dicts) whose actions are running, outermost first.
_chain: ContextVar[tuple[dict[str, Any], ...]] = ContextVar("automation_chain", default=())


def max_depth() -> int:
    return int(getattr(settings, "AUTOMATION_MAX_DEPTH", DEFAULT_MAX_DEPTH))


def current_chain() -> tuple[dict[str, Any], ...]:
    """The rules whose changes are being made now, outermost first (empty: a person's or
    the system's own change)."""
    return _chain.get()


@contextmanager
def _acting(rule: Rule) -> Iterator[None]:
    token = _chain.set((*_chain.get(), rule_ref(rule)))
    try:
        yield
    finally:
        _chain.reset(token)


def _locked(ticket: Ticket) -> Ticket:
    """The ticket's row, fresh and locked (the caller's transaction may hold it locked
    already: then this is the same lock, and the row as it stands now)."""
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("stage", "workflow")
        .get(pk=ticket.pk)
    )


def _copy_row(*, into: Ticket, source: Ticket) -> None:
    """Make the caller's instance show the row as the rules left it: the service that
    published the event goes on with it (and returns it to its own caller)."""
    if into is source:
        return
    for field in Ticket._meta.concrete_fields:
        setattr(into, field.attname, getattr(source, field.attname))
    into._state.fields_cache = dict(source._state.fields_cache)


def trigger_fire(*, trigger: str, ticket: Ticket, context: Context) -> Ticket:
    """Run the active rules of ``trigger`` on ``ticket`` (locked by the caller's
    transaction); the ticket as they left it. Cheap when no rule matches: the rules are
    cached per process and their conditions read the ticket in memory."""
    rules = selectors.rules_active(trigger)
    if not rules:
        return ticket
    chain = _chain.get()
    in_chain = {ref["id"] for ref in chain}
    candidates = [rule for rule in rules if rule.pk not in in_chain]
    if not candidates:
        return ticket
    if len(chain) >= max_depth():
        _chain_stopped(trigger, ticket, context, chain, candidates)
        return ticket
    for rule in candidates:
        if not conditions_match(rule, ticket, context=context):
            continue
        acted, ticket = rule_apply(rule=rule, ticket=ticket, context=context)
        if acted:
            context.cache.clear()  # tags and the like may have changed
            if rule.stop_processing:
                break
    return ticket


def rule_apply(*, rule: Rule, ticket: Ticket, context: Context) -> tuple[bool, Ticket]:
    """Perform ``rule``'s actions on ``ticket`` (its conditions were checked) in a
    savepoint of the current transaction, then record ``automation.rule_applied``, or
    ``automation.rule_failed`` with the refusal, its changes rolled back. Whether it
    acted, and the ticket (the caller's instance, showing the row as it now stands).
    The time rules' scan calls this too."""
    depth = len(_chain.get()) + 1
    described = {
        "rule": rule_ref(rule),
        "trigger": context.trigger or rule.trigger,
        "event_id": context.event_id,
        "event_type": context.event_type,
        "depth": depth,
    }
    # The outer block: callers outside a transaction (a task) get one, so that the
    # rule's changes and its event commit together; the inner one is the savepoint a
    # refusal rolls back to.
    with transaction.atomic():
        try:
            with _acting(rule), transaction.atomic():
                changed, done = actions_perform(rule, _locked(ticket), context=context)
        except ActionError as error:
            events.record_ticket_event(
                type=events.RULE_FAILED,
                ticket=ticket,
                payload={
                    **described,
                    "action": error.position,
                    "action_type": error.action_type,
                    "reason": error.reason,
                },
            )
            return False, ticket
        _copy_row(into=ticket, source=changed)
        events.record_ticket_event(
            type=events.RULE_APPLIED, ticket=ticket, payload={**described, "actions": done}
        )
    return True, ticket


def _chain_stopped(
    trigger: str,
    ticket: Ticket,
    context: Context,
    chain: tuple[dict[str, Any], ...],
    candidates: list[Rule],
) -> None:
    """Record the rules the depth cap kept from running: those whose conditions match
    (a rule that would not have acted was not stopped from anything)."""
    not_run = [
        rule_ref(rule) for rule in candidates if conditions_match(rule, ticket, context=context)
    ]
    if not not_run:
        return
    events.record_ticket_event(
        type=events.CHAIN_STOPPED,
        ticket=ticket,
        payload={
            "trigger": trigger,
            "event_id": context.event_id,
            "event_type": context.event_type,
            "max_depth": max_depth(),
            "chain": list(chain),
            "not_run": not_run,
        },
    )
