"""Custom ticket field definitions through the API: ``/api/fields/``.

Agents list and read them (what a ticket's ``custom_fields`` may hold and how
``?field.<name>=`` reads a value); admins create, change and delete them through the
same services as the admin (one ``ticket_field.*`` event per change). Requesters get
403: the fields are the desk's own records. A field's name and type are fixed once
tickets hold values (409), and such a field is deactivated rather than deleted (409).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated

from nixflow import services
from nixflow.api.config_views import ConfigViewSet, ConfigWrites, config_schema
from nixflow.api.permissions import IsAdminOrAgentReadOnly
from nixflow.models import FIELD_NAME_PATTERN, FieldType, Stage, TicketField, Workflow


class TicketFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketField
        fields = [
            "id",
            "name",
            "label",
            "type",
            "help_text",
            "choices",
            "workflows",
            "required_for_stages",
            "position",
            "is_active",
            "created",
            "updated",
        ]
        read_only_fields = fields


class TicketFieldWriteSerializer(serializers.Serializer):
    """A field as it should be. ``workflows`` empty: every workflow's tickets have it."""

    name = serializers.RegexField(
        f"^{FIELD_NAME_PATTERN}$",
        max_length=50,
        help_text="The key in custom_fields and ?field.<name>=: lower-case letters, digits "
        "and underscores, starting with a letter. Fixed once tickets hold values.",
    )
    # Fields named like Field.label and Field.help_text: DRF takes them from the class
    # body; the stubs object.
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]
    type = serializers.ChoiceField(
        choices=FieldType.choices, help_text="Fixed once tickets hold values."
    )
    help_text = serializers.CharField(  # type: ignore[assignment]
        max_length=300, required=False, allow_blank=True
    )
    choices = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=200,
        required=False,
        help_text="The options of a choice or multiple choice field, in order (no others).",
    )
    workflows = serializers.PrimaryKeyRelatedField(
        queryset=Workflow.objects.all(), many=True, required=False
    )
    required_for_stages = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.all(),
        many=True,
        required=False,
        help_text="Stages a ticket enters only with this field filled (a checkbox ticked).",
    )
    position = serializers.IntegerField(min_value=0, max_value=2_147_483_647, required=False)
    is_active = serializers.BooleanField(required=False)


@config_schema(read=TicketFieldSerializer, write=TicketFieldWriteSerializer)
class TicketFieldViewSet(ConfigViewSet[TicketField]):
    """Agents read custom field definitions; admins change them."""

    serializer_class = TicketFieldSerializer
    write_serializer_class = TicketFieldWriteSerializer
    writes = ConfigWrites(
        services.ticket_field_create, services.ticket_field_update, services.ticket_field_delete
    )
    permission_classes = [IsAuthenticated, IsAdminOrAgentReadOnly]
    filter_backends: list[Any] = []
    pagination_class = None  # a desk has tens of fields, not thousands
    conflicts = {
        "update": "Tickets hold values for the field: its name and type cannot change.",
        "partial_update": "Tickets hold values for the field: its name and type cannot change.",
        "destroy": "Tickets hold values for the field: deactivate it instead.",
    }

    def get_queryset(self) -> QuerySet[TicketField]:
        return TicketField.objects.prefetch_related("workflows", "required_for_stages")
