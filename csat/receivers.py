"""How the satisfaction app hears of resolutions: the core's ticket events, received
inside the ticket's transaction (``nixflow.events``), so a survey is armed or cancelled
together with the change that calls for it."""

from __future__ import annotations

from typing import Any

from csat import services
from nixflow import events
from nixflow.models import DONE_CATEGORIES, StageCategory


def on_ticket_event(sender: Any, event: events.TicketEvent, **kwargs: Any) -> None:
    if event.type != events.TICKET_TRANSITIONED:
        return
    category = event.payload.get("to_category")
    if category == StageCategory.RESOLVED:
        services.survey_schedule(ticket=event.ticket, resolved_at=event.occurred_at)
    elif category not in DONE_CATEGORIES:  # reopened: a survey not yet mailed waits
        services.survey_cancel(ticket=event.ticket)
