"""The notifications API: each agent's own notifications and preferences.

Agents and admins only (requesters get 403: they hear from the desk by customer mail).
Every caller sees and marks only their own notifications: another agent's id is a 404,
as for a row that does not exist.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nixflow.api.permissions import IsAgent
from nixflow.toolkit.auth import signed_in_user
from notifications import selectors, services
from notifications.api.serializers import (
    MarkedSerializer,
    NotificationSerializer,
    PreferencesSerializer,
)
from notifications.models import Notification


class NotificationFilter(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(
        field_name="read_at", lookup_expr="isnull", help_text="true: only unread; false: only read."
    )

    class Meta:
        model = Notification
        fields = ["unread"]


class IsAgentWithNotifications(IsAgent):
    message = "Only agents and admins receive notifications."


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The caller's notifications, newest first (those listed in the admin; ones only
    mailed, by preference, are not listed)."""

    serializer_class = NotificationSerializer
    permission_classes = [IsAgentWithNotifications]
    filter_backends = [DjangoFilterBackend]
    filterset_class = NotificationFilter

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):  # the schema, built without a user
            return Notification.objects.none()
        return selectors.notification_list(user=signed_in_user(self.request))

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def read(self, request: Request, pk: str) -> Response:
        """Mark one notification read (its first reading time is kept)."""
        notification = services.notification_mark_read(
            actor=signed_in_user(request), notification=self.get_object()
        )
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def unread(self, request: Request, pk: str) -> Response:
        """Mark one notification unread again."""
        notification = services.notification_mark_unread(
            actor=signed_in_user(request), notification=self.get_object()
        )
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses=MarkedSerializer)
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def read_all(self, request: Request) -> Response:
        """Mark all the caller's notifications read; how many were unread."""
        marked = services.notification_mark_many(actor=signed_in_user(request), ids=None, read=True)
        return Response({"marked": marked})


class NotificationPreferencesView(APIView):
    """The caller's preferences: for each kind, whether it is listed in the admin and
    whether it is mailed. Defaults: everything listed; mailed for assigned, mentioned,
    requester replied and SLA breached."""

    permission_classes = [IsAgentWithNotifications]
    serializer_class = PreferencesSerializer

    def _current(self, request: Request) -> Response:
        rows = selectors.preference_table(user=signed_in_user(request))
        return Response(PreferencesSerializer({"preferences": rows}).data)

    @extend_schema(responses=PreferencesSerializer)
    def get(self, request: Request) -> Response:
        return self._current(request)

    def _write(self, request: Request, *, partial: bool) -> Response:
        serializer = PreferencesSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        user = signed_in_user(request)
        services.notification_preferences_update(
            actor=user, user=user, choices=serializer.choices()
        )
        return self._current(request)

    @extend_schema(request=PreferencesSerializer, responses=PreferencesSerializer)
    def put(self, request: Request) -> Response:
        """Set every kind's preferences."""
        return self._write(request, partial=False)

    @extend_schema(request=PreferencesSerializer, responses=PreferencesSerializer)
    def patch(self, request: Request) -> Response:
        """Change some kinds' preferences; the others stay."""
        return self._write(request, partial=True)
