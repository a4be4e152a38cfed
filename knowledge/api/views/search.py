"""``/api/knowledge/search/`` (with its click reports) and ``/api/knowledge/suggestions/``."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from knowledge import search, selectors, services, suggestions
from knowledge.api.serializers import (
    KBSearchClickSerializer,
    KBSearchQuerySerializer,
    KBSearchResponseSerializer,
    KBSuggestionQuerySerializer,
    KBSuggestionsSerializer,
)
from nixflow import selectors as ticket_selectors
from nixflow.models import Ticket
from nixflow.toolkit.auth import signed_in_user, signed_in_user_or_none


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
        results = search.article_search(
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
        articles = suggestions.articles_suggested_for_ticket(
            ticket=ticket, user=request.user, limit=query.validated_data["limit"]
        )
        data = {"ticket": ticket.key, "results": articles}
        return Response(KBSuggestionsSerializer(data, context={"request": request}).data)
