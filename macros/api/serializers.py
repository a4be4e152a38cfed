"""Macros in the API: what a macro is, how one is written, and applying one."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.db.models import QuerySet
from rest_framework import serializers

from macros import selectors
from macros.models import BODY_MAX, EDITABLE_FIELDS, TAG_NAME_MAX, Assignment, Macro, Scope
from nixflow.api.schema import NOT_BLANK
from nixflow.api.serializers import (
    COMMENT_BODY_NOT_BLANK,
    CommentSerializer,
    TicketSerializer,
)
from nixflow.models import Priority, Role, Stage, Team, User

MAX_TAGS = 50
CUSTOM_MAX = 2_000
REPLY_MAX = 50_000


# "" (leave the priority as it is) is a choice of its own, so that the schema's enum
# lists it (the core's Priority has no blank choice).
SET_PRIORITY_CHOICES = [("", "Leave the priority as it is"), *Priority.choices]


class MacroSerializer(serializers.ModelSerializer):
    changes = serializers.SerializerMethodField(help_text="What applying it changes, in words.")
    set_priority = serializers.ChoiceField(choices=SET_PRIORITY_CHOICES, read_only=True)

    class Meta:
        model = Macro
        fields = [
            "id",
            *EDITABLE_FIELDS,
            "changes",
            "usage_count",
            "last_used_at",
            "created",
            "updated",
        ]
        read_only_fields = fields

    def get_changes(self, macro: Macro) -> list[str]:
        from macros.tools import describe

        return describe(macro)


def _agents() -> QuerySet[User]:
    return User.objects.filter(role__in=[Role.AGENT, Role.ADMIN], is_active=True)


class MacroWriteSerializer(serializers.Serializer):
    """A macro as it should be (PATCH: only the fields sent). ``owner`` is for admins
    (an agent's personal macros are their own); ``owner_team`` names a team macro's team."""

    name = serializers.CharField(max_length=100)
    body = serializers.CharField(
        max_length=BODY_MAX,
        trim_whitespace=False,
        validators=[RegexValidator(NOT_BLANK, message="A macro needs a body.")],
        help_text="Plain text with placeholders (docs/macros.md); unknown placeholders, tags "
        "other than {% if %} and filters other than the documented ones are refused (400).",
    )
    is_internal = serializers.BooleanField(required=False)
    scope = serializers.ChoiceField(choices=Scope.choices, required=False)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=_agents(), required=False, allow_null=True, help_text="An active agent's id."
    )
    owner_team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True
    )
    set_stage = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.all(), required=False, allow_null=True
    )
    set_priority = serializers.ChoiceField(
        choices=SET_PRIORITY_CHOICES, required=False, allow_blank=True
    )
    set_team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True
    )
    assignment = serializers.ChoiceField(
        choices=Assignment.choices, required=False, allow_blank=True
    )
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=_agents(), required=False, allow_null=True, help_text="An active agent's id."
    )
    add_tags = serializers.ListField(
        child=serializers.CharField(max_length=TAG_NAME_MAX), max_length=MAX_TAGS, required=False
    )
    remove_tags = serializers.ListField(
        child=serializers.CharField(max_length=TAG_NAME_MAX), max_length=MAX_TAGS, required=False
    )
    is_active = serializers.BooleanField(required=False)


class UsableMacroField(serializers.PrimaryKeyRelatedField):
    """A macro the caller may use: any other id (another agent's personal macro, an
    inactive one) gets the same 400 as an id that names nothing."""

    default_error_messages = {
        **serializers.PrimaryKeyRelatedField.default_error_messages,
        "does_not_exist": 'No macro "{pk_value}" that you may use.',
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=Macro.objects.all(), **kwargs)

    def get_queryset(self) -> QuerySet[Macro]:
        user = getattr(self.context.get("request"), "user", None)
        if not isinstance(user, User):
            return Macro.objects.none()
        return selectors.macros_for(user=user)


class ApplyMacroSerializer(serializers.Serializer):
    macro = UsableMacroField(help_text="The id of a macro you may use.")
    body = serializers.CharField(
        required=False,
        max_length=REPLY_MAX,
        trim_whitespace=False,
        validators=[COMMENT_BODY_NOT_BLANK],
        help_text="The reply as the agent edited it; without it, the macro's body rendered "
        "for this ticket.",
    )
    custom = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=CUSTOM_MAX,
        help_text="Text for the macro's {{ custom }} placeholder.",
    )


class AppliedSerializer(serializers.Serializer):
    ticket = TicketSerializer(read_only=True)
    comment = CommentSerializer(read_only=True)
    changes = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="The changes made, in words."
    )
