from __future__ import annotations

from typing import Any

import django_filters
from rest_framework import viewsets
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from eventlog.api.serializers import EventSerializer
from eventlog.models import EventLog
from eventlog.renamed import names_of
from nixflow.api.pagination import KeysetCursorPagination
from nixflow.toolkit.filters import UTCDateTimeFilter


class IsAgent(BasePermission):
    message = "Only agents and admins can read the event log."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and getattr(request.user, "is_agent", False))


class EventCursorPagination(KeysetCursorPagination):
    """Newest first by id. A cursor, not page numbers: no COUNT over millions of rows,
    and every page is an index range scan however deep the client pages. A forged
    cursor is a 400 (the shared keyset pagination checks its values)."""

    ordering = ("-id",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class EventFilter(django_filters.FilterSet):
    type = django_filters.CharFilter(
        field_name="type",
        method="filter_type",
        help_text="An event type; events recorded under a former name of it are included.",
    )
    type_prefix = django_filters.CharFilter(field_name="type", lookup_expr="startswith")
    subject_app = django_filters.CharFilter()
    subject_model = django_filters.CharFilter()
    subject_id = django_filters.CharFilter()
    ticket = django_filters.CharFilter(field_name="ticket_key", method="filter_ticket")
    actor = django_filters.NumberFilter(field_name="actor_id")
    correlation_id = django_filters.UUIDFilter()
    occurred_after = UTCDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UTCDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = EventLog
        fields: list[str] = []

    def filter_type(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(type__in=names_of(value))

    def filter_ticket(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(ticket_key=value.upper())


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail, read-only: nothing in the API (or anywhere) changes an event."""

    queryset = EventLog.objects.defer("row_hash").select_related("actor")
    serializer_class = EventSerializer
    permission_classes = [IsAgent]
    pagination_class = EventCursorPagination
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]
    filterset_class = EventFilter
