"""Serializers of the form builder's API. They validate and present; the views call the
services, which do every write and record its event."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from forms_builder.answers import answers
from forms_builder.models import (
    FIELD_SETTINGS,
    RESERVED_SLUGS,
    CustomForm,
    FormField,
    FormFieldType,
    FormStatus,
    FormSubmission,
    FormSubmissionAttachment,
    SubmitterIdentity,
)
from forms_builder.validation import Definition
from nixflow.models import Priority, Ticket, TicketField, Workflow


class FormFieldSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(source="field_type", choices=FormFieldType.choices)
    choices = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list
    )
    order = serializers.IntegerField(min_value=0, required=False)
    ticket_field = serializers.SlugRelatedField(
        slug_field="name",
        queryset=TicketField.objects.all(),
        allow_null=True,
        required=False,
        help_text="The name of a custom ticket field (/api/fields/) the answer is copied "
        "into when a submission becomes a ticket; its type must take the answer.",
    )

    class Meta:
        model = FormField
        fields = (
            "key",
            "label",
            "type",
            "required",
            *FIELD_SETTINGS,
            "order",
            "visible_when_field",
            "visible_when_value",
            "ticket_field",
        )


class CustomFormSerializer(serializers.ModelSerializer):
    """A form with its fields. Writing ``fields`` replaces the list: fields are matched
    by key, missing ones are removed (earlier submissions keep their snapshot)."""

    # The "type: ignore[assignment]"s of this module: fields named like attributes of
    # DRF's Serializer and Field (fields, label, required, help_text). DRF's metaclass
    # takes declared fields off the class, so they never shadow those; the stubs see them.
    fields = FormFieldSerializer(many=True, required=False)  # type: ignore[assignment]
    workflow = serializers.PrimaryKeyRelatedField(
        queryset=Workflow.objects.all(), allow_null=True, required=False
    )
    priority_map = serializers.DictField(
        child=serializers.ChoiceField(choices=Priority.choices), required=False
    )
    # Plain text here: the enum is the status/ request's, and one choice set used by two
    # components would get a hash for a name in the schema.
    status = serializers.CharField(
        read_only=True, help_text="draft, published or archived; change it with status/."
    )
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = CustomForm
        fields = (
            "id",
            "name",
            "slug",
            "description",
            "status",
            "version",
            "workflow",
            "default_priority",
            "title_template",
            "description_field",
            "priority_field",
            "priority_map",
            "login_required",
            "success_message",
            "created",
            "updated",
            "page_url",
            "fields",
        )
        read_only_fields = ("status", "version", "created", "updated")

    def get_page_url(self, form: CustomForm) -> str:
        path = reverse("forms_builder:form", args=[form.slug])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def validate_slug(self, value: str) -> str:
        if value in RESERVED_SLUGS:
            raise serializers.ValidationError(
                f"These addresses are taken: {', '.join(RESERVED_SLUGS)}."
            )
        return value

    def validate_fields(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        keys = [item["key"] for item in value]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise serializers.ValidationError(
                f"Keys must be unique; repeated: {', '.join(repeated)}."
            )
        return value


class FormStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=FormStatus.choices)


class FieldSchemaSerializer(serializers.Serializer):
    """One field as clients render and validate it (the same names as the snapshot)."""

    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    type = serializers.ChoiceField(choices=FormFieldType.choices)
    required = serializers.BooleanField()  # type: ignore[assignment]
    help_text = serializers.CharField()  # type: ignore[assignment]
    placeholder = serializers.CharField()
    choices = serializers.ListField(child=serializers.CharField())
    min_length = serializers.IntegerField(allow_null=True)
    max_length = serializers.IntegerField(allow_null=True)
    min_value = serializers.CharField(allow_null=True, help_text="A decimal number, as text.")
    max_value = serializers.CharField(allow_null=True, help_text="A decimal number, as text.")
    pattern = serializers.CharField()
    pattern_message = serializers.CharField()
    max_file_size = serializers.IntegerField(
        allow_null=True, help_text="Bytes: the largest file this field accepts (file fields)."
    )
    allowed_file_types = serializers.ListField(child=serializers.CharField())
    visible_when_field = serializers.CharField(help_text="Shown only when this field …")
    visible_when_value = serializers.CharField(help_text="… has this answer.")


class FormSchemaSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.IntegerField()
    login_required = serializers.BooleanField()
    submitter_email_required = serializers.BooleanField(
        help_text="True for anonymous callers of a public form: send `submitter_email`."
    )
    submit_url = serializers.CharField()
    fields = FieldSchemaSerializer(many=True)  # type: ignore[assignment]


# Plain response serializers (here, sla.api.summary): fields of different answers, nothing to
# share.
class SubmitResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    ticket = serializers.CharField(allow_null=True, help_text="The ticket's key, e.g. NF-12.")
    message = serializers.CharField()


class AnswerSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField(help_text="As the form read when it was submitted.")  # type: ignore[assignment]
    type = serializers.CharField()
    value = serializers.JSONField()
    text = serializers.CharField(help_text="The answer as a person reads it.")


class SubmissionAttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = FormSubmissionAttachment
        fields = ("id", "field_key", "original_name", "size", "content_type", "sha256")


class SubmissionSerializer(serializers.ModelSerializer):
    """A submission, read through its snapshot: later edits of the form don't change it."""

    form: serializers.SlugRelatedField[CustomForm] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    form_name = serializers.SerializerMethodField()
    ticket = serializers.SerializerMethodField()
    answers = serializers.SerializerMethodField()
    attachments = SubmissionAttachmentSerializer(many=True, read_only=True)
    identity = serializers.ChoiceField(
        choices=SubmitterIdentity.choices,
        read_only=True,
        help_text="How the submitter is known. `signed_in` and `confirmed` are verified; "
        "`unverified` is an anonymous submission that gave an existing account's address "
        "and is linked to no account until its owner confirms.",
    )
    verified = serializers.BooleanField(read_only=True)

    class Meta:
        model = FormSubmission
        fields = (
            "id",
            "form",
            "form_name",
            "form_version",
            "status",
            "status_reason",
            "submitter",
            "submitter_email",
            "identity",
            "verified",
            "confirmed_at",
            "ticket",
            "created",
            "updated",
            "answers",
            "attachments",
        )
        read_only_fields = fields

    # A read-only field list and getters, alike the event log's serializer: another model.
    def get_form_name(self, submission: FormSubmission) -> str:
        return submission.form_snapshot.get("name", "")

    def get_ticket(self, submission: FormSubmission) -> str | None:
        return Ticket.key_for(submission.ticket_id) if submission.ticket_id else None

    @extend_schema_field(AnswerSerializer(many=True))
    def get_answers(self, submission: FormSubmission) -> list[dict[str, Any]]:
        definition = Definition.from_snapshot(submission.form_snapshot)
        return [asdict(a) for a in answers(definition, submission.data)]


class SubmissionRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
