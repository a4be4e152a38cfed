"""What the SLA API reads and writes.

Policies and calendars are configuration, not domain state: no history, no events, no
clocks change when they are saved (running clocks keep the deadline they were given).
Their serializers therefore save themselves, as plain ModelSerializer CRUD does, with
their nested rows (targets; working intervals and holidays) replaced as a whole in the
same transaction. Clocks and breaches are read-only here; a breach is acknowledged
through ``sla.services.breach_acknowledge`` (see the view).
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nixflow.api.serializers import UserSummarySerializer
from nixflow.models import TICKET_KEY_PREFIX, Priority, Source
from sla.models import (
    BusinessCalendar,
    CalendarHoliday,
    SLABreach,
    SLABreachType,
    SLAMetric,
    SLAPolicy,
    SLATarget,
    WorkingInterval,
)


def _duplicates(values: list[Any]) -> list[Any]:
    return [value for value, count in Counter(values).items() if count > 1]


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
        fields = [
            "id",
            "name",
            "order",
            "is_active",
            "workflow",
            "priorities",
            "sources",
            "calendar",
            "warning_threshold",
            "escalation_email",
            "targets",
            "updated",
        ]
        read_only_fields = ["id", "updated"]

    def validate_priorities(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def validate_sources(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def validate_targets(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        twice = _duplicates([(t["priority"], t["metric_type"]) for t in value])
        if twice:
            named = ", ".join(f"{priority}/{metric_type}" for priority, metric_type in twice)
            raise serializers.ValidationError(
                f"More than one target for {named}: give each priority and metric one target."
            )
        return value

    @transaction.atomic
    def create(self, validated_data: dict[str, Any]) -> SLAPolicy:
        targets = validated_data.pop("targets", [])
        policy = SLAPolicy.objects.create(**validated_data)
        SLATarget.objects.bulk_create(SLATarget(policy=policy, **t) for t in targets)
        return policy

    @transaction.atomic
    def update(self, instance: SLAPolicy, validated_data: dict[str, Any]) -> SLAPolicy:
        targets = validated_data.pop("targets", None)
        # Two writes replacing the targets at once would both delete and then collide on
        # sla_target_unique; the row lock makes the second wait for the first.
        SLAPolicy.objects.select_for_update().values("pk").get(pk=instance.pk)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        # Only the fields sent: a PATCH must not write back stale values of the others.
        instance.save(update_fields=[*validated_data, "updated"])
        if targets is not None:
            instance.targets.all().delete()
            SLATarget.objects.bulk_create(SLATarget(policy=instance, **t) for t in targets)
        return instance


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


class BusinessCalendarSerializer(serializers.ModelSerializer):
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
        fields = [
            "id",
            "name",
            "time_zone",
            "holiday_country",
            "holiday_subdivision",
            "intervals",
            "holidays",
            "updated",
        ]
        read_only_fields = ["id", "updated"]
        extra_kwargs = {"time_zone": {"help_text": "IANA time zone, e.g. Europe/Berlin."}}

    def validate_holidays(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        twice = _duplicates([h["date"] for h in value])
        if twice:
            dates = ", ".join(f"{d:%Y-%m-%d}" for d in twice)
            raise serializers.ValidationError(f"{dates} listed more than once.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The model's clean() knows which countries and subdivisions the holidays package
        # has: run it on the calendar as it would be saved, as the admin does. Its
        # ValidationError becomes field errors (DRF converts Django's own).
        candidate = copy.copy(self.instance) if self.instance is not None else BusinessCalendar()
        for name, value in attrs.items():
            if name not in {"intervals", "holidays"}:
                setattr(candidate, name, value)
        candidate.clean()
        return attrs

    @transaction.atomic
    def create(self, validated_data: dict[str, Any]) -> BusinessCalendar:
        intervals = validated_data.pop("intervals", [])
        holidays = validated_data.pop("holidays", [])
        calendar = BusinessCalendar.objects.create(**validated_data)
        self._write_rows(calendar, intervals, holidays)
        return calendar

    @transaction.atomic
    def update(
        self, instance: BusinessCalendar, validated_data: dict[str, Any]
    ) -> BusinessCalendar:
        intervals = validated_data.pop("intervals", None)
        holidays = validated_data.pop("holidays", None)
        # As for policies: concurrent replacements of the holidays would collide on
        # sla_holiday_unique without the lock.
        BusinessCalendar.objects.select_for_update().values("pk").get(pk=instance.pk)
        if intervals is not None:
            instance.intervals.all().delete()
        if holidays is not None:
            instance.holidays.all().delete()
        self._write_rows(instance, intervals or [], holidays or [])
        for name, value in validated_data.items():
            setattr(instance, name, value)
        # Saved last, and always (only the fields sent, and `updated`): `updated` is what
        # tells cached calendar specs that the calendar changed.
        instance.save(update_fields=[*validated_data, "updated"])
        return instance

    @staticmethod
    def _write_rows(
        calendar: BusinessCalendar,
        intervals: list[dict[str, Any]],
        holidays: list[dict[str, Any]],
    ) -> None:
        WorkingInterval.objects.bulk_create(
            WorkingInterval(calendar=calendar, **i) for i in intervals
        )
        CalendarHoliday.objects.bulk_create(
            CalendarHoliday(calendar=calendar, **h) for h in holidays
        )


# --- Clocks and breaches (read-only) ----------------------------------------------------
@extend_schema_field({"type": "string", "example": "NF-12"})
class TicketKeyField(serializers.Field):
    """The ticket's key from ``ticket_id``: no join to the ticket table."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("source", "ticket_id")
        kwargs.setdefault("help_text", "The ticket's key, e.g. NF-12.")
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: int) -> str:
        return f"{TICKET_KEY_PREFIX}{value}"


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
