"""Celery tasks of the event log: thin, they load rows and call one function."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from eventlog import sealing, subscribers
from eventlog.models import Delivery, EventLog


@shared_task(
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def deliver_event(event_id: int) -> list[str]:
    """Hand one event to its subscribers. Retries with backoff: a handler's failure is
    usually transient (a mail server, a lock); ``redeliver_missed`` catches the rest."""
    event = EventLog.objects.filter(pk=event_id).first()
    if event is None:
        return []  # queued by a transaction that then rolled back: nothing happened
    return subscribers.deliver(event)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def seal_events() -> int:
    """Seal the committed events; scheduled by beat every minute."""
    return len(sealing.seal_pending())


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def redeliver_missed() -> int:
    """Re-queue events of the last day that a subscriber has not had (a lost message, a
    handler that kept failing). Scans by state, so a missed run is simply caught up."""
    now = timezone.now()
    window_start = now - timedelta(seconds=settings.EVENTLOG_REDELIVERY_WINDOW_SECONDS)
    settled = now - timedelta(seconds=60)  # leave fresh events to their own task
    queued: set[int] = set()
    for event_type in subscribers.subscribed_types():
        for subscriber in subscribers.subscribers_of(event_type):
            missed = (
                EventLog.objects.filter(
                    type=event_type, occurred_at__gte=window_start, occurred_at__lt=settled
                )
                .exclude(
                    Exists(
                        Delivery.objects.filter(event=OuterRef("pk"), subscriber=subscriber.name)
                    )
                )
                .values_list("pk", flat=True)[:10_000]
            )
            queued.update(missed)
    for event_id in sorted(queued):
        deliver_event.delay(event_id)
    return len(queued)
