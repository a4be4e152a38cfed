"""What the knowledge API's views share: who may call them, how ids look, and the
article every article action starts from."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from knowledge import selectors
from knowledge.api.serializers import KBArticleDetailSerializer, KBArticleSerializer
from knowledge.models import KnowledgeArticle
from nixflow.api.pagination import DefaultPagination

ID_PATTERN = "[1-9][0-9]{0,17}"  # a bigint; anything else is a 404, never a 500
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}  # ID_PATTERN's numbers


class IsAgent(BasePermission):
    message = "Only agents can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(getattr(request.user, "is_agent", False))


class ReadOrAgent(BasePermission):
    """Anyone reads (what the selectors let them see); agents write."""

    message = "Only agents can change the knowledge base."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or bool(getattr(request.user, "is_agent", False))


class ArticleBase(viewsets.GenericViewSet):
    """Articles addressed by id, as ``user`` may see them (``selectors.article_get``):
    the base of ``ArticleViewSet`` and of the mixins that add its actions."""

    # Viewset declarations (here and feedback's) look alike: other model, serializer and
    # permission.
    queryset = KnowledgeArticle.objects.none()
    serializer_class = KBArticleSerializer
    permission_classes = [ReadOrAgent]
    pagination_class = DefaultPagination
    filter_backends: list[Any] = []
    lookup_value_regex = ID_PATTERN

    def get_queryset(self) -> QuerySet[KnowledgeArticle]:
        return selectors.article_list(user=self.request.user)

    def get_object(self) -> KnowledgeArticle:
        article = selectors.article_get(user=self.request.user, pk=int(self.kwargs["pk"]))
        if article is None:
            raise NotFound("No such article.")
        return article

    def _detail(self, article: KnowledgeArticle, *, code: int = status.HTTP_200_OK) -> Response:
        shown = selectors.article_get(user=self.request.user, pk=article.pk) or article
        return Response(
            KBArticleDetailSerializer(shown, context=self.get_serializer_context()).data,
            status=code,
        )
