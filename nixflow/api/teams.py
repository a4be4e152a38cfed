"""Teams, routing rules and the caller's availability through the API.

- ``/api/teams/``: agents list and read teams (members with the lead flag, assignment
  mode, cap); admins create, change and delete them, through the same services as the
  admin (one ``team.*`` event per change). ``members``, when sent, is the complete list.
- ``/api/routing-rules/``: admins only, ordered by position (the order they are tried).
- ``/api/me/``: the signed-in user with their ``availability``; agents ``PATCH``
  ``{"availability": "away"|"available"}`` to set theirs (requesters get 403).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nixflow import services
from nixflow.api.config_views import ConfigViewSet, ConfigWrites, config_schema
from nixflow.api.permissions import IsAdminOrAgentReadOnly, is_admin
from nixflow.api.serializers import MeSerializer
from nixflow.models import (
    AssignmentMode,
    Availability,
    Priority,
    Role,
    RoutingRule,
    Source,
    Team,
    TeamMembership,
    User,
    Workflow,
)
from nixflow.toolkit.auth import signed_in_user


class IsAdmin(BasePermission):
    """Admins (and superusers) only; agents and requesters get 403."""

    message = "Only admins can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_admin(request.user)


# --- Teams --------------------------------------------------------------------------------
class TeamMemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = TeamMembership
        fields = ["user", "username", "is_lead", "last_assigned_at"]
        read_only_fields = fields


class TeamSerializer(serializers.ModelSerializer):
    members = TeamMemberSerializer(source="memberships", many=True, read_only=True)
    # A string, not an EmailField: a team without an address answers "", which the
    # schema's format: email would call invalid.
    email = serializers.CharField(
        read_only=True,
        help_text="The team's own address (notices to the team go there); empty when none.",
    )

    class Meta:
        model = Team
        fields = [
            "id",
            "name",
            "email",
            "is_default",
            "assignment_mode",
            "max_open_per_agent",
            "reassign_when_away",
            "members",
            "created",
            "updated",
        ]
        read_only_fields = fields


class TeamMemberInputSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(role__in=[Role.AGENT, Role.ADMIN], is_active=True),
        help_text="An active agent's user id.",
    )
    is_lead = serializers.BooleanField(required=False, default=False)


class TeamWriteSerializer(serializers.Serializer):
    """A team as it should be; ``members``, when given, is the complete list."""

    name = serializers.CharField(max_length=100)
    email = serializers.EmailField(required=False, allow_blank=True)
    is_default = serializers.BooleanField(required=False)
    assignment_mode = serializers.ChoiceField(choices=AssignmentMode.choices, required=False)
    max_open_per_agent = serializers.IntegerField(
        min_value=1, max_value=100_000, required=False, allow_null=True
    )
    reassign_when_away = serializers.BooleanField(required=False)
    members = TeamMemberInputSerializer(many=True, required=False)


@config_schema(read=TeamSerializer, write=TeamWriteSerializer)
class TeamViewSet(ConfigViewSet[Team]):
    """Agents read teams; admins change them (``team.created/updated/deleted``)."""

    serializer_class = TeamSerializer
    write_serializer_class = TeamWriteSerializer
    writes = ConfigWrites(services.team_create, services.team_update, services.team_delete)
    permission_classes = [IsAuthenticated, IsAdminOrAgentReadOnly]
    filter_backends: list[Any] = []
    pagination_class = None  # a desk has a handful of teams
    conflicts = {
        "create": "Another team has the name or is the default team.",
        "destroy": "The team has tickets: move them to another team first.",
    }
    queryset = Team.objects.prefetch_related(
        Prefetch(
            "memberships",
            queryset=TeamMembership.objects.select_related("user").order_by("user__username"),
        )
    )

    def _arguments(self, data: dict[str, Any]) -> dict[str, Any]:
        # The services take the members apart from the team's fields; left out, a create
        # makes a team without members and an update keeps them as they are.
        if "members" not in data:
            return {}
        return {"members": [dict(member) for member in data.pop("members")]}


# --- Routing rules ---------------------------------------------------------------------------
class RoutingRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = RoutingRule
        fields = [
            "id",
            "name",
            "position",
            "is_active",
            "team",
            "workflow",
            "source",
            "origin",
            "priority",
            "requester_domain",
            "created",
            "updated",
        ]
        read_only_fields = fields


class RoutingRuleWriteSerializer(serializers.Serializer):
    """A rule: every condition left empty (or null) matches anything."""

    name = serializers.CharField(max_length=100)
    position = serializers.IntegerField(min_value=0, max_value=2_147_483_647, required=False)
    is_active = serializers.BooleanField(required=False)
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all())
    workflow = serializers.PrimaryKeyRelatedField(
        queryset=Workflow.objects.all(), required=False, allow_null=True
    )
    # A field named like Field.source: DRF takes it from the class body; the stubs object.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Source.choices, required=False, allow_blank=True
    )
    origin = serializers.CharField(max_length=100, required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, allow_blank=True)
    requester_domain = serializers.CharField(max_length=253, required=False, allow_blank=True)


@config_schema(read=RoutingRuleSerializer, write=RoutingRuleWriteSerializer)
class RoutingRuleViewSet(ConfigViewSet[RoutingRule]):
    """Admins only: the routing rules in the order they are tried."""

    serializer_class = RoutingRuleSerializer
    write_serializer_class = RoutingRuleWriteSerializer
    writes = ConfigWrites(
        services.routing_rule_create, services.routing_rule_update, services.routing_rule_delete
    )
    permission_classes = [IsAuthenticated, IsAdmin]
    filter_backends: list[Any] = []
    pagination_class = None
    queryset = RoutingRule.objects.order_by("position", "id")


# --- Me ------------------------------------------------------------------------------------
class MeWithAvailabilitySerializer(MeSerializer):
    class Meta(MeSerializer.Meta):
        fields = [*MeSerializer.Meta.fields, "availability"]
        read_only_fields = fields


class AvailabilitySerializer(serializers.Serializer):
    availability = serializers.ChoiceField(choices=Availability.choices)


class MeView(APIView):
    """The authenticated user (lets an integration confirm whose token it holds), with
    their availability; agents set theirs with PATCH."""

    permission_classes = [IsAuthenticated]

    def get_queryset(self) -> QuerySet[User]:  # for the schema generator's path typing
        return User.objects.none()

    @extend_schema(responses=MeWithAvailabilitySerializer)
    def get(self, request: Request) -> Response:
        return Response(MeWithAvailabilitySerializer(request.user).data)

    @extend_schema(request=AvailabilitySerializer, responses=MeWithAvailabilitySerializer)
    def patch(self, request: Request) -> Response:
        serializer = AvailabilitySerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = signed_in_user(request)
        if "availability" in serializer.validated_data:  # a PATCH without it changes nothing
            user = services.user_set_availability(
                user=user, availability=serializer.validated_data["availability"], actor=user
            )
        return Response(MeWithAvailabilitySerializer(user).data)
