"""Automation rules through the API.

- ``/api/automation/rules/``: agents list and read the rules (in the order they run:
  trigger, position); admins create, change and delete them through the same services
  as the admin (one ``automation_rule.*`` event per change). ``conditions`` and
  ``actions`` are checked by the engine's validators: a refusal is a 400 under the
  list's name, saying which row ("Condition 2: …"). ``version`` is the server's.
- ``POST /api/automation/rules/dry-run/`` (a rule as the API takes it, unsaved) and
  ``POST /api/automation/rules/{id}/dry-run/`` (a saved rule): how many tickets created
  in the last ``days`` days (30 unless asked) the rule would have matched, with up to
  ten examples. Admins only, like writing rules; nothing is saved or recorded.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from automation import services
from automation.api.serializers import (
    DryRunSerializer,
    RuleMatchingSerializer,
    RuleSerializer,
    RuleWriteSerializer,
)
from automation.dry_run import rule_dry_run
from automation.models import Rule
from nixflow.api.config_views import ConfigViewSet, ConfigWrites, config_schema
from nixflow.api.permissions import IsAdminOrAgentReadOnly

MAX_DAYS = 366

DAYS = OpenApiParameter(
    "days",
    {"type": "integer", "minimum": 1, "maximum": MAX_DAYS},
    OpenApiParameter.QUERY,
    required=False,
    description=f"The period: tickets created in the last this many days (1 to {MAX_DAYS}; "
    "30 when not given).",
)


class DaysSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, required=False, default=30)


@config_schema(read=RuleSerializer, write=RuleWriteSerializer)
class RuleViewSet(ConfigViewSet[Rule]):
    """Automation rules: agents read them, admins write and dry-run them."""

    serializer_class = RuleSerializer
    write_serializer_class = RuleWriteSerializer
    writes = ConfigWrites(
        create=services.rule_create, update=services.rule_update, delete=services.rule_delete
    )
    permission_classes = [IsAuthenticated, IsAdminOrAgentReadOnly]
    filter_backends: list[Any] = []
    pagination_class = None  # a desk has tens of rules, read together in their order
    queryset = Rule.objects.order_by("trigger", "position", "id")

    def get_queryset(self) -> QuerySet[Rule]:
        return Rule.objects.order_by("trigger", "position", "id")

    def _validated(
        self, request: Request, *, partial: bool, row: Rule | None = None
    ) -> dict[str, Any]:
        # A change is checked against the rule it changes: the name's UniqueValidator
        # leaves the rule itself out (a PUT that keeps the name is not "already exists").
        serializer = RuleWriteSerializer(row, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    # --- Dry runs ---------------------------------------------------------------------------
    def _days(self, request: Request) -> int:
        query = DaysSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return int(query.validated_data["days"])

    def _answer(self, result: Any) -> Response:
        return Response(DryRunSerializer(result).data)

    @extend_schema(
        request=RuleMatchingSerializer,
        responses=DryRunSerializer,
        parameters=[DAYS],
        summary="Dry-run an unsaved rule",
        operation_id="automation_rules_dry_run_create",
    )
    @action(detail=False, methods=["post"], url_path="dry-run", url_name="dry-run")
    def dry_run(self, request: Request) -> Response:
        self._require_admin(request)
        days = self._days(request)
        serializer = RuleMatchingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer(rule_dry_run(rule_or_data=serializer.validated_data, days=days))

    @extend_schema(
        request=None,
        responses=DryRunSerializer,
        parameters=[DAYS],
        summary="Dry-run a saved rule",
        # Both dry runs are the action "dry-run": the saved rule's gets its own id.
        operation_id="automation_rules_saved_dry_run_create",
    )
    @action(detail=True, methods=["post"], url_path="dry-run", url_name="dry-run-saved")
    def dry_run_saved(self, request: Request, pk: str) -> Response:
        self._require_admin(request)
        rule = self.get_object()
        return self._answer(rule_dry_run(rule_or_data=rule, days=self._days(request)))

    def _require_admin(self, request: Request) -> None:
        # POST is a write to IsAdminOrAgentReadOnly already: agents get its 403. Said here
        # too, since a dry run reads tickets and should not open up if the class changes.
        from nixflow.api.permissions import is_admin

        if not is_admin(request.user):
            self.permission_denied(request, message="Only admins can dry-run rules.")
