"""Subscribers: functions that react to committed events, through Celery, at least once.

Register in an app's ``ready()``::

    @subscribe("ticket.commented", name="notifications.watchers")
    def notify_watchers(event: EventLog) -> None: ...

Each (event, subscriber) pair is delivered at least once: the recording transaction
writes one outbox row per pair (``eventlog.outbox``), which the relay publishes as a
``deliver_event`` task once it has committed, and ``redeliver_missed`` (beat) queues again
what a lost message or a handler that kept failing left undelivered. A ``Delivery`` row,
written in the handler's own transaction, makes a repeat harmless: a handler's database
writes and the record that it ran commit together or not at all. Handlers that send
mail or call out queue that through ``eventlog.outbox.outbox_enqueue`` too, so it
commits with their ``Delivery`` row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from eventlog import outbox
from eventlog.models import Delivery, EventLog

logger = logging.getLogger(__name__)

Handler = Callable[[EventLog], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_type: str
    handler: Handler


_registry: dict[str, dict[str, Subscriber]] = {}


def subscribe(event_type: str, *, name: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``event_type`` under a stable ``name`` (the delivery key:
    renaming a subscriber makes it receive recent events again)."""

    def register(handler: Handler) -> Handler:
        _registry.setdefault(event_type, {})[name] = Subscriber(name, event_type, handler)
        return handler

    return register


def unsubscribe(event_type: str, *, name: str) -> None:
    _registry.get(event_type, {}).pop(name, None)


def subscribed(event_type: str) -> bool:
    return bool(_registry.get(event_type))


def subscribers_of(event_type: str) -> list[Subscriber]:
    return list(_registry.get(event_type, {}).values())


def subscribed_types() -> list[str]:
    return [t for t, subs in _registry.items() if subs]


DELIVER_TASK = "eventlog.tasks.deliver_event"


def delivery_key(event_id: int, subscriber: str) -> str:
    """The outbox key of one (event, subscriber) delivery: queued once."""
    return f"event:{event_id}:{subscriber}"


def schedule_deliveries(events: Sequence[EventLog]) -> None:
    """Queue, in the outbox and the current transaction, one delivery per subscriber of
    each event."""
    outbox.outbox_enqueue_many(
        messages=[
            outbox.Message(
                task=DELIVER_TASK,
                kwargs={"event_id": event.pk, "subscriber": subscriber.name},
                key=delivery_key(event.pk, subscriber.name),
                correlation_id=event.correlation_id,
            )
            for event in events
            for subscriber in subscribers_of(event.type)
        ]
    )


def deliver(event: EventLog, *, only: str | None = None) -> list[str]:
    """Run every subscriber of the event (or just the one named ``only``) that has not
    had it yet; the names that ran.

    A handler that raises is logged and left undelivered (its transaction, delivery row
    included, rolls back) for the next attempt; the other subscribers still run. The
    first error is raised at the end so that the task retries.
    """
    ran, failure = [], None
    for subscriber in subscribers_of(event.type):
        if only is not None and subscriber.name != only:
            continue
        try:
            with transaction.atomic():
                if not _claim(event, subscriber):
                    continue  # already delivered
                subscriber.handler(event)
            ran.append(subscriber.name)
        except Exception as error:  # a handler's bug must not block the other handlers
            logger.exception("Subscriber %s failed on event %s", subscriber.name, event.pk)
            failure = failure or error
    if failure is not None:
        raise failure
    return ran


def _claim(event: EventLog, subscriber: Subscriber) -> bool:
    # The unique (event, subscriber) row doubles as a lock: a concurrent delivery of the
    # same pair waits on it until the first commits, then fails here and skips.
    try:
        with transaction.atomic():
            Delivery.objects.create(event=event, subscriber=subscriber.name)
    except IntegrityError:
        return False
    return True
