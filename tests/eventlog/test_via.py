"""What made a change: events recorded under ``acting_via`` carry the cause, the core's
history rows its label, and receivers of ``events_recorded`` see every event in the
recording transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from eventlog.context import acting_via, via_label
from eventlog.models import EventLog
from eventlog.services import events_recorded
from nixflow.models import HistoryLog, Priority, Ticket
from nixflow.services import ticket_update

RULE = {"kind": "rule", "id": 7, "name": "VIP to Tier 2", "version": 3}


def test_a_change_made_via_a_rule_names_it_in_the_event_and_the_history(ticket: Ticket) -> None:
    with acting_via(RULE):
        ticket_update(ticket=ticket, actor=None, data={"priority": Priority.HIGH})

    event = EventLog.objects.filter(type="ticket.updated", ticket_key=ticket.key).get()
    assert event.payload["via"] == RULE
    row = HistoryLog.objects.get(ticket=ticket, field="priority")
    assert row.via == "rule: VIP to Tier 2 (v3)"


def test_a_change_made_directly_names_no_cause(ticket: Ticket) -> None:
    ticket_update(ticket=ticket, actor=None, data={"priority": Priority.HIGH})

    event = EventLog.objects.filter(type="ticket.updated", ticket_key=ticket.key).get()
    assert "via" not in event.payload
    assert HistoryLog.objects.get(ticket=ticket, field="priority").via == ""


def test_the_label_of_no_cause_is_empty_and_long_names_are_cut() -> None:
    assert via_label(None) == ""
    assert len(via_label({"kind": "rule", "name": "x" * 500, "version": 1})) == 200


def test_receivers_see_each_recorded_event_inside_its_transaction(ticket: Ticket) -> None:
    seen: list[tuple[str, bool]] = []

    def receiver(sender: Any, events: list[EventLog], **kwargs: Any) -> None:
        in_transaction = transaction.get_connection().in_atomic_block
        seen.extend((event.type, in_transaction and event.pk is not None) for event in events)

    events_recorded.connect(receiver, dispatch_uid="test.via")
    try:
        ticket_update(ticket=ticket, actor=None, data={"title": "Printer still on fire"})
    finally:
        events_recorded.disconnect(dispatch_uid="test.via")

    assert seen == [("ticket.updated", True)]
