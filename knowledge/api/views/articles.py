"""``/api/knowledge/articles/``: list, read, write and delete articles, and move them
along the publishing workflow. The articles' other actions (versions, readers' ratings
and feedback, files, tickets) are mixins of ``knowledge.api.views.article_actions``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from knowledge import selectors, services
from knowledge.api.serializers import (
    KBArticleCreateSerializer,
    KBArticleDetailSerializer,
    KBArticleListQuerySerializer,
    KBArticleSerializer,
    KBArticleUpdateSerializer,
    KBTransitionSerializer,
)
from knowledge.api.views.article_actions import (
    ArticleFilesMixin,
    ArticleReadersMixin,
    ArticleTicketsMixin,
    ArticleVersionsMixin,
)
from knowledge.api.views.common import ArticleBase, IsAgent
from nixflow.toolkit.auth import signed_in_user, signed_in_user_or_none


def _viewer_key(request: Request) -> str:
    session = getattr(request._request, "session", None)
    client = (session.session_key if session is not None else None) or (
        f"{request.META.get('REMOTE_ADDR', '')}|{request.META.get('HTTP_USER_AGENT', '')}"
    )
    return services.viewer_key_for(user=signed_in_user_or_none(request), client=client)


class ArticleViewSet(
    ArticleVersionsMixin,
    ArticleReadersMixin,
    ArticleFilesMixin,
    ArticleTicketsMixin,
    ArticleBase,
):
    """Articles, newest published first. Requesters and anonymous readers see published
    public articles; agents see every article, internal, draft, in review or archived,
    and write them. Articles are addressed by id."""

    conflicts = {
        "transition": "The article's status cannot become that one from its current status.",
        "destroy": "The article has been published: archive it instead.",
        "restore": "That version's content is already the current content.",
    }

    @extend_schema(
        parameters=[KBArticleListQuerySerializer],
        responses=KBArticleSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        query = KBArticleListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        articles = selectors.article_list(user=request.user, **query.validated_data)
        page = self.paginate_queryset(articles)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses=KBArticleDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        """The article with its body (Markdown and sanitized HTML). Reading a published
        article counts a view, once per reader per 30 minutes."""
        article = self.get_object()
        services.article_view_record(
            article=article, user=signed_in_user_or_none(request), viewer_key=_viewer_key(request)
        )
        return Response(
            KBArticleDetailSerializer(article, context=self.get_serializer_context()).data
        )

    @extend_schema(request=KBArticleCreateSerializer, responses={201: KBArticleDetailSerializer})
    def create(self, request: Request) -> Response:
        """Write a new article (a draft, version 1). Agents only."""
        serializer = KBArticleCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        article = services.article_create(author=signed_in_user(request), **data)
        return self._detail(article, code=status.HTTP_201_CREATED)

    @extend_schema(request=KBArticleUpdateSerializer, responses=KBArticleDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change an article; a new title, summary or body makes a new version (with
        ``note``). Agents only."""
        article = self.get_object()
        serializer = KBArticleUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        note = data.pop("note", "")
        article = services.article_update(
            article=article, actor=signed_in_user(request), data=data, note=note
        )
        return self._detail(article)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        """Delete an article that was never published (published ones are archived).
        Agents only."""
        services.article_delete(article=self.get_object(), actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=KBTransitionSerializer, responses=KBArticleDetailSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAgent])
    def transition(self, request: Request, pk: str) -> Response:
        """Move the article along the publishing workflow: submit for review
        (``IN_REVIEW``), publish, archive, or back to draft. Agents only."""
        article = self.get_object()
        # The API's shape for an action (validate, call the service, serialize), as in
        # article_actions.
        serializer = KBTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        article = services.article_transition(
            article=article,
            to_status=serializer.validated_data["status"],
            actor=signed_in_user(request),
        )
        return self._detail(article)
