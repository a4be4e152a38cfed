"""The SLA API. Agents read everything; admins (and superusers) change the configuration
(policies, calendars); requesters get 403 throughout: SLA figures are internal.

Clock and breach lists can grow as large as the ticket table, so they use the core's
keyset cursor pages (no COUNT, no OFFSET) in an order an index serves; the configuration
lists are short and use the default page numbers.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django.db.models import Model
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from nixflow.api.pagination import KeysetCursorPagination
from nixflow.api.permissions import is_admin, is_agent
from nixflow.toolkit.auth import signed_in_user
from sla import services
from sla.api.filters import SLABreachFilter, SLAMetricFilter
from sla.api.serializers import (
    BreachAcknowledgeSerializer,
    BusinessCalendarSerializer,
    SLABreachSerializer,
    SLAMetricSerializer,
    SLAPolicySerializer,
)
from sla.models import BusinessCalendar, SLABreach, SLAMetric, SLAPolicy


class IsAgent(BasePermission):
    message = "Only agents and admins can see SLA clocks and breaches."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_agent(request.user)


class AgentsReadAdminsWrite(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            self.message = "Only agents and admins can see the SLA configuration."
            return is_agent(request.user)
        self.message = "Only admins can change the SLA configuration."
        return is_admin(request.user)


_Config = TypeVar("_Config", bound=Model)


class ConfigurationViewSet(viewsets.ModelViewSet[_Config]):
    """A configuration model with nested rows: the serializer validates the request and
    renders the response, the model's services write it (and record its event). A
    service's refusal is a 400 with its message (a rule across rows), or a 409 (a row in
    use that cannot be deleted)."""

    permission_classes = [AgentsReadAdminsWrite]
    filter_backends: list[Any] = []
    nested: tuple[str, ...] = ()  # the lists of rows a write may replace
    writes: services.ConfigurationWrites  # the services, the same the admin calls

    def perform_create(self, serializer: BaseSerializer[_Config]) -> None:
        actor = signed_in_user(self.request)
        # The nested rows are in the validated data, as the create services take them.
        data = dict(serializer.validated_data)
        serializer.instance = cast(_Config, self.writes.create(actor=actor, data=data, rows={}))

    def perform_update(self, serializer: BaseSerializer[_Config]) -> None:
        data = dict(serializer.validated_data)
        # Left out (a PATCH): None, which keeps the stored rows.
        rows = {name: data.pop(name, None) for name in self.nested}
        instance = cast(_Config, serializer.instance)
        actor = signed_in_user(self.request)
        updated = self.writes.update(row=instance, actor=actor, data=data, rows=rows)
        serializer.instance = cast(_Config, updated)

    def perform_destroy(self, instance: _Config) -> None:
        self.writes.delete(row=instance, actor=signed_in_user(self.request))


class SLAPolicyViewSet(ConfigurationViewSet[SLAPolicy]):
    """SLA policies with their targets. A policy applies to the tickets its conditions
    match (empty: any), the first active one by ``order``; its targets give the business
    minutes each metric may take per priority. A policy that clocks refer to cannot be
    deleted (409): deactivate it instead."""

    conflicts = {"destroy": "Clocks refer to the policy: deactivate it instead."}

    queryset = SLAPolicy.objects.prefetch_related("targets")
    serializer_class = SLAPolicySerializer
    nested = ("targets",)
    writes = services.POLICY_WRITES


class BusinessCalendarViewSet(ConfigurationViewSet[BusinessCalendar]):
    """Business calendars: time zone, working hours per weekday (none: 24x7) and holidays
    (listed dates plus the public holidays of a country). A calendar that policies use
    cannot be deleted (409)."""

    conflicts = {"destroy": "Policies use the calendar."}

    queryset = BusinessCalendar.objects.prefetch_related("intervals", "holidays")
    serializer_class = BusinessCalendarSerializer
    nested = ("intervals", "holidays")
    writes = services.CALENDAR_WRITES


class SLAMetricCursorPagination(KeysetCursorPagination):
    """Newest clocks first, by primary key."""

    ordering = ("-id",)
    page_size = 50


class SLABreachCursorPagination(KeysetCursorPagination):
    """Latest breaches first: the sla_breach_time index on ``-breached_at``, then id."""

    ordering = ("-breached_at", "-id")
    page_size = 50


class SLAMetricViewSet(viewsets.ReadOnlyModelViewSet):
    """SLA clocks on tickets (one per metric started), newest first, one cursor page at
    a time: follow ``next`` and ``previous``."""

    # One query per page whatever its size: the policy's name comes along in a join;
    # the ticket key needs only ticket_id.
    queryset = SLAMetric.objects.select_related("policy")
    serializer_class = SLAMetricSerializer
    permission_classes = [IsAgent]
    pagination_class = SLAMetricCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = SLAMetricFilter


class SLABreachViewSet(viewsets.ReadOnlyModelViewSet):
    """SLA breaches, latest first, one cursor page at a time. Each clock breaches at most
    once; a breach is acknowledged once, with a note."""

    queryset = SLABreach.objects.select_related("policy", "acknowledged_by")
    serializer_class = SLABreachSerializer
    permission_classes = [IsAgent]
    pagination_class = SLABreachCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = SLABreachFilter
    conflicts = {"acknowledge": "Already acknowledged; the message names by whom and when."}

    @extend_schema(request=BreachAcknowledgeSerializer, responses=SLABreachSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def acknowledge(self, request: Request, pk: str) -> Response:
        """Record that the caller has seen the breach, when, and why. Only once: a second
        acknowledgement is refused (409) naming the first, whose note is kept."""
        breach = self.get_object()
        serializer = BreachAcknowledgeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.breach_acknowledge(
            breach=breach, actor=signed_in_user(request), note=serializer.validated_data["note"]
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=breach.pk)).data)
