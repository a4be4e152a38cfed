"""The shape of a report in JSON: read-only serializers that say it, so the OpenAPI
schema documents every field. Dates are ``YYYY-MM-DD``, datetimes ISO 8601, durations
seconds, percentages numbers from 0 to 100 (null when there is nothing to divide by)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "number", "nullable": True})
class NumberField(serializers.Field):
    """An integer or a decimal as it is (a count stays an integer), or null."""

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "description": "A string (text, YYYY-MM-DD date, ISO 8601 datetime), a number "
            "or null, as the column's unit says."
        },
    }
)
class RowField(serializers.Field):
    """One table row: its columns' keys to their values (see ``columns``)."""

    def to_representation(self, value: Any) -> Any:
        return {
            key: item.isoformat() if hasattr(item, "isoformat") else item
            for key, item in value.items()
        }


UNITS = ["count", "percent", "seconds", "text", "date", "datetime"]


class FigureSerializer(serializers.Serializer):
    key = serializers.CharField()
    # A field named "label": DRF's metaclass takes declared fields off the class, so it
    # never shadows Field.label, which the stubs compare it with.
    label = serializers.CharField()  # type: ignore[assignment]
    value = NumberField(help_text="Seconds for durations, 0 to 100 for percentages.")
    unit = serializers.ChoiceField(choices=UNITS)


class ColumnSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    unit = serializers.ChoiceField(choices=UNITS)


class TableSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    columns = ColumnSerializer(many=True)
    rows = serializers.ListField(child=RowField())


class SeriesSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    values = serializers.ListField(child=NumberField())


class ChartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["lines", "bars"])
    title = serializers.CharField()
    unit = serializers.ChoiceField(choices=UNITS)
    labels = serializers.ListField(
        child=serializers.CharField(), help_text="Days (YYYY-MM-DD) or, for bars, names."
    )
    series = SeriesSerializer(many=True)

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)
        data["labels"] = [
            label.isoformat() if hasattr(label, "isoformat") else str(label)
            for label in instance.labels
        ]
        return data


class FiltersSerializer(serializers.Serializer):
    to = serializers.DateField()
    time_zone = serializers.CharField(help_text="The zone the days are cut in.")
    interval = serializers.ChoiceField(choices=["day", "week"])
    workflow = serializers.IntegerField(allow_null=True)
    team = serializers.IntegerField(allow_null=True)
    channel = serializers.CharField(allow_null=True)
    priority = serializers.CharField(allow_null=True)
    tag = serializers.IntegerField(allow_null=True)


# "from" is a Python keyword: added by name.
FiltersSerializer._declared_fields["from"] = serializers.DateField()


class ReportSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    generated_at = serializers.DateTimeField()
    filters = serializers.SerializerMethodField()
    ticket_filters = serializers.BooleanField(
        help_text="Whether workflow, team, channel, priority and tag apply to this report."
    )
    figures = FigureSerializer(many=True)
    chart = ChartSerializer()
    tables = TableSerializer(many=True)

    @extend_schema_field(FiltersSerializer)
    def get_filters(self, report: Any) -> dict[str, Any]:
        return dict(FiltersSerializer(report.filters.describe()).data)


class ReportKindSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
