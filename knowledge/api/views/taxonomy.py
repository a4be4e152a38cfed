"""``/api/knowledge/categories/`` and ``/api/knowledge/tags/``: one shape for both.

Anyone lists and reads them (with the number of articles the caller may open); agents
create, change (PATCH) and delete them through ``knowledge.services``, which validate,
lock and record the events. A category still holding articles or subcategories is not
deleted: 409 with the reason.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from knowledge import selectors, services
from knowledge.api.serializers import (
    KBCategorySerializer,
    KBCategoryWriteSerializer,
    KBTagSerializer,
    KBTagWriteSerializer,
)
from knowledge.api.views.common import ID_PATTERN, ReadOrAgent
from knowledge.models import KnowledgeCategory, KnowledgeTag
from nixflow.api.pagination import DefaultPagination
from nixflow.toolkit.auth import signed_in_user


class TaxonomyViewSet(viewsets.GenericViewSet):
    """List, read, create, change and delete rows that articles are filed under.

    A subclass names its selector (``get_queryset``), its input serializer, and the
    services that write (``writes``).
    """

    permission_classes = [ReadOrAgent]
    pagination_class = DefaultPagination
    filter_backends: list[Any] = []
    lookup_value_regex = ID_PATTERN
    write_serializer_class: ClassVar[type[serializers.Serializer]]
    writes: ClassVar[services.TaxonomyWrites]
    not_found: ClassVar[str]

    def get_object(self) -> Any:
        found = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if found is None:
            raise NotFound(self.not_found)
        return found

    def _shown(self, row: Model, code: int = status.HTTP_200_OK) -> Response:
        # Read back through the selector: the response carries the article count.
        return Response(self.get_serializer(self.get_queryset().get(pk=row.pk)).data, status=code)

    def _validated(self, request: Request, *, partial: bool) -> dict[str, Any]:
        serializer = self.write_serializer_class(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        data = self._validated(request, partial=False)
        row = self.writes.create(actor=signed_in_user(request), data=data)
        return self._shown(row, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        row = self.get_object()
        data = self._validated(request, partial=True)
        row = self.writes.update(row=row, actor=signed_in_user(request), data=data)
        return self._shown(row)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        self.writes.delete(row=self.get_object(), actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    create=extend_schema(request=KBCategoryWriteSerializer, responses={201: KBCategorySerializer}),
    partial_update=extend_schema(request=KBCategoryWriteSerializer, responses=KBCategorySerializer),
)
# Category and tag viewsets are declarations over TaxonomyViewSet (which holds the logic): names
# only.
class CategoryViewSet(TaxonomyViewSet):
    """Where articles are filed (a tree: ``parent``). Anyone reads; agents write."""

    queryset = KnowledgeCategory.objects.none()
    serializer_class = KBCategorySerializer
    write_serializer_class = KBCategoryWriteSerializer
    not_found = "No such category."
    conflicts = {"destroy": "The category holds articles or subcategories: move them first."}
    writes = services.CATEGORY_WRITES

    def get_queryset(self) -> QuerySet[KnowledgeCategory]:
        return selectors.category_list(user=self.request.user)


@extend_schema_view(
    create=extend_schema(request=KBTagWriteSerializer, responses={201: KBTagSerializer}),
    partial_update=extend_schema(request=KBTagWriteSerializer, responses=KBTagSerializer),
)
class TagViewSet(TaxonomyViewSet):
    """Tags of articles. Anyone reads; agents write."""

    queryset = KnowledgeTag.objects.none()
    serializer_class = KBTagSerializer
    write_serializer_class = KBTagWriteSerializer
    not_found = "No such tag."
    writes = services.TAG_WRITES

    def get_queryset(self) -> QuerySet[KnowledgeTag]:
        return selectors.tag_list(user=self.request.user)
