"""Celery tasks of the webhooks app: thin, they load rows and call one function.

``deliver_endpoint`` lives in ``webhooks.delivery`` (imported here so that the worker's
autodiscovery registers it). ``deliver_due`` also purges old finished deliveries, at most
once every ``PURGE_EVERY_SECONDS`` across all workers (a token in the shared cache).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError, OperationalError
from django.db.models import Q
from django.utils import timezone

from webhooks import delivery, services
from webhooks.delivery import deliver_endpoint
from webhooks.models import OPEN, Delivery

__all__ = ["deliver_due", "deliver_endpoint", "purge_if_due"]

logger = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600
PURGE_CACHE_KEY = "webhooks:deliveries-purged"


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def deliver_due() -> int:
    """The safety net (beat, every minute): queue a run for every active endpoint with a
    delivery that is due and held by no live lease, whatever became of the message that
    should have woken a worker for it; then the retention's purge when it is due. The
    number of endpoints queued."""
    now = timezone.now()
    endpoint_ids = list(
        Delivery.objects.filter(status__in=OPEN, endpoint__is_active=True, next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    for endpoint_id in endpoint_ids:
        delivery.queue(endpoint_id)
    purge_if_due()
    return len(endpoint_ids)


def purge_if_due() -> int | None:
    """Purge old finished deliveries (``services.deliveries_purge``) unless a purge ran
    in the last ``PURGE_EVERY_SECONDS``; the number deleted, or None when not due. A
    failed purge is logged and tried again after the interval: the sweep stands."""
    if services.retention_days() <= 0 or not cache.add(PURGE_CACHE_KEY, 1, PURGE_EVERY_SECONDS):
        return None
    try:
        deleted = services.deliveries_purge()
    except DatabaseError as error:
        logger.warning("Webhook deliveries not purged: %s", error)
        return None
    if deleted:
        logger.info("Purged %s finished webhook deliveries", deleted)
    return deleted
