"""``/api/tags/``: the tag list through the API.

- ``GET /api/tags/`` (agents; requesters get 403): every tag by name (any case), paged;
  ``?search=`` keeps the names containing the text (any case), for pickers.
- ``POST /api/tags/``, ``PATCH`` and ``DELETE /api/tags/{id}/``: admins add, rename and
  delete tags (nixflow.services.tags; one ``tag.*`` event each). Agents create tags on
  the fly by tagging a ticket (``PATCH /api/tickets/{key}/`` with ``tags``) unless the
  list is locked.
- ``GET /api/tags/settings/``: ``{"tags_locked": bool}`` for agents (a picker offers only
  existing tags when it is true); ``PATCH`` it as an admin to lock or unlock the list.

A ticket's tags are its ``tags`` field in ``/api/tickets/``; ``GET /api/tickets/?tag=``
lists the tickets with a tag (its name, any case).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Lower
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from nixflow import services
from nixflow.api.pagination import DefaultPagination
from nixflow.api.permissions import IsAdminOrAgentReadOnly
from nixflow.models import DeskSettings, Tag
from nixflow.services.tags import TAG_NAME_MAX
from nixflow.toolkit.auth import signed_in_user


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "created"]
        read_only_fields = fields


class TagWriteSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=TAG_NAME_MAX,
        help_text="Unique regardless of case; no commas. Trimmed.",
    )


class DeskTagSettingsSerializer(serializers.Serializer):
    tags_locked = serializers.BooleanField(
        help_text="True: agents pick only existing tags; only admins add new ones."
    )


SEARCH = OpenApiParameter(
    "search",
    OpenApiTypes.STR,
    description="Only tags whose name contains this text (any case).",
    allow_blank=True,
)


class TagViewSet(viewsets.GenericViewSet):
    """Agents read the tag list; admins change it."""

    serializer_class = TagSerializer
    permission_classes = [IsAuthenticated, IsAdminOrAgentReadOnly]
    pagination_class = DefaultPagination
    filter_backends: list[Any] = []
    queryset = Tag.objects.order_by(Lower("name"), "id")

    def get_queryset(self) -> QuerySet[Tag]:
        tags = super().get_queryset()
        search = self.request.query_params.get("search", "").strip()
        if search and self.action == "list":
            tags = tags.filter(name__icontains=search)
        return tags

    @extend_schema(parameters=[SEARCH], responses=TagSerializer(many=True))
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=TagWriteSerializer, responses={201: TagSerializer})
    def create(self, request: Request) -> Response:
        serializer = TagWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tag = services.tag_create(
            name=serializer.validated_data["name"], actor=signed_in_user(request)
        )
        return Response(self.get_serializer(tag).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TagWriteSerializer, responses=TagSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Rename the tag; its tickets keep it."""
        tag = self.get_object()
        serializer = TagWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tag = services.tag_update(
            tag=tag, name=serializer.validated_data["name"], actor=signed_in_user(request)
        )
        return Response(self.get_serializer(tag).data)

    def destroy(self, request: Request, pk: str) -> Response:
        """Delete the tag, taking it off every ticket (their history keeps the name)."""
        services.tag_delete(tag=self.get_object(), actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        responses=DeskTagSettingsSerializer,
        description="Whether the tag list is locked.",
    )
    @extend_schema(
        methods=["PATCH"],
        request=DeskTagSettingsSerializer,
        responses=DeskTagSettingsSerializer,
        description="Admins lock or unlock the tag list.",
    )
    @action(detail=False, methods=["get", "patch"], url_path="settings", pagination_class=None)
    def tag_settings(self, request: Request) -> Response:
        if request.method == "PATCH":
            serializer = DeskTagSettingsSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            services.desk_settings_update(
                actor=signed_in_user(request), data=dict(serializer.validated_data)
            )
        return Response(DeskTagSettingsSerializer(DeskSettings.load()).data)
