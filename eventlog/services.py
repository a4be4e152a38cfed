"""Writes of the event log: record events inside the caller's transaction."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from eventlog import context, subscribers
from eventlog.models import EventLog

SYSTEM = "system"
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
    meta = subject._meta
    return EventLog(
        type=type,
        occurred_at=occurred_at or timezone.now(),
        actor=actor,
        actor_label=actor.get_username() if actor is not None else SYSTEM,
        subject_app=meta.app_label,
        subject_model=cast(str, meta.model_name),  # None only while the class is built
        subject_id=str(subject.pk),
        ticket_key=ticket_key,
        payload=payload or {},
        correlation_id=context.current() or uuid.uuid4(),
    )


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
    created = EventLog.objects.bulk_create(events)
    # Delivery to subscribers is written to the outbox in this same transaction.
    subscribers.schedule_deliveries(created)
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
