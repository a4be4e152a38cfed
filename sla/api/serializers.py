"""The shapes of the SLA API: what it reads and what it accepts.

Serializers validate the shape of a request (types, choices, nested rows) and render
responses; they never write. Policies and calendars are written by their services
(``sla.services.policies``/``calendars``, called by the views), which also hold the
rules that span fields and rows (one target per priority and metric, each holiday date
once, a holiday country the holidays package knows) and record the event. Nested rows
(targets; working intervals and holidays) sent on a write replace the stored ones as a
whole. Clocks and breaches are read-only; a breach is acknowledged through
``sla.services.breach_acknowledge`` (see the view).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nixflow.api.serializers import UserSummarySerializer
from nixflow.models import Priority, Source, Ticket
from sla.models import (
    BusinessCalendar,
    CalendarHoliday,
    SLABreach,
    SLABreachType,
    SLAMetric,
    SLAPolicy,
    SLATarget,
    WorkingInterval,
    validate_time_zone,
)
from sla.services import CALENDAR_FIELDS, POLICY_FIELDS


# Choice sets that the core API already names (PriorityEnum, SourceEnum), or that equal
# another one value for value (breach types are metric types), would get a second name
# from drf-spectacular's enum naming, which --fail-on-warn refuses. These fields are
# their own schema components instead, so the schema needs no ENUM_NAME_OVERRIDES.
@extend_schema_field(
    {"type": "string", "enum": list(Priority.values)}, component_name="SLAConditionPriorityEnum"
)
class ConditionPriorityField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Priority.choices, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": list(Source.values)}, component_name="SLAConditionSourceEnum"
)
class ConditionSourceField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Source.choices, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": list(SLABreachType.values)}, component_name="SLABreachTypeEnum"
)
class BreachTypeField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=SLABreachType.choices, **kwargs)


# --- Policies ---------------------------------------------------------------------------
class SLATargetSerializer(serializers.ModelSerializer):
    class Meta:
        model = SLATarget
        fields = ["priority", "metric_type", "minutes"]
        extra_kwargs = {"minutes": {"help_text": "Business minutes (at least 1)."}}


class SLAPolicySerializer(serializers.ModelSerializer):
    targets = SLATargetSerializer(
        many=True,
        required=False,
        help_text="One per (priority, metric_type). Sent on a write, it replaces every "
        "target of the policy; left out of a PATCH, the targets stay as they are.",
    )
    priorities = serializers.ListField(
        child=ConditionPriorityField(),
        required=False,
        help_text="Only tickets of these priorities (empty: any priority).",
    )
    sources = serializers.ListField(
        child=ConditionSourceField(),
        required=False,
        help_text="Only tickets from these sources (empty: any source).",
    )

    class Meta:
        model = SLAPolicy
        # The fields the policy services take, as the API shows and accepts them.
        fields = ["id", *POLICY_FIELDS, "targets", "updated"]
        read_only_fields = ["id", "updated"]


# --- Calendars --------------------------------------------------------------------------
class WorkingIntervalSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkingInterval
        fields = ["weekday", "start", "end"]
        extra_kwargs = {
            "weekday": {"help_text": "0 = Monday ... 6 = Sunday."},
            "end": {
                "help_text": "Local time; at or before `start` it runs past midnight "
                "(22:00-06:00), and 00:00-00:00 is the whole day."
            },
        }


class CalendarHolidaySerializer(serializers.ModelSerializer):
    class Meta:
        model = CalendarHoliday
        fields = ["date", "name"]


# The zones the model's validator accepts, listed so that clients (and the schema) know
# them: any other text is a 400.
@extend_schema_field(
    {"type": "string", "enum": sorted(zoneinfo.available_timezones()), "example": "Europe/Berlin"}
)
class TimeZoneField(serializers.CharField):
    pass


# Nested-rows declaration alike the policy serializer's: other rows and help texts.
class BusinessCalendarSerializer(serializers.ModelSerializer):
    time_zone = TimeZoneField(
        max_length=64,
        required=False,
        validators=[validate_time_zone],
        help_text="IANA time zone, e.g. Europe/Berlin.",
    )
    intervals = WorkingIntervalSerializer(
        many=True,
        required=False,
        help_text="Working hours; none at all means 24x7. Sent on a write, they replace "
        "every interval of the calendar.",
    )
    holidays = CalendarHolidaySerializer(
        many=True,
        required=False,
        help_text="Days off besides the public holidays of `holiday_country`. Sent on a "
        "write, they replace every listed holiday of the calendar.",
    )

    class Meta:
        model = BusinessCalendar
        fields = ["id", *CALENDAR_FIELDS, "intervals", "holidays", "updated"]
        read_only_fields = ["id", "updated"]


# --- Clocks and breaches (read-only) ----------------------------------------------------
@extend_schema_field({"type": "string", "example": "NF-12"})
class TicketKeyField(serializers.Field):
    """The ticket's key from ``ticket_id``: no join to the ticket table."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("source", "ticket_id")
        kwargs.setdefault("help_text", "The ticket's key, e.g. NF-12.")
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: int) -> str:
        return Ticket.key_for(value)


# Brief read-only serializers, alike the core's and knowledge's: the columns of another model.
class SLAPolicySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = SLAPolicy
        fields = ["id", "name"]
        read_only_fields = fields


class SLAMetricSerializer(serializers.ModelSerializer):
    ticket = TicketKeyField()
    policy = SLAPolicySummarySerializer(read_only=True)

    class Meta:
        model = SLAMetric
        fields = [
            "id",
            "ticket",
            "policy",
            "metric_type",
            "status",
            "target_seconds",
            "started_at",
            "deadline",
            "warning_at",
            "paused_at",
            "elapsed_seconds",
            "paused_seconds",
            "completed_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "deadline": {"help_text": "When it breaches; null while paused or completed."},
            "elapsed_seconds": {
                "help_text": "Business seconds used up to the last resume (or completion)."
            },
        }


class SLABreachSerializer(serializers.ModelSerializer):
    ticket = TicketKeyField()
    policy = SLAPolicySummarySerializer(read_only=True)
    breach_type = BreachTypeField(read_only=True)
    acknowledged_by = UserSummarySerializer(read_only=True, allow_null=True)
    is_acknowledged = serializers.SerializerMethodField()

    class Meta:
        model = SLABreach
        fields = [
            "id",
            "ticket",
            "metric",
            "policy",
            "breach_type",
            "breached_at",
            "is_acknowledged",
            "acknowledged_by",
            "acknowledged_at",
            "acknowledgement_note",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_acknowledged(self, breach: SLABreach) -> bool:
        return breach.acknowledged_at is not None


class BreachAcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Why it happened or what was done about it.",
    )
