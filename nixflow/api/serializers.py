"""What the API reads and writes. Input serializers validate and hand typed values to a
service; output serializers render rows. None of them writes to the database."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nixflow.api.fields import strict_json_scalars
from nixflow.api.permissions import UserIdField
from nixflow.api.schema import NOT_BLANK
from nixflow.models import (
    TICKET_KEY_PATTERN,
    Attachment,
    Comment,
    HistoryLog,
    Priority,
    Stage,
    StageCategory,
    Team,
    Ticket,
    TicketWatcher,
    Transition,
    User,
    Workflow,
)


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "role"]
        read_only_fields = fields


# --- Output -----------------------------------------------------------------------------
class UserSummarySerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(source="get_full_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "full_name"]
        read_only_fields = fields


class TeamSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name"]
        read_only_fields = fields


class WorkflowSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Workflow
        fields = ["id", "name"]
        read_only_fields = fields


class StageSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "category"]
        read_only_fields = fields


class TicketSerializer(serializers.ModelSerializer):
    key = serializers.CharField(read_only=True, help_text="The ticket's key, e.g. NF-12.")
    url = serializers.HyperlinkedIdentityField(view_name="ticket-detail", lookup_field="key")
    workflow = WorkflowSummarySerializer(read_only=True)
    stage = StageSummarySerializer(read_only=True)
    requester = UserSummarySerializer(read_only=True)
    assignee = UserSummarySerializer(read_only=True, allow_null=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)
    tags = serializers.SerializerMethodField(
        help_text="The ticket's tags by name (agents set them with PATCH; /api/tags/)."
    )
    version = serializers.IntegerField(
        read_only=True,
        help_text="Counts the changes of the ticket and its conversation (watchers aside); "
        'also the ETag. Send it back as If-Match: "<version>" so that a change made '
        "meanwhile refuses yours (412) instead of being overwritten (docs/collision.md).",
    )
    merged_into = serializers.SerializerMethodField(
        help_text="The key of the ticket this one was merged into, or null."
    )
    search_snippet = serializers.SerializerMethodField(
        help_text="In a list filtered with `search=`: where the words were found, as HTML "
        "(the text escaped, the words in <mark>); null otherwise (docs/search.md)."
    )
    custom_fields = serializers.SerializerMethodField(
        help_text="Agents: the ticket's custom field values by field name (/api/fields/; "
        "a field without a value is absent). Null for requesters: the fields are the "
        "desk's own records (docs/custom-fields.md)."
    )

    class Meta:
        model = Ticket
        fields = [
            "key",
            "url",
            "title",
            "description",
            "priority",
            "source",
            "workflow",
            "stage",
            "requester",
            "assignee",
            "team",
            "tags",
            "created",
            "updated",
            "first_response_at",
            "resolved_at",
            "closed_at",
            "version",
            "merged_into",
            "search_snippet",
            "custom_fields",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Ticket) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        request = self.context.get("request")
        if request is not None and not getattr(request.user, "is_agent", False):
            # A requester's "updated" is the last change they can see: `updated` also
            # moves for an internal note, whose time they must not learn.
            seen = instance.public_updated or instance.created
            data["updated"] = self.fields["updated"].to_representation(seen)
        return data

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": {}})
    def get_custom_fields(self, ticket: Ticket) -> dict[str, Any] | None:
        request = self.context.get("request")
        if request is None or getattr(request.user, "is_agent", False):
            return dict(ticket.custom_fields)
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_search_snippet(self, ticket: Ticket) -> str | None:
        # Set on a page's tickets by nixflow.search.attach_snippets (one query a page).
        return getattr(ticket, "search_snippet", None)

    @extend_schema_field({"type": "string", "nullable": True, "pattern": f"^{TICKET_KEY_PATTERN}$"})
    def get_merged_into(self, ticket: Ticket) -> str | None:
        # The key from the column: no query for the target ticket.
        merged_into = ticket.merged_into_id
        return None if merged_into is None else Ticket.key_for(merged_into)

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_tags(self, ticket: Ticket) -> list[str]:
        # The selectors annotate tag_names (one query for a page); a ticket loaded
        # otherwise reads its tags.
        names = getattr(ticket, "tag_names", None)
        if names is None:
            names = sorted((tag.name for tag in ticket.tags.all()), key=str.casefold)
        return list(names)


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Authenticated download of the file.")

    class Meta:
        model = Attachment
        fields = ["id", "filename", "size", "content_type", "url"]
        read_only_fields = fields

    def get_url(self, attachment: Attachment) -> str:
        # The ticket comes from the context: attachment.comment.ticket would be a query
        # per attachment.
        path = reverse(
            "ticket-attachment",
            kwargs={"key": self.context["ticket"].key, "attachment_id": attachment.pk},
        )
        return self.context["request"].build_absolute_uri(path)


class CommentSerializer(serializers.ModelSerializer):
    author = UserSummarySerializer(read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "author", "body", "is_internal", "created", "attachments"]
        read_only_fields = fields


class WatcherSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(read_only=True)

    class Meta:
        model = TicketWatcher
        fields = ["user", "created"]
        read_only_fields = fields


class HistorySerializer(serializers.ModelSerializer):
    actor = UserSummarySerializer(
        read_only=True, allow_null=True, help_text="Null for changes made by the system."
    )

    class Meta:
        model = HistoryLog
        fields = ["id", "actor", "field", "old_value", "new_value", "created"]
        read_only_fields = fields


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "category", "position"]
        read_only_fields = fields


class TransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Transition
        fields = ["id", "from_stage", "to_stage", "name", "requester_allowed"]
        read_only_fields = fields


class WorkflowSerializer(serializers.ModelSerializer):
    stages = StageSerializer(many=True, read_only=True)
    transitions = TransitionSerializer(many=True, read_only=True)

    class Meta:
        model = Workflow
        fields = ["id", "name", "description", "is_default", "is_active", "stages", "transitions"]
        read_only_fields = fields


# Every app's API serializers import this module: JSON text and yes/no fields take only
# strings and booleans from here on (nixflow/api/fields.py says why).
strict_json_scalars()


# --- Input ------------------------------------------------------------------------------
class TicketCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    workflow = serializers.PrimaryKeyRelatedField(
        queryset=Workflow.objects.all(),
        required=False,
        allow_null=True,
        help_text="Defaults to the default workflow.",
    )
    requester = UserIdField(
        required=False,
        help_text="Agents only: open the ticket for this user. Defaults to the caller.",
    )
    assignee = UserIdField(
        required=False,
        allow_null=True,
        help_text="Agents only: an active agent to take the ticket.",
    )
    custom_fields = serializers.DictField(
        required=False,
        help_text="Agents only: custom field values by field name (/api/fields/ lists "
        'them and their types); null, "" or [] clears one. A name that is not a field '
        "of the ticket's workflow, or a value its type refuses, is a 400 naming it.",
    )


class TicketUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, help_text="Agents only."
    )
    assignee = UserIdField(
        required=False,
        allow_null=True,
        help_text="Agents only: an active agent, or null to unassign.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        max_length=20,
        required=False,
        help_text="Agents only: the ticket's tags, the complete list (names, any case). A "
        "name no tag has creates the tag, unless an admin locked the list (then 400).",
    )
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="Agents only: the team that owns the ticket (/api/teams/), or null.",
    )
    custom_fields = serializers.DictField(
        required=False,
        help_text="Agents only: custom field values by field name (/api/fields/ lists "
        'them and their types); null, "" or [] clears one. A name that is not a field '
        "of the ticket's workflow, or a value its type refuses, is a 400 naming it.",
    )

    def validate(self, attrs: dict) -> dict:
        if "stage" in self.initial_data:
            raise serializers.ValidationError(
                {
                    "stage": "The stage changes only along a transition: POST {stage} to the "
                    "ticket's transition/ endpoint."
                }
            )
        return attrs


class TicketTransitionSerializer(serializers.Serializer):
    stage = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.all(), help_text="The stage to move the ticket to."
    )


class TicketAssignSerializer(serializers.Serializer):
    assignee = UserIdField(
        allow_null=True,
        help_text="An active agent, or null to unassign.",
    )


# Not trimmed: the body is the author's text as written. Only whitespace is refused here
# as the service refuses it, and the schema says so with the validator's pattern.
COMMENT_BODY_NOT_BLANK = RegexValidator(NOT_BLANK, message="A comment needs a body.")


class CommentCreateSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, validators=[COMMENT_BODY_NOT_BLANK])
    is_internal = serializers.BooleanField(
        default=False, help_text="Agents only: a note requesters never see."
    )
    attachments = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        # The service's limit, said in the schema (maxItems) too.
        max_length=settings.NIXFLOW_MAX_ATTACHMENTS,
        help_text="Files, sent as multipart/form-data (repeat the field for several).",
    )


class WatchSerializer(serializers.Serializer):
    user = UserIdField(
        required=False,
        help_text="Defaults to the caller. Requesters can only add or remove themselves.",
    )


class PresenceBeatSerializer(serializers.Serializer):
    composing = serializers.BooleanField(
        required=False,
        default=False,
        help_text="True while the caller is writing a reply on the ticket's page.",
    )


class PresenceOtherSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user_id", help_text="The agent's user id.")
    name = serializers.CharField(help_text="Their full name, or their username without one.")
    composing = serializers.BooleanField(help_text="Writing a reply now.")
    seen_at = serializers.DateTimeField(help_text="Their page's last heartbeat.")


class PresenceSerializer(serializers.Serializer):
    """The answer to a heartbeat: who else is on the ticket now, and what a page loaded
    earlier needs to know whether the ticket moved on (docs/collision.md)."""

    others = PresenceOtherSerializer(many=True)
    version = serializers.IntegerField(help_text="The ticket's version now (its ETag).")
    newest_public_comment_id = serializers.IntegerField(
        allow_null=True, help_text="The newest public comment's id, null when there is none."
    )


# --- Workflows (input) ------------------------------------------------------------------
@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class StageRefField(serializers.Field):
    """A stage in a transition: an existing stage's id (a JSON number) or the name of a
    stage of the same request (a string; new stages have no id yet)."""

    default_error_messages = {"invalid": "Give a stage's id (a number) or its name (a string)."}

    def to_internal_value(self, data: object) -> int | str:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        if not (isinstance(data, str) and data.strip()):
            self.fail("invalid")
        return data.strip()

    def to_representation(self, value: int | str) -> int | str:
        return value


class StageInputSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="An existing stage of this workflow (its tickets stay in it); "
        "omit it to add a stage.",
    )
    name = serializers.CharField(max_length=100)
    category = serializers.ChoiceField(choices=StageCategory.choices)
    position = serializers.IntegerField(
        min_value=0, max_value=32767, help_text="New tickets start in the lowest."
    )


class TransitionInputSerializer(serializers.Serializer):
    from_stage = StageRefField()
    to_stage = StageRefField()
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    requester_allowed = serializers.BooleanField(required=False, default=False)


class WorkflowWriteSerializer(serializers.Serializer):
    """A workflow as it should be. ``stages`` and ``transitions``, when given, are the
    complete lists: stages not listed are removed (refused while tickets are in them),
    transitions not listed are removed. Omitted in a PATCH, they stay as they are."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    is_default = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)
    stages = StageInputSerializer(many=True, allow_empty=False)
    transitions = TransitionInputSerializer(many=True, required=False)
