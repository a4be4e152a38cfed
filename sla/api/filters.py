"""Query-string filters of the SLA clock and breach lists."""

from __future__ import annotations

from typing import Any, cast

import django_filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field

from nixflow.api.filters import TICKET_KEY_ANY_CASE, IdFilter
from nixflow.models import Ticket
from nixflow.toolkit.filters import StrictBooleanFilter, UTCDateTimeFilter
from sla.models import MetricType, SLABreach, SLABreachType, SLAMetric, SLAStatus


class TicketKeyField(forms.CharField):
    """A ticket key (``NF-12``, any case) → the ticket's id; anything else is a 400."""

    default_error_messages = {"invalid": "Enter a ticket key, such as NF-12."}

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        # CharField gives None only with empty_value=None; this one's is "".
        text = cast(str, super().to_python(value)).strip()
        if not text:
            return None
        number = Ticket.number_from_key(text)
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number


@extend_schema_field({"type": "string", "pattern": TICKET_KEY_ANY_CASE})
class TicketKeyFilter(django_filters.Filter):
    field_class = TicketKeyField

    def filter(self, qs: QuerySet[Any], value: int | None) -> QuerySet[Any]:
        # By ticket_id, without a join: the key is the ticket's primary key.
        return qs if value is None else qs.filter(ticket_id=value)


class SLAMetricFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SLAStatus.choices, label="Clock status.")
    metric_type = django_filters.ChoiceFilter(choices=MetricType.choices, label="Metric.")
    policy = IdFilter(field_name="policy_id", label="SLA policy id.")
    ticket = TicketKeyFilter(label="Ticket key, e.g. NF-12.")
    # Date-range filter declarations, alike those of breaches below: other fields.
    deadline_after = UTCDateTimeFilter(
        field_name="deadline", lookup_expr="gte", label="Deadline at or after (ISO 8601)."
    )
    deadline_before = UTCDateTimeFilter(
        field_name="deadline", lookup_expr="lt", label="Deadline before (ISO 8601)."
    )

    class Meta:
        model = SLAMetric
        fields: list[str] = []


class SLABreachFilter(django_filters.FilterSet):
    breach_type = django_filters.ChoiceFilter(choices=SLABreachType.choices, label="What broke.")
    policy = IdFilter(field_name="policy_id", label="SLA policy id.")
    ticket = TicketKeyFilter(label="Ticket key, e.g. NF-12.")
    acknowledged = StrictBooleanFilter(
        method="filter_acknowledged", label="`true`: acknowledged; `false`: not yet."
    )
    breached_after = UTCDateTimeFilter(
        field_name="breached_at", lookup_expr="gte", label="Breached at or after (ISO 8601)."
    )
    breached_before = UTCDateTimeFilter(
        field_name="breached_at", lookup_expr="lt", label="Breached before (ISO 8601)."
    )

    class Meta:
        model = SLABreach
        fields: list[str] = []

    def filter_acknowledged(
        self, queryset: QuerySet[SLABreach], name: str, value: bool
    ) -> QuerySet[SLABreach]:
        # Not called without the parameter. `false` is what the partial index
        # sla_breach_unacknowledged serves.
        return queryset.filter(acknowledged_at__isnull=not value)
