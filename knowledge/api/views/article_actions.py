"""The articles' actions beyond reading and writing them, one mixin per concern; each
starts from ``ArticleBase.get_object`` (the article as the caller may see it)."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from knowledge import selectors, services
from knowledge.api.serializers import (
    KBArticleDetailSerializer,
    KBAttachmentSerializer,
    KBAttachmentUploadSerializer,
    KBDiffQuerySerializer,
    KBFeedbackCreateSerializer,
    KBFeedbackSerializer,
    KBRateSerializer,
    KBRatingSerializer,
    KBRestoreSerializer,
    KBTicketKeySerializer,
    KBTicketLinkSerializer,
    KBVersionDetailSerializer,
    KBVersionDiffSerializer,
    KBVersionSerializer,
)
from knowledge.api.views.common import ID_PATTERN, ID_SCHEMA, ArticleBase, IsAgent
from knowledge.models import KnowledgeArticleVersion
from nixflow import selectors as ticket_selectors
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.downloads import attachment_response

logger = logging.getLogger(__name__)


class ArticleVersionsMixin(ArticleBase):
    """``versions/``, ``versions/{number}/``, ``diff/`` and ``restore/``: agents only."""

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


class ArticleReadersMixin(ArticleBase):
    """``rate/`` and ``feedback/``: what signed-in readers send about an article."""

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
        summary = selectors.rating_summary(article=article, user=request.user)
        return Response(KBRatingSerializer(summary).data)

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


class ArticleFilesMixin(ArticleBase):
    """``attachments/``: the article's files, uploaded by agents, downloaded by readers."""

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
        # Same shape as the core's ticket attachment route: the schema and route of another model's
        # files.
        url_path=rf"attachments/(?P<attachment_id>{ID_PATTERN})",
        url_name="attachment",
        pagination_class=None,
    )
    def attachment(self, request: Request, pk: str, attachment_id: str) -> HttpResponseBase:
        """Download a file of an article you can see (always as an attachment, never
        shown inline: the browser must not interpret it)."""
        article = self.get_object()
        # Same shape as the forms admin's download: the API answers NotFound JSON, the admin 404
        # pages.
        found = article.attachments.filter(pk=attachment_id).first()
        if found is None:
            raise NotFound("No such attachment.")
        try:
            file = found.file.open("rb")
        except FileNotFoundError as error:
            logger.error("The file of knowledge attachment %s is missing: %s", found.pk, error)
            raise NotFound("The file of this attachment is missing.") from error
        return attachment_response(
            file,
            filename=found.filename,
            content_type=found.content_type,
            request=request._request,
        )


class ArticleTicketsMixin(ArticleBase):
    """``tickets/``: the tickets an article helped with. Agents only."""

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
