"""Shapes of the webhooks API: validate input, shape output; never write."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webhooks.models import Delivery, Endpoint
from webhooks.services import EVENT_TYPE, FAMILY, MAX_EVENT_TYPES, MAX_FILTERS

# What the services take, said in the schema (webhooks.services.clean_event_types and
# clean_filters, webhooks.targets.parse_url): an event type, a family or "*" (blank
# entries are dropped, each is stripped); filters of at most MAX_FILTERS names, each
# compared with a scalar or a list of scalars.
EVENT_TYPE_SCHEMA = {
    "type": "string",
    "maxLength": 100,
    "pattern": rf"^\s*(\*|{FAMILY.pattern}|{EVENT_TYPE.pattern})?\s*$",
}
SCALAR_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    "nullable": True,
}
FILTERS_SCHEMA = {
    "type": "object",
    "maxProperties": MAX_FILTERS,
    "additionalProperties": {
        "anyOf": [SCALAR_SCHEMA, {"type": "array", "items": SCALAR_SCHEMA}],
        "nullable": True,
    },
}
URL_SCHEMA = {"type": "string", "maxLength": 2000, "pattern": r"^\s*[Hh][Tt][Tt][Pp][Ss]?://"}


@extend_schema_field(FILTERS_SCHEMA)
class FiltersField(serializers.DictField):
    """{field: value or [values]}; values null too (a field that is null in the payload)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.JSONField(allow_null=True), **kwargs)


@extend_schema_field(URL_SCHEMA)
class WebhookUrlField(serializers.CharField):
    pass


@extend_schema_field(EVENT_TYPE_SCHEMA)
class EventTypeField(serializers.CharField):
    pass


class EndpointSerializer(serializers.ModelSerializer[Endpoint]):
    event_types = serializers.ListField(
        child=serializers.CharField(),
        help_text='Exact types ("ticket.created"), families ("ticket.*") or "*" (every '
        "event but the webhooks app's own). Empty: only what automation rules send it.",
    )
    filters = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Equality filters: {field: value or [values]} over the payload's keys, "
        '"ticket_key" or "actor"; all must hold.',
    )

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "filters",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "failure_streak",
            "failing_since",
            "created_by",
            "created",
            "updated",
        ]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    """An endpoint as created (or with its secret rotated): the secret, this once."""

    secret = serializers.SerializerMethodField(
        help_text="whsec_...: verify signatures with it. Shown only now; rotate for a new one."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, endpoint: Endpoint) -> str:
        return str(self.context.get("secret", ""))


class EndpointWriteSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    url = WebhookUrlField(
        max_length=2000, help_text="http(s)://, no credentials; public addresses only."
    )
    event_types = serializers.ListField(
        child=EventTypeField(max_length=100, allow_blank=True, trim_whitespace=False),
        required=False,
        max_length=MAX_EVENT_TYPES,
    )
    filters = FiltersField(required=False)
    is_active = serializers.BooleanField(
        required=False, help_text="false disables the endpoint; true enables it again."
    )


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook_id",
            "event",
            "event_type",
            "ordering_key",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "delivered_at",
            "last_status_code",
            "last_error",
            "last_duration_ms",
            "response_excerpt",
            "created",
        ]
        read_only_fields = fields
