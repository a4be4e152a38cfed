"""``/api/knowledge/feedback/``: readers' feedback, for editors."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from knowledge import selectors, services
from knowledge.api.serializers import KBFeedbackResolveSerializer, KBFeedbackSerializer
from knowledge.api.views.common import ID_PATTERN, IsAgent
from knowledge.models import FeedbackStatus, KnowledgeArticleFeedback
from nixflow.api.pagination import DefaultPagination
from nixflow.toolkit.auth import signed_in_user


class FeedbackViewSet(viewsets.GenericViewSet):
    """Readers' feedback on articles, newest first, for editors (agents only): resolve or
    dismiss it, or turn it into a ticket."""

    queryset = KnowledgeArticleFeedback.objects.none()
    serializer_class = KBFeedbackSerializer
    permission_classes = [IsAgent]
    pagination_class = DefaultPagination
    conflicts = {
        "resolve": "The feedback is already resolved or dismissed.",
        "ticket": "The feedback is already resolved or dismissed.",
    }
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
    # The API's shape for an action (validate, call the service, serialize), as in the article
    # actions.
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
