"""Celery tasks of the event log: thin, they load rows and call one function."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from eventlog import outbox, sealing, subscribers
from eventlog.models import Delivery, EventLog


@shared_task(
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def deliver_event(event_id: int, subscriber: str | None = None) -> list[str]:
    """Hand one event to one subscriber (to all of them without ``subscriber``, as
    messages queued before the outbox did). Retries with backoff: a handler's failure is
    usually transient (a lock, a deadlock); ``redeliver_missed`` catches the rest."""
    event = EventLog.objects.filter(pk=event_id).first()
    if event is None:
        return []  # nothing to deliver (an event id that was never committed)
    return subscribers.deliver(event, only=subscriber)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def seal_events() -> int:
    """Seal the committed events; scheduled by beat every minute."""
    return len(sealing.seal_pending())


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def redeliver_missed() -> int:
    """The safety net under the outbox (beat, every ``EVENTLOG_REDELIVER_INTERVAL_SECONDS``).

    The outbox makes sure every delivery is *published*. What can still go missing is a
    published message: a broker that lost it (Redis restarted without persistence, the
    filesystem broker of a crashed worker), a worker killed while running it with a
    broker that redelivers only after its visibility timeout, a handler that failed past
    its retries. So: each (event, subscriber) of the last
    ``EVENTLOG_REDELIVERY_WINDOW_SECONDS`` that has no ``Delivery`` although its outbox
    message was published more than ``EVENTLOG_REDELIVERY_SETTLE_SECONDS`` ago is queued
    again; one still waiting in the outbox (the broker is down) is left alone. Scans by
    state, so a missed run is simply caught up; the count queued again.
    """
    now = timezone.now()
    settled = timedelta(seconds=settings.EVENTLOG_REDELIVERY_SETTLE_SECONDS)
    window_start = now - timedelta(seconds=settings.EVENTLOG_REDELIVERY_WINDOW_SECONDS)
    items: list[tuple[str, dict[str, object]]] = []
    for event_type in subscribers.subscribed_types():
        for subscriber in subscribers.subscribers_of(event_type):
            missed = (
                EventLog.objects.filter(
                    type=event_type, occurred_at__gte=window_start, occurred_at__lt=now - settled
                )
                .exclude(
                    Exists(
                        Delivery.objects.filter(event=OuterRef("pk"), subscriber=subscriber.name)
                    )
                )
                .values_list("pk", flat=True)[:10_000]
            )
            items += [
                (
                    subscribers.delivery_key(pk, subscriber.name),
                    {"event_id": pk, "subscriber": subscriber.name},
                )
                for pk in missed
            ]
    return outbox.outbox_rearm(task=subscribers.DELIVER_TASK, items=items, settled=settled)
