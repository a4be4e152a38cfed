"""``/api/webhooks/``: webhook endpoints and their delivery logs, for admins only.

Agents and requesters get 403, anonymous clients 401: an endpoint's URL may be a
credential, and its deliveries carry every kind of event. ``POST`` answers the new
endpoint with its ``secret``, the one time it is shown (``rotate-secret`` gives a new
one, shown once too). ``deliveries/`` is the log, newest first, by keyset cursor;
``deliveries/{id}/redeliver/`` sends one again with the same ``webhook-id``; ``test/``
sends a ``webhook.tested`` event to this endpoint only.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from nixflow.api.config_views import ConfigViewSet, ConfigWrites, config_schema
from nixflow.api.pagination import KeysetCursorPagination
from nixflow.api.teams import IsAdmin
from nixflow.toolkit.auth import signed_in_user
from webhooks import selectors, services
from webhooks.api.serializers import (
    DeliverySerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
    EndpointWriteSerializer,
)
from webhooks.models import Delivery, Endpoint


class IsAdminForWebhooks(IsAdmin):
    message = "Only admins can manage webhooks."


class DeliveryCursorPagination(KeysetCursorPagination):
    """Newest first, along the webhooks_delivery_log index (endpoint, -id)."""

    ordering = ("-id",)
    page_size = 50


@config_schema(
    read=EndpointSerializer, write=EndpointWriteSerializer, created=EndpointWithSecretSerializer
)
class EndpointViewSet(ConfigViewSet[Endpoint]):
    """Webhook endpoints (``webhook.created/updated/deleted/disabled`` events)."""

    serializer_class = EndpointSerializer
    write_serializer_class = EndpointWriteSerializer
    writes = ConfigWrites(
        services.endpoint_create, services.endpoint_update, services.endpoint_delete
    )
    permission_classes = [IsAuthenticated, IsAdminForWebhooks]
    filter_backends: list[Any] = []
    pagination_class = None  # a desk has a handful of endpoints
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self) -> QuerySet[Endpoint]:
        return selectors.endpoints()

    def _with_secret(self, endpoint: Endpoint, secret: str, code: int) -> Response:
        serializer = EndpointWithSecretSerializer(
            self.get_queryset().get(pk=endpoint.pk), context={"secret": secret}
        )
        return Response(serializer.data, code)

    def _created(self, created: tuple[Endpoint, str]) -> Response:
        # endpoint_create answers the new endpoint and its secret, shown this once.
        endpoint, secret = created
        return self._with_secret(endpoint, secret, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: EndpointWithSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        """A new secret, shown this once; later deliveries are signed with it."""
        endpoint, secret = services.endpoint_rotate_secret(
            endpoint=self.get_object(), actor=signed_in_user(request)
        )
        return self._with_secret(endpoint, secret, status.HTTP_200_OK)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        """Queue a ``webhook.tested`` event for this endpoint; its delivery (409 when the
        endpoint is disabled)."""
        delivery = services.endpoint_send_test(
            endpoint=self.get_object(), actor=signed_in_user(request)
        )
        return Response(DeliverySerializer(delivery).data, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=DeliverySerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        pagination_class=DeliveryCursorPagination,
        serializer_class=DeliverySerializer,
    )
    def deliveries(self, request: Request, pk: str) -> Response:
        """The endpoint's delivery log, newest first."""
        rows = selectors.deliveries_of(endpoint=self.get_object())
        page = self.paginate_queryset(rows)  # type: ignore[arg-type]  # another model's rows
        data = DeliverySerializer(page if page is not None else rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[0-9]{1,18})/redeliver",
        url_name="redeliver",
    )
    def redeliver(self, request: Request, pk: str, delivery_id: str) -> Response:
        """Send the delivery again with the same ``webhook-id`` and body (409 while a
        worker is sending it)."""
        endpoint = self.get_object()
        delivery = get_object_or_404(Delivery, pk=int(delivery_id), endpoint=endpoint)
        delivery = services.delivery_redeliver(delivery=delivery, actor=signed_in_user(request))
        return Response(DeliverySerializer(delivery).data, status.HTTP_202_ACCEPTED)
