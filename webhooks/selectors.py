"""Reads of the webhooks app."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from webhooks.models import Delivery, Endpoint


def endpoints() -> QuerySet[Endpoint]:
    return Endpoint.objects.select_related("created_by").order_by("name", "id")


def deliveries_of(*, endpoint: Endpoint) -> QuerySet[Delivery]:
    """The endpoint's delivery log, newest first (along ``webhooks_delivery_log``)."""
    return Delivery.objects.filter(endpoint=endpoint).order_by("-id")


def newest_delivery_ids() -> list[int]:
    """Each endpoint's newest delivery id (one probe of ``webhooks_delivery_log`` per
    endpoint; ``None`` for an endpoint without deliveries)."""
    newest = Delivery.objects.filter(endpoint=OuterRef("pk")).order_by("-id").values("id")[:1]
    return list(
        Endpoint.objects.order_by()
        .annotate(newest=Subquery(newest))
        .values_list("newest", flat=True)
    )
