"""Writes of the event log: record an event inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from eventlog import context, subscribers
from eventlog.models import EventLog

SYSTEM = "system"


def event_record(
    *,
    type: str,
    subject: models.Model,
    actor: Any | None,
    payload: dict[str, Any] | None = None,
    ticket_key: str = "",
    occurred_at: datetime | None = None,
) -> EventLog:
    """Append one event describing a change to ``subject``, in the current transaction.

    Call it inside the transaction of the change: when the change rolls back, the event
    goes with it, and when the insert fails (a bad type, the database refusing), the
    exception rolls the change back. Subscribers of ``type`` run after commit.
    """
    if not transaction.get_connection().in_atomic_block:
        # An event outside a transaction would commit even if the change it describes
        # then failed: that is the bug this API exists to prevent.
        raise RuntimeError("event_record() must be called inside the change's transaction.")
    meta = subject._meta
    event = EventLog(
        type=type,
        occurred_at=occurred_at or timezone.now(),
        actor=actor,
        actor_label=actor.get_username() if actor is not None else SYSTEM,
        subject_app=meta.app_label,
        subject_model=meta.model_name,
        subject_id=str(subject.pk),
        ticket_key=ticket_key,
        payload=payload or {},
        correlation_id=context.current() or uuid.uuid4(),
    )
    event.full_clean(exclude=["actor", "row_hash", "recorded_at"])
    event.save(force_insert=True)
    if subscribers.subscribed(type):
        transaction.on_commit(lambda: subscribers.schedule_delivery(event.pk))
    return event
