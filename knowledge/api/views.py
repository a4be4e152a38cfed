"""The knowledge API. Each view validates its input with a serializer, calls one service
or selector, and serializes the result; who sees what is decided by the selectors, who
may change what by the services.

Reading is open: published public articles, categories, tags and search answer
anonymous readers too (a knowledge base portal is read before anyone signs in). Rating
and feedback need an account; writing articles needs an agent.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from knowledge import selectors, services
from knowledge.api.serializers import (
    KBArticleCreateSerializer,
    KBArticleDetailSerializer,
    KBArticleListQuerySerializer,
    KBArticleSerializer,
    KBArticleUpdateSerializer,
    KBAttachmentSerializer,
    KBAttachmentUploadSerializer,
    KBCategorySerializer,
    KBCategoryWriteSerializer,
    KBDiffQuerySerializer,
    KBFeedbackCreateSerializer,
    KBFeedbackResolveSerializer,
    KBFeedbackSerializer,
    KBRateSerializer,
    KBRatingSerializer,
    KBRestoreSerializer,
    KBSearchClickSerializer,
    KBSearchQuerySerializer,
    KBSearchResponseSerializer,
    KBSuggestionQuerySerializer,
    KBSuggestionsSerializer,
    KBTagSerializer,
    KBTagWriteSerializer,
    KBTicketKeySerializer,
    KBTicketLinkSerializer,
    KBTransitionSerializer,
    KBVersionDetailSerializer,
    KBVersionDiffSerializer,
    KBVersionSerializer,
)
from knowledge.models import (
    FeedbackStatus,
    KnowledgeArticle,
    KnowledgeArticleFeedback,
    KnowledgeArticleRating,
    KnowledgeArticleVersion,
    KnowledgeCategory,
    KnowledgeTag,
)
from nixflow import selectors as ticket_selectors
from nixflow.api.pagination import DefaultPagination
from nixflow.auth import signed_in_user, signed_in_user_or_none
from nixflow.models import Ticket

logger = logging.getLogger(__name__)

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


def _viewer_key(request: Request) -> str:
    session = getattr(request._request, "session", None)
    client = (session.session_key if session is not None else None) or (
        f"{request.META.get('REMOTE_ADDR', '')}|{request.META.get('HTTP_USER_AGENT', '')}"
    )
    return services.viewer_key_for(user=signed_in_user_or_none(request), client=client)


class ArticleViewSet(viewsets.GenericViewSet):
    """Articles, newest published first. Requesters and anonymous readers see published
    public articles; agents see every article, internal, draft, in review or archived,
    and write them. Articles are addressed by id."""

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

    @extend_schema(
        parameters=[KBArticleListQuerySerializer],
        responses=KBArticleSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        query = KBArticleListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        articles = self.get_queryset()
        for name in ("status", "visibility", "kind"):
            if name in filters:
                articles = articles.filter(**{name: filters[name]})
        if "category" in filters:
            articles = articles.filter(category=filters["category"])
        if "tag" in filters:
            tagged = KnowledgeArticle.tags.through.objects.filter(
                knowledgearticle_id=OuterRef("pk"), knowledgetag_id=filters["tag"].pk
            )
            articles = articles.filter(Exists(tagged))
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
        serializer = KBTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        article = services.article_transition(
            article=article,
            to_status=serializer.validated_data["status"],
            actor=signed_in_user(request),
        )
        return self._detail(article)

    @extend_schema(responses=KBVersionSerializer(many=True))
    @action(detail=True, methods=["get"], permission_classes=[IsAgent])
    def versions(self, request: Request, pk: str) -> Response:
        """Every version of the article, newest first. Agents only."""
        article = self.get_object()
        page = self.paginate_queryset(selectors.version_list(article=article))
        return self.get_paginated_response(KBVersionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            # What the route's pattern takes (below): 1 to 9 digits, no leading zero.
            OpenApiParameter(
                "number",
                {"type": "integer", "minimum": 1, "maximum": 10**9 - 1},
                OpenApiParameter.PATH,
            )
        ],
        responses=KBVersionDetailSerializer,
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[IsAgent],
        url_path=r"versions/(?P<number>[1-9][0-9]{0,8})",
        url_name="version",
    )
    def version(self, request: Request, pk: str, number: str) -> Response:
        """One version with its body. Agents only."""
        found = selectors.version_get(article=self.get_object(), number=int(number))
        if found is None:
            raise NotFound("No such version.")
        return Response(KBVersionDetailSerializer(found).data)

    @extend_schema(parameters=[KBDiffQuerySerializer], responses=KBVersionDiffSerializer)
    @action(detail=True, methods=["get"], permission_classes=[IsAgent])
    def diff(self, request: Request, pk: str) -> Response:
        """A unified diff of title, summary and body between two versions
        (``?from_version=2&to_version=5``; ``to_version`` defaults to the current one).
        Agents only."""
        article = self.get_object()
        query = KBDiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        numbers = {
            "from_version": query.validated_data["from_version"],
            "to_version": query.validated_data.get("to_version", article.version),
        }
        versions: dict[str, KnowledgeArticleVersion] = {}
        for name, number in numbers.items():
            version = selectors.version_get(article=article, number=number)
            if version is None:
                raise ValidationError({name: f"The article has no version {number}."})
            versions[name] = version
        diffs = selectors.version_diff(old=versions["from_version"], new=versions["to_version"])
        data = {
            "from_version": numbers["from_version"],
            "to_version": numbers["to_version"],
            "fields": [
                {"field": d.field, "changed": d.changed, "unified": d.unified} for d in diffs
            ],
        }
        return Response(KBVersionDiffSerializer(data).data)

    @extend_schema(request=KBRestoreSerializer, responses=KBArticleDetailSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAgent])
    def restore(self, request: Request, pk: str) -> Response:
        """Make an earlier version's content current again, as a new version. Agents only."""
        article = self.get_object()
        serializer = KBRestoreSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        article = services.article_restore(
            article=article,
            version_number=serializer.validated_data["version"],
            actor=signed_in_user(request),
        )
        return self._detail(article)

    @extend_schema(methods=["GET"], responses=KBRatingSerializer)
    @extend_schema(methods=["POST"], request=KBRateSerializer, responses=KBRatingSerializer)
    @action(detail=True, methods=["get", "post"], permission_classes=[IsAuthenticated])
    def rate(self, request: Request, pk: str) -> Response:
        """ "Was this article helpful?" — ``{"helpful": true}`` or ``false``. One answer per
        reader, which they may change; GET shows yours and the figures."""
        article = self.get_object()
        if request.method == "POST":
            serializer = KBRateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            services.article_rate(
                article=article,
                user=signed_in_user(request),
                helpful=serializer.validated_data["helpful"],
            )
        mine = (
            KnowledgeArticleRating.objects.filter(article=article, user=signed_in_user(request))
            .values_list("helpful", flat=True)
            .first()
        )
        figures = KnowledgeArticle.objects.filter(pk=article.pk).values(
            "helpful_count", "not_helpful_count"
        )[0]
        return Response(KBRatingSerializer({"helpful": mine, **figures}).data)

    @extend_schema(methods=["GET"], responses=KBFeedbackSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=KBFeedbackCreateSerializer, responses={201: KBFeedbackSerializer}
    )
    @action(detail=True, methods=["get", "post"], permission_classes=[IsAuthenticated])
    def feedback(self, request: Request, pk: str) -> Response:
        """Tell the editors what is wrong or missing (any signed-in reader); agents list
        the article's feedback."""
        article = self.get_object()
        if request.method == "GET":
            if not getattr(request.user, "is_agent", False):
                raise PermissionDenied("Only agents read feedback.")
            page = self.paginate_queryset(selectors.feedback_list(article=article))
            return self.get_paginated_response(KBFeedbackSerializer(page, many=True).data)
        serializer = KBFeedbackCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = services.feedback_create(
            article=article, author=signed_in_user(request), **serializer.validated_data
        )
        return Response(KBFeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses=KBAttachmentSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": KBAttachmentUploadSerializer},
        responses={201: KBAttachmentSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        parser_classes=[MultiPartParser],
        pagination_class=None,
    )
    def attachments(self, request: Request, pk: str) -> Response:
        """The article's files; agents upload (PNG, JPEG, GIF, WebP, PDF, ZIP, text)."""
        article = self.get_object()
        context = self.get_serializer_context()
        if request.method == "GET":
            return Response(
                KBAttachmentSerializer(article.attachments.all(), many=True, context=context).data
            )
        serializer = KBAttachmentUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        attachment = services.attachment_add(
            article=article, upload=serializer.validated_data["file"], actor=signed_in_user(request)
        )
        return Response(
            KBAttachmentSerializer(attachment, context=context).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[OpenApiParameter("attachment_id", ID_SCHEMA, OpenApiParameter.PATH)],
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, as a download."
            )
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=rf"attachments/(?P<attachment_id>{ID_PATTERN})",
        url_name="attachment",
        pagination_class=None,
    )
    def attachment(self, request: Request, pk: str, attachment_id: str) -> FileResponse:
        """Download a file of an article you can see (always as an attachment, never
        shown inline: the browser must not interpret it)."""
        article = self.get_object()
        found = article.attachments.filter(pk=attachment_id).first()
        if found is None:
            raise NotFound("No such attachment.")
        try:
            file = found.file.open("rb")
        except FileNotFoundError as error:
            logger.error("The file of knowledge attachment %s is missing: %s", found.pk, error)
            raise NotFound("The file of this attachment is missing.") from error
        response = FileResponse(
            file, as_attachment=True, filename=found.filename, content_type=found.content_type
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @extend_schema(methods=["GET"], responses=KBTicketLinkSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=KBTicketKeySerializer,
        responses={200: KBTicketLinkSerializer(many=True)},
    )
    # OpenAPI gives DELETE no body, so the ticket goes in the query string (a JSON body
    # is accepted too), as for a ticket's watchers.
    @extend_schema(
        methods=["DELETE"],
        request=None,
        parameters=[
            OpenApiParameter(
                "ticket", str, required=True, description="The ticket's key, e.g. NF-12."
            )
        ],
        responses={200: KBTicketLinkSerializer(many=True)},
    )
    @action(detail=True, methods=["get", "post", "delete"], permission_classes=[IsAgent])
    def tickets(self, request: Request, pk: str) -> Response:
        """Tickets this article helped with. POST ``{"ticket": "NF-12"}`` links one,
        DELETE ``?ticket=NF-12`` unlinks it. Agents only."""
        article = self.get_object()
        if request.method != "GET":
            given = (
                request.data if request.method == "POST" or request.data else request.query_params
            )
            serializer = KBTicketKeySerializer(data=given)
            serializer.is_valid(raise_exception=True)
            ticket = ticket_selectors.ticket_get(
                user=signed_in_user(request), key=serializer.validated_data["ticket"].upper()
            )
            if ticket is None:
                raise NotFound("No such ticket.")
            if request.method == "POST":
                services.article_link_ticket(
                    article=article, ticket=ticket, actor=signed_in_user(request)
                )
            else:
                services.article_unlink_ticket(
                    article=article, ticket=ticket, actor=signed_in_user(request)
                )
        page = self.paginate_queryset(selectors.ticket_links_of_article(article=article))
        return self.get_paginated_response(KBTicketLinkSerializer(page, many=True).data)


class CategoryViewSet(viewsets.GenericViewSet):
    """Where articles are filed (a tree: ``parent``). Anyone reads; agents write."""

    queryset = KnowledgeCategory.objects.none()
    serializer_class = KBCategorySerializer
    permission_classes = [ReadOrAgent]
    pagination_class = DefaultPagination
    filter_backends: list[Any] = []
    lookup_value_regex = ID_PATTERN

    def get_queryset(self) -> QuerySet[KnowledgeCategory]:
        return selectors.category_list(user=self.request.user)

    def get_object(self) -> KnowledgeCategory:
        found = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if found is None:
            raise NotFound("No such category.")
        return found

    def _shown(self, category: KnowledgeCategory, code: int = status.HTTP_200_OK) -> Response:
        return Response(
            self.get_serializer(self.get_queryset().get(pk=category.pk)).data, status=code
        )

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=KBCategoryWriteSerializer, responses={201: KBCategorySerializer})
    def create(self, request: Request) -> Response:
        serializer = KBCategoryWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = services.category_create(
            actor=signed_in_user(request), **serializer.validated_data
        )
        return self._shown(category, status.HTTP_201_CREATED)

    @extend_schema(request=KBCategoryWriteSerializer, responses=KBCategorySerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        category = self.get_object()
        serializer = KBCategoryWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        category = services.category_update(
            category=category, actor=signed_in_user(request), data=dict(serializer.validated_data)
        )
        return self._shown(category)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.category_delete(category=self.get_object(), actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TagViewSet(viewsets.GenericViewSet):
    """Tags of articles. Anyone reads; agents write."""

    queryset = KnowledgeTag.objects.none()
    serializer_class = KBTagSerializer
    permission_classes = [ReadOrAgent]
    pagination_class = DefaultPagination
    filter_backends: list[Any] = []
    lookup_value_regex = ID_PATTERN

    def get_queryset(self) -> QuerySet[KnowledgeTag]:
        return selectors.tag_list(user=self.request.user)

    def get_object(self) -> KnowledgeTag:
        found = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if found is None:
            raise NotFound("No such tag.")
        return found

    def _shown(self, tag: KnowledgeTag, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=tag.pk)).data, status=code)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=KBTagWriteSerializer, responses={201: KBTagSerializer})
    def create(self, request: Request) -> Response:
        serializer = KBTagWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tag = services.tag_create(actor=signed_in_user(request), **serializer.validated_data)
        return self._shown(tag, status.HTTP_201_CREATED)

    @extend_schema(request=KBTagWriteSerializer, responses=KBTagSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        tag = self.get_object()
        serializer = KBTagWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        tag = services.tag_update(
            tag=tag, actor=signed_in_user(request), data=dict(serializer.validated_data)
        )
        return self._shown(tag)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.tag_delete(tag=self.get_object(), actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FeedbackViewSet(viewsets.GenericViewSet):
    """Readers' feedback on articles, newest first, for editors (agents only): resolve or
    dismiss it, or turn it into a ticket."""

    queryset = KnowledgeArticleFeedback.objects.none()
    serializer_class = KBFeedbackSerializer
    permission_classes = [IsAgent]
    pagination_class = DefaultPagination
    filter_backends: list[Any] = []
    lookup_value_regex = ID_PATTERN

    def get_queryset(self) -> QuerySet[KnowledgeArticleFeedback]:
        return selectors.feedback_list()

    def get_object(self) -> KnowledgeArticleFeedback:
        found = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if found is None:
            raise NotFound("No such feedback.")
        return found

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=[s.value for s in FeedbackStatus]),
        ]
    )
    def list(self, request: Request) -> Response:
        feedback = self.get_queryset()
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in FeedbackStatus.values:
                raise ValidationError({"status": f"One of {', '.join(FeedbackStatus.values)}."})
            feedback = feedback.filter(status=wanted)
        page = self.paginate_queryset(feedback)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=KBFeedbackResolveSerializer, responses=KBFeedbackSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        """Close the feedback as resolved (the article was fixed) or dismissed."""
        feedback = self.get_object()
        serializer = KBFeedbackResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = services.feedback_resolve(
            feedback=feedback,
            actor=signed_in_user(request),
            status=serializer.validated_data["status"],
            note=serializer.validated_data["note"],
        )
        return Response(self.get_serializer(feedback).data)

    @extend_schema(request=None, responses={201: KBFeedbackSerializer})
    @action(detail=True, methods=["post"])
    def ticket(self, request: Request, pk: str) -> Response:
        """Turn the feedback into a ticket for its author; the feedback is closed with a
        link to the ticket, and the article is linked to it."""
        feedback = self.get_object()
        services.feedback_create_ticket(feedback=feedback, actor=signed_in_user(request))
        return Response(self.get_serializer(self.get_object()).data, status=status.HTTP_201_CREATED)


class SearchView(APIView):
    """Full-text search of the articles the reader may see (published; requesters and
    anonymous readers only public ones). Results are ranked (title above summary above
    body), with the title and passages of the body highlighted (``<mark>``).

    Each search's first page is recorded in the search history; its ``search_id``
    reports the article the reader opens (``search/{search_id}/click/``).
    """

    permission_classes = [AllowAny]

    @extend_schema(parameters=[KBSearchQuerySerializer], responses=KBSearchResponseSerializer)
    def get(self, request: Request) -> Response:
        query = KBSearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        size, number = params["page_size"], params["page"]
        results = selectors.article_search(
            user=request.user,
            query=params["q"],
            category=params.get("category"),
            tag=params.get("tag"),
            kind=params.get("kind"),
            offset=(number - 1) * size,
            limit=size,
        )
        search_id = None
        if number == 1:
            search_id = services.search_record(
                query=params["q"].strip(),
                normalized_query=results.normalized_query,
                user=signed_in_user_or_none(request),
                results_count=results.count,
                corrected_query=results.corrected_query,
            ).token
        url = request.build_absolute_uri()
        more = number * size < results.count
        previous = None
        if number > 1:
            previous = (
                remove_query_param(url, "page")
                if number == 2
                else replace_query_param(url, "page", number - 1)
            )
        data = {
            "count": results.count,
            "count_capped": results.count_capped,
            "next": replace_query_param(url, "page", number + 1) if more else None,
            "previous": previous,
            "query": results.query,
            "corrected_query": results.corrected_query or None,
            "search_id": search_id,
            "results": results.hits,
        }
        return Response(KBSearchResponseSerializer(data, context={"request": request}).data)


class SearchClickView(APIView):
    """Record the article a reader opened from a search's results (the first one
    counts): click-through in the search reports."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=KBSearchClickSerializer,
        parameters=[OpenApiParameter("search_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={204: None},
    )
    def post(self, request: Request, search_id: str) -> Response:
        serializer = KBSearchClickSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        article = selectors.article_get(user=request.user, pk=serializer.validated_data["article"])
        if article is None:
            raise ValidationError({"article": "No such article."})
        services.search_click(token=search_id, article=article)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SuggestionsView(APIView):
    """Articles that may answer a ticket, from its title and description: for the
    ticket page of agents and of the requester (who gets public articles only)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[KBSuggestionQuerySerializer],
        responses={
            200: KBSuggestionsSerializer,
            404: OpenApiResponse(description="No ticket with this key that you can see."),
        },
    )
    def get(self, request: Request) -> Response:
        query = KBSuggestionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        key = query.validated_data["ticket"].upper()
        ticket: Ticket | None = ticket_selectors.ticket_get(user=signed_in_user(request), key=key)
        if ticket is None:
            raise NotFound("No such ticket.")
        articles = selectors.articles_suggested_for_ticket(
            ticket=ticket, user=request.user, limit=query.validated_data["limit"]
        )
        data = {"ticket": ticket.key, "results": articles}
        return Response(KBSuggestionsSerializer(data, context={"request": request}).data)
