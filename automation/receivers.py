"""Which events fire which triggers (connected in ``automation.apps``).

Ticket events come through ``nixflow.events.ticket_event``, after the SLA clocks' and the
surveys' receivers (the app is installed after theirs), with the ticket the service
holds locked:

=====================================================  ===========================
event                                                  trigger
=====================================================  ===========================
ticket.created                                         ticket_created
ticket.updated, .assigned, .team_changed,              ticket_updated
.tags_changed (custom fields are ticket.updated)
ticket.commented, public, by a requester (not agent)   requester_commented
ticket.commented, public, by an agent                  agent_commented
ticket.transitioned                                    stage_changed
=====================================================  ===========================

Internal notes fire nothing: they are the desk talking to itself, and rules reacting
to notes (their own, say) would make noise. The other apps' events come through
``eventlog.services.events_recorded``, which sends every recorded event:
``sla.at_risk`` → sla_at_risk, ``sla.breached`` → sla_breached, ``email.received`` of a
message that became a ticket or a comment → mail_received, ``csat.rated`` and
``csat.changed`` → csat_received. Those name their ticket by key; it is locked here.

A new ticket that its team auto-assigns records ``ticket.created`` and then, as its own
event, ``ticket.assigned`` (``nixflow.services.tickets.ticket_create``). The ticket's
creation is not done until that second event: ticket_created rules wait for it, so that
a rule's assignee is not overwritten by the auto-assignment's record, and the rules see
the ticket with the assignee it was created with.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.apps import apps

from automation import engine, selectors
from automation.conditions import Context
from automation.models import Trigger
from eventlog.models import EventLog
from nixflow import events
from nixflow.models import Comment, Ticket

_UPDATED = frozenset(
    {
        events.TICKET_UPDATED,
        events.TICKET_ASSIGNED,
        events.TICKET_TEAM_CHANGED,
        events.TICKET_TAGS_CHANGED,
    }
)
# Events of other apps, by type (names as those apps record them).
_RECORDED: dict[str, str] = {
    "sla.at_risk": Trigger.SLA_AT_RISK,
    "sla.breached": Trigger.SLA_BREACHED,
    "email.received": Trigger.MAIL_RECEIVED,
    "csat.rated": Trigger.CSAT_RECEIVED,
    "csat.changed": Trigger.CSAT_RECEIVED,
}
_MAIL_BECAME = "processed"  # an inbound message's status once it is a ticket or comment

# The event log id of the last ticket event recorded (ticket id, type, event id):
# ``publish`` records the event, then hands it to ticket_event's receivers, which do
# not see the row. Payloads name the event that fired a rule by this id.
_last_ticket_event: ContextVar[tuple[int, str, int] | None] = ContextVar(
    "automation_last_ticket_event", default=None
)
# Tickets being created whose auto-assignment is still to be recorded: id → context.
_creating: ContextVar[dict[int, Context] | None] = ContextVar("automation_creating", default=None)


def on_rule_saved(sender: Any, **kwargs: Any) -> None:
    """Connected to ``post_save`` and ``post_delete`` of ``Rule``."""
    selectors.rules_changed()


def _ticket_trigger(event: events.TicketEvent) -> str | None:
    if event.type == events.TICKET_CREATED:
        return Trigger.TICKET_CREATED
    if event.type in _UPDATED:
        return Trigger.TICKET_UPDATED
    if event.type == events.TICKET_TRANSITIONED:
        return Trigger.STAGE_CHANGED
    if event.type == events.TICKET_COMMENTED and not event.payload.get("is_internal"):
        by_agent = event.payload.get("by_agent")
        return Trigger.AGENT_COMMENTED if by_agent else Trigger.REQUESTER_COMMENTED
    return None


def _event_id(event: events.TicketEvent) -> int | None:
    last = _last_ticket_event.get()
    if last is not None and last[0] == event.ticket.pk and last[1] == event.type:
        return last[2]
    return None


def _creation_auto_assignment(event: events.TicketEvent) -> bool:
    """The ``ticket.assigned`` that ``ticket_create`` records for its auto-assignment:
    by the system, at the ticket's creation instant, from nobody."""
    return (
        event.type == events.TICKET_ASSIGNED
        and event.actor is None
        and event.payload.get("previous_assignee_id") is None
        and event.occurred_at == event.ticket.created
    )


def on_ticket_event(sender: Any, event: events.TicketEvent, **kwargs: Any) -> None:
    """Connected to ``nixflow.events.ticket_event``."""
    ticket = event.ticket
    if _creation_auto_assignment(event):
        # Part of the creation, not an update of the ticket: its creation is complete
        # now, and the ticket_created rules that waited for it run.
        waiting = _creating.get() or {}
        context = waiting.pop(ticket.pk, None)
        if context is not None:
            engine.trigger_fire(trigger=Trigger.TICKET_CREATED, ticket=ticket, context=context)
        return
    trigger = _ticket_trigger(event)
    if trigger is None or not selectors.rules_active(trigger):
        return
    context = Context(
        at=event.occurred_at,
        trigger=trigger,
        event_type=event.type,
        event_id=_event_id(event),
        payload=event.payload,
        comment=_comment_body(event),
    )
    if event.type == events.TICKET_CREATED:
        # A ticket is created without tags (the services add them afterwards, each
        # change its own event): rules reading tags need no query here.
        context.cache["tags"] = set()
        if event.payload.get("assignee_id") is None and ticket.assignee_id is not None:
            # Auto-assigned: its ticket.assigned follows within ticket_create; wait.
            _creating.set({**(_creating.get() or {}), ticket.pk: context})
            return
    engine.trigger_fire(trigger=trigger, ticket=ticket, context=context)


def _comment_body(event: events.TicketEvent) -> str | None:
    comment_id = event.payload.get("comment_id")
    if event.type != events.TICKET_COMMENTED or comment_id is None:
        return None
    return Comment.objects.filter(pk=comment_id).values_list("body", flat=True).first()


def on_events_recorded(sender: Any, events: list[EventLog], **kwargs: Any) -> None:
    """Connected to ``eventlog.services.events_recorded``: every recorded event."""
    for event in events:
        if event.subject_app == "nixflow" and event.subject_model == "ticket":
            _last_ticket_event.set((int(event.subject_id), event.type, int(event.pk)))
            continue
        trigger = _RECORDED.get(event.type)
        if trigger is None or not event.ticket_key:
            continue
        if trigger == Trigger.MAIL_RECEIVED and event.payload.get("status") != _MAIL_BECAME:
            continue
        if not selectors.rules_active(trigger):
            continue
        _fire_recorded(trigger, event)


def _fire_recorded(trigger: str, event: EventLog) -> None:
    number = Ticket.number_from_key(event.ticket_key)
    if number is None:
        return
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("stage", "workflow")
        .filter(pk=number)
        .first()
    )
    if ticket is None:
        return
    context = Context(
        at=event.occurred_at,
        trigger=trigger,
        event_type=event.type,
        event_id=int(event.pk),
        payload=event.payload,
        comment=_mail_comment(event) if trigger == Trigger.MAIL_RECEIVED else None,
    )
    engine.trigger_fire(trigger=trigger, ticket=ticket, context=context)


def _mail_comment(event: EventLog) -> str | None:
    """The body of the comment an inbound message became (None when it opened a
    ticket: its text is the ticket's description). Read through the app registry:
    feature apps do not import each other."""
    if not apps.is_installed("email_integration"):
        return None
    message = apps.get_model("email_integration", "EmailMessage")
    return (
        message.objects.filter(pk=event.subject_id, comment__isnull=False)
        .values_list("comment__body", flat=True)
        .first()
    )
