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

from nixflow.api.parsers import JSONParser
from nixflow.api.permissions import IsAgent
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.filters import StrictBooleanFilter
from notifications import selectors, services
from notifications.api.serializers import (
    MarkedSerializer,
    NotificationSerializer,
    PreferencesPatchSerializer,
    PreferencesSerializer,
)
from notifications.models import Notification


class NotificationFilter(django_filters.FilterSet):
    unread = StrictBooleanFilter(
        field_name="read_at", lookup_expr="isnull", label="`true`: only unread; `false`: only read."
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
    # JSON only: a list of rows has no form encoding.
    parser_classes = [JSONParser]

    def _current(self, request: Request) -> Response:
        rows = selectors.preference_table(user=signed_in_user(request))
        return Response(PreferencesSerializer({"preferences": rows}).data)

    @extend_schema(responses=PreferencesSerializer)
    def get(self, request: Request) -> Response:
        return self._current(request)

    def _write(
        self, request: Request, serializer: PreferencesSerializer, *, reset: bool
    ) -> Response:
        serializer.is_valid(raise_exception=True)
        user = signed_in_user(request)
        choices = serializer.choices()
        if reset:  # a PUT: what it leaves out goes back to the default
            choices = {**services.default_choices(), **choices}
        services.notification_preferences_update(actor=user, user=user, choices=choices)
        return self._current(request)

    @extend_schema(request=PreferencesSerializer, responses=PreferencesSerializer)
    def put(self, request: Request) -> Response:
        """Set every kind's preferences; kinds left out go back to their defaults."""
        return self._write(request, PreferencesSerializer(data=request.data), reset=True)

    @extend_schema(request=PreferencesPatchSerializer, responses=PreferencesSerializer)
    def patch(self, request: Request) -> Response:
        """Change some kinds' preferences, and any channel of each; the others stay."""
        return self._write(request, PreferencesPatchSerializer(data=request.data), reset=False)
