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
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from nixflow import services
from nixflow.api.permissions import IsAdminOrAgentReadOnly
from nixflow.models import FIELD_NAME_PATTERN, FieldType, Stage, TicketField, Workflow
from nixflow.toolkit.auth import signed_in_user


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


class TicketFieldViewSet(viewsets.ModelViewSet):
    """Agents read custom field definitions; admins change them."""

    serializer_class = TicketFieldSerializer
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

    def _shown(self, field: TicketField, *, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=field.pk)).data, code)

    @extend_schema(request=TicketFieldWriteSerializer, responses={201: TicketFieldSerializer})
    def create(self, request: Request) -> Response:
        serializer = TicketFieldWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        field = services.ticket_field_create(
            actor=signed_in_user(request), data=dict(serializer.validated_data)
        )
        return self._shown(field, code=status.HTTP_201_CREATED)

    @extend_schema(request=TicketFieldWriteSerializer, responses=TicketFieldSerializer)
    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        field = self.get_object()
        serializer = TicketFieldWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        services.ticket_field_update(
            field=field, actor=signed_in_user(request), data=dict(serializer.validated_data)
        )
        return self._shown(field)

    @extend_schema(request=TicketFieldWriteSerializer, responses=TicketFieldSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        services.ticket_field_delete(field=self.get_object(), actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
