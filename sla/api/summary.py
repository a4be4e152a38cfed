"""``GET /api/sla/summary/``: the SLA dashboard's figures as JSON, for agents.

The same ``sla.selectors.sla_summary`` the admin dashboard renders, passed through
read-only serializers that say its shape (so the OpenAPI schema documents every field):
datetimes in ISO 8601, dates as ``YYYY-MM-DD``, durations in seconds, compliance as a
percentage (null when no clock was decided in the window).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sla.api.views import IsAgent
from sla.selectors import sla_summary


class SLATallySerializer(serializers.Serializer):
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    compliance_percent = serializers.FloatField(
        allow_null=True, help_text="met ÷ (met + breached) x 100; null when both are 0."
    )


class SLAWindowsSerializer(serializers.Serializer):
    last_7_days = SLATallySerializer()
    last_30_days = SLATallySerializer()


class SLAMetricComplianceSerializer(SLAWindowsSerializer):
    metric_type = serializers.CharField()
    # A field named "label": DRF's metaclass takes declared fields off the class, so it
    # never shadows Field.label, which the stubs compare it with.
    label = serializers.CharField()  # type: ignore[assignment]


class SLAPolicyComplianceSerializer(SLAWindowsSerializer):
    policy_id = serializers.IntegerField()
    policy = serializers.CharField()


class SLAComplianceSerializer(serializers.Serializer):
    overall = SLAWindowsSerializer()
    by_metric = SLAMetricComplianceSerializer(many=True)
    by_policy = SLAPolicyComplianceSerializer(many=True)


# Response serializers below are alike in shape (ids, ticket key and title): rows of different
# answers.
class SLASummaryBreachSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ticket_id = serializers.IntegerField()
    ticket_key = serializers.CharField()
    ticket_title = serializers.CharField()
    breach_type = serializers.CharField()
    policy_id = serializers.IntegerField()
    policy = serializers.CharField()
    breached_at = serializers.DateTimeField()
    age_seconds = serializers.IntegerField()


class SLAUnacknowledgedSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    newest = SLASummaryBreachSerializer(many=True)


class SLAAtRiskClockSerializer(serializers.Serializer):
    metric_id = serializers.IntegerField()
    ticket_id = serializers.IntegerField()
    ticket_key = serializers.CharField()
    ticket_title = serializers.CharField()
    priority = serializers.CharField()
    assignee = serializers.CharField(allow_null=True, help_text="Username.")
    metric_type = serializers.CharField()
    status = serializers.CharField()
    policy_id = serializers.IntegerField()
    policy = serializers.CharField()
    deadline = serializers.DateTimeField()
    time_left_seconds = serializers.IntegerField(
        help_text="Negative when the deadline passed before the monitor marked the breach."
    )


class SLAAtRiskSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    clocks = SLAAtRiskClockSerializer(many=True)


class SLAMediansSerializer(serializers.Serializer):
    first_response = serializers.FloatField(allow_null=True)
    resolution = serializers.FloatField(allow_null=True)


class SLABreachDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    count = serializers.IntegerField()


class SLASummarySerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    compliance = SLAComplianceSerializer()
    unacknowledged_breaches = SLAUnacknowledgedSerializer()
    at_risk = SLAAtRiskSerializer()
    median_seconds = SLAMediansSerializer(
        help_text="Median business seconds of clocks completed in the last 30 days."
    )
    breaches_per_day = SLABreachDaySerializer(
        many=True, help_text="The last 30 UTC days, today included, oldest first."
    )


class SLASummaryView(APIView):
    """The SLA dashboard's figures: compliance over 7 and 30 days (overall, per metric
    type, per policy), unacknowledged breaches, clocks at risk, median first-response
    and resolution times, and breaches per day."""

    permission_classes = [IsAuthenticated, IsAgent]

    @extend_schema(responses=SLASummarySerializer, summary="SLA dashboard figures")
    def get(self, request: Request) -> Response:
        return Response(SLASummarySerializer(sla_summary()).data)
