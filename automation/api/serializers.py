"""Automation rules in the API: what a rule is, how one is written, and a dry run's answer.

A rule's ``conditions`` and ``actions`` are lists of JSON objects whose shapes the
engine defines and validates (``automation.conditions.validate_conditions``,
``automation.actions.validate_actions``): the schema documents each as an object with
its required keys and the operator or action type as an enum, and the engine's
validators judge the rest, answering 400 with the list's name and the row's index.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from automation import forms as catalog
from automation.actions import MAIL_RECIPIENTS
from automation.models import Match, Rule, TimeBasis, TimeUnit, Trigger
from nixflow.api.filters import ID_SCHEMA, MAX_ID
from nixflow.api.schema import NOT_BLANK
from nixflow.models import Priority

MAX_ROWS = 50

CONDITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One condition: the ticket's `field` compared with `value` by `op`. "
    "Fields: the built-in ones (title, description, priority, stage, stage_category, "
    "workflow, team, assignee, requester, requester_domain, channel, tags, created), "
    "a custom field as `field.<name>`, `comment` (the new comment's text, for comment "
    "and mail triggers) and `business_hours` (the rule's calendar). `value` is "
    "omitted for is_empty and is_not_empty, a list for in and not_in.",
    "required": ["field", "op"],
    "properties": {
        "field": {"type": "string", "minLength": 1, "maxLength": 100},
        "op": {"type": "string", "enum": list(catalog.OPERATORS)},
        "value": {},
    },
}

# Each action type's parameters: (their schemas, the required ones). The engine's
# validator is the judge (``automation.actions``); this says the same shapes to clients,
# and ``_shape_refusal`` refuses what breaks them before the engine reads a value.
NULLABLE_ID = {**ID_SCHEMA, "nullable": True}
TAG_NAMES = {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 50}
TEMPLATE = {"type": "string", "minLength": 1, "maxLength": 20_000, "pattern": NOT_BLANK}
ACTION_PARAMS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "set_priority": ({"priority": {"type": "string", "enum": Priority.values}}, ["priority"]),
    "set_stage": ({"stage": ID_SCHEMA}, ["stage"]),
    "set_team": ({"team": NULLABLE_ID}, []),
    "set_assignee": ({"assignee": NULLABLE_ID}, []),
    "add_tags": ({"tags": TAG_NAMES}, ["tags"]),
    "remove_tags": ({"tags": TAG_NAMES}, ["tags"]),
    "set_field": (
        {"field": {"type": "string", "minLength": 1, "maxLength": 60}, "value": {}},
        ["field"],
    ),
    "add_note": ({"body": TEMPLATE}, ["body"]),
    "send_mail": (
        {
            "to": {"type": "string", "enum": list(MAIL_RECIPIENTS)},
            "address": {"type": "string", "maxLength": 254},
            "subject": {**TEMPLATE, "maxLength": 200},
            "body": TEMPLATE,
        },
        ["to", "subject", "body"],
    ),
    "call_webhook": ({"endpoint": ID_SCHEMA}, ["endpoint"]),
}
ACTION_SCHEMA: dict[str, Any] = {
    "description": "One action, done in the list's order: its `type` and that type's "
    "parameters. Ids name rows that must exist (a stage, a team, an active agent, a "
    "webhook endpoint); `body` and `subject` are templates ({{ ticket.key }}, ...); "
    "`address` is for `to: address` only.",
    "oneOf": [
        {
            "type": "object",
            "title": kind,
            "properties": {"type": {"type": "string", "enum": [kind]}, **params},
            "required": ["type", *required],
            "additionalProperties": False,
        }
        for kind, (params, required) in ACTION_PARAMS.items()
    ],
}


def _shape_refusal(actions: list[Any]) -> str | None:
    """What breaks an action's documented parameters (``ACTION_PARAMS``), or None: the
    engine reads values loosely (``"high"`` for HIGH, ``5`` for "5"), and a request the
    schema calls wrong must not pass for right. Ids are held to a database id's range,
    so that no value reaches a query it would overflow."""
    for position, action in enumerate(actions, start=1):
        if not isinstance(action, dict) or str(action.get("type")) not in ACTION_PARAMS:
            continue  # the engine names the unknown type
        params, _ = ACTION_PARAMS[str(action["type"])]
        for name, schema in params.items():
            if name in action:
                wrong = _param_refusal(schema, action[name])
                if wrong:
                    return f"Action {position}: {name} {wrong}."
    return None


def _param_refusal(schema: dict[str, Any], value: Any) -> str | None:  # noqa: C901, PLR0911 -- one answer per rule of the schema
    if value is None:
        return None if schema.get("nullable") or not schema else "may not be null"
    kind = schema.get("type")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            return "is an id (a whole number from 1)"
    elif kind == "string":
        if not isinstance(value, str):
            return "is text"
        if len(value) > schema.get("maxLength", len(value)):
            return f"has at most {schema['maxLength']} characters"
        if "enum" in schema and value not in schema["enum"]:
            return f"is one of {', '.join(schema['enum'])}"
    elif kind == "array":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "is a list of names"
        if len(value) > schema.get("maxItems", len(value)):
            return f"has at most {schema['maxItems']} names"
    return None


@extend_schema_field({"type": "array", "items": CONDITION_SCHEMA, "maxItems": MAX_ROWS})
class ConditionsField(serializers.JSONField):
    """A rule's conditions, validated and normalised by the engine."""

    def to_internal_value(self, data: Any) -> Any:
        return _validated("conditions", super().to_internal_value(data))


@extend_schema_field({"type": "array", "items": ACTION_SCHEMA, "maxItems": MAX_ROWS})
class ActionsField(serializers.JSONField):
    """A rule's actions, validated and normalised by the engine."""

    def to_internal_value(self, data: Any) -> Any:
        return _validated("actions", super().to_internal_value(data))


@extend_schema_field({"type": "array", "items": ACTION_SCHEMA, "minItems": 1, "maxItems": MAX_ROWS})
class RuleActionsField(ActionsField):
    """A saved rule's actions: at least one (a rule that does nothing is refused)."""

    def to_internal_value(self, data: Any) -> Any:
        actions = super().to_internal_value(data)
        if not actions:
            raise serializers.ValidationError("A rule needs at least one action.")
        return actions


NUL_REFUSED = "Null characters are not allowed."  # Django's own words for text fields


def _has_nul(value: Any) -> bool:
    """A NUL anywhere in the JSON, keys included: PostgreSQL's jsonb cannot store one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def _validated(kind: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise serializers.ValidationError(f"A list of {kind}.")
    if _has_nul(value):
        raise serializers.ValidationError(NUL_REFUSED)
    if len(value) > MAX_ROWS:
        raise serializers.ValidationError(f"At most {MAX_ROWS} {kind}.")
    refusal = _shape_refusal(value) if kind == "actions" else None
    if refusal is not None:
        raise serializers.ValidationError(refusal)
    try:
        return catalog.validate(kind, value)
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.messages) from error


# "" (an event rule measures no time) is a choice of its own, so that the response's
# enum lists it.
TIME_BASIS_CHOICES = [("", "Not a time rule"), *TimeBasis.choices]
TIME_UNIT_CHOICES = [("", "Not a time rule"), *TimeUnit.choices]


class RuleSerializer(serializers.ModelSerializer):
    conditions = ConditionsField(read_only=True)
    actions = ActionsField(read_only=True)
    time_basis = serializers.ChoiceField(choices=TIME_BASIS_CHOICES, read_only=True)
    time_unit = serializers.ChoiceField(choices=TIME_UNIT_CHOICES, read_only=True)

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "description",
            "is_active",
            "position",
            "trigger",
            "match",
            "conditions",
            "actions",
            "stop_processing",
            "time_basis",
            "time_amount",
            "time_unit",
            "calendar",
            "version",
            "created_by",
            "created",
            "updated",
        ]
        read_only_fields = fields


def _calendar_field() -> serializers.PrimaryKeyRelatedField:
    from sla.models import BusinessCalendar

    return serializers.PrimaryKeyRelatedField(
        queryset=BusinessCalendar.objects.all(),
        required=False,
        allow_null=True,
        help_text="The business calendar whose working time business units count and the "
        "business_hours condition reads.",
    )


class RuleMatchingSerializer(serializers.Serializer):
    """What decides which tickets a rule matches: all a dry run needs."""

    trigger = serializers.ChoiceField(choices=Trigger.choices)
    match = serializers.ChoiceField(choices=Match.choices, required=False)
    conditions = ConditionsField(required=False)
    actions = ActionsField(required=False)
    time_basis = serializers.ChoiceField(
        choices=TimeBasis.choices, required=False, allow_blank=True
    )
    time_amount = serializers.IntegerField(
        min_value=1, max_value=100_000, required=False, allow_null=True
    )
    time_unit = serializers.ChoiceField(choices=TimeUnit.choices, required=False, allow_blank=True)
    calendar = _calendar_field()


class RuleWriteSerializer(RuleMatchingSerializer):
    """A rule as it should be (PATCH: only the fields sent). ``version`` is the server's:
    every change adds one."""

    actions = RuleActionsField()
    name = serializers.CharField(
        max_length=100,
        validators=[
            UniqueValidator(
                queryset=Rule.objects.all(), message="A rule with this name already exists."
            )
        ],
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=5_000)
    is_active = serializers.BooleanField(required=False)
    position = serializers.IntegerField(min_value=0, max_value=2_147_483_647, required=False)
    stop_processing = serializers.BooleanField(required=False)


class DryRunTicketSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    stage = serializers.CharField(source="stage.name", read_only=True)
    created = serializers.DateTimeField(read_only=True)


class DryRunSerializer(serializers.Serializer):
    matched = serializers.IntegerField(
        read_only=True, help_text="Tickets of the period the rule would have matched."
    )
    examined = serializers.IntegerField(
        read_only=True, help_text="Tickets created in the period (judged, when not in SQL)."
    )
    days = serializers.IntegerField(read_only=True)
    since = serializers.DateTimeField(read_only=True)
    in_sql = serializers.BooleanField(
        read_only=True,
        help_text="False when some condition (business hours) could only be judged ticket "
        "by ticket, over at most a configured number of the newest tickets.",
    )
    judged = serializers.IntegerField(
        read_only=True,
        help_text="When not in SQL: the tickets judged one by one (those the other "
        "conditions left, newest first, up to the cap); 0 otherwise.",
    )
    limited = serializers.BooleanField(
        read_only=True,
        help_text="True when the cap was reached: older tickets of the period were not judged.",
    )
    as_of = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="A time rule: the instant its time condition was applied at.",
    )
    examples = DryRunTicketSerializer(many=True, read_only=True)


__all__ = [
    "DryRunSerializer",
    "RuleMatchingSerializer",
    "RuleSerializer",
    "RuleWriteSerializer",
]
