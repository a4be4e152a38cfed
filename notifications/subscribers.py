"""The app's event-log subscribers: one per event type that some kind reads.

One subscriber per event type, not per kind, so that all the reasons an event gives a
recipient are weighed in one delivery transaction (``notifications.kinds``). Names are
``notifications.<event type>``: stable, as the event log's delivery key requires.
"""

from __future__ import annotations

from eventlog.models import EventLog
from eventlog.subscribers import subscribe
from notifications import kinds, services


def deliver(event: EventLog) -> None:
    services.notification_deliver(event=event)


def subscriber_name(event_type: str) -> str:
    return f"notifications.{event_type}"


def register() -> None:
    for event_type in kinds.event_types():
        subscribe(event_type, name=subscriber_name(event_type))(deliver)
