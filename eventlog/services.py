"""Writes of the event log: record events inside the caller's transaction."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone

from eventlog import context, personal, subscribers
from eventlog.models import PERSON_LABEL_PREFIX, EventLog

SYSTEM = "system"

# Sent with sender=EventLog and events=[the recorded EventLog rows], inside the
# recording transaction, right after they were inserted (and their subscribers'
# deliveries queued). For what must happen in the same transaction as the change and
# may depend on any event type (automation rules, webhook deliveries): receivers run
# synchronously, an exception rolls the change back, and what they record themselves
# sends the signal again (receivers guard their own recursion). Work that leaves the
# process goes to the outbox, never straight out of a receiver.
events_recorded = Signal()
# The same rule as the table's check constraint, checked here for a clear message.
EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


def event_build(
    *,
    type: str,
    subject: models.Model,
    actor: Any | None,
    payload: dict[str, Any] | None = None,
    ticket_key: str = "",
    occurred_at: datetime | None = None,
) -> EventLog:
    """An unsaved event describing a change to ``subject``; see ``event_record``."""
    if not EVENT_TYPE.fullmatch(type):
        raise ValidationError({"type": f"{type!r} is not a dotted event type like ticket.created."})
    via = context.current_via()
    if via is not None:
        payload = {**(payload or {}), "via": via}
    meta = subject._meta
    return EventLog(
        type=type,
        occurred_at=occurred_at or timezone.now(),
        actor=actor,
        actor_label=actor_label(actor),
        subject_app=meta.app_label,
        subject_model=cast(str, meta.model_name),  # None only while the class is built
        subject_id=str(subject.pk),
        ticket_key=ticket_key,
        payload=payload or {},
        correlation_id=context.current() or uuid.uuid4(),
    )


def actor_label(actor: Any | None) -> str:
    """The label an event keeps of its actor. Staff (agents, admins, staff users) act in
    their role and keep their username; anyone else's username is often their address
    or name, personal data the log must not hold, so it is ``person:<id>``, shown as the
    person's current name while they exist (``EventLog.actor_name``)."""
    if actor is None:
        return SYSTEM
    if getattr(actor, "is_agent", False) or getattr(actor, "is_staff", False):
        return actor.get_username()
    return f"{PERSON_LABEL_PREFIX}{actor.pk}"


def event_record_many(*, events: Sequence[EventLog]) -> list[EventLog]:
    """Append events built with ``event_build`` in one INSERT, in the current transaction.

    Call it inside the transaction of the change: when the change rolls back, the events
    go with it, and when the insert fails the exception rolls the change back.
    Their subscribers' deliveries are queued in the outbox, in the same transaction,
    and run after commit.
    """
    if not transaction.get_connection().in_atomic_block:
        # An event outside a transaction would commit even if the change it describes
        # then failed: that is the bug this API exists to prevent.
        raise RuntimeError("Events must be recorded inside the change's transaction.")
    if not events:
        return []
    # The id's default takes a transaction id before drawing the event id (migration
    # 0003), which the sealer relies on.
    # The persons' keys of every personal value, in one query for the whole batch.
    with personal.keys_loaded(event.payload for event in events):
        created = EventLog.objects.bulk_create(events)
    # Delivery to subscribers is written to the outbox in this same transaction.
    subscribers.schedule_deliveries(created)
    events_recorded.send(sender=EventLog, events=created)
    return created


def event_record(
    *,
    type: str,
    subject: models.Model,
    actor: Any | None,
    payload: dict[str, Any] | None = None,
    ticket_key: str = "",
    occurred_at: datetime | None = None,
) -> EventLog:
    """Append one event describing a change to ``subject``, in the current transaction."""
    event = event_build(
        type=type,
        subject=subject,
        actor=actor,
        payload=payload,
        ticket_key=ticket_key,
        occurred_at=occurred_at,
    )
    return event_record_many(events=[event])[0]
