"""``GET /api/csat/``: the requesters' satisfaction ratings, for agents and admins.

Requesters get 403: the ratings of a desk are staff figures, and a requester has their
own answer on the survey page. Newest first, one keyset cursor page at a time (no
COUNT, no OFFSET), filtered by ``from``/``to`` (when first answered), ``agent``,
``team`` and ``rating``; each filter with the list's order is one index range scan.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, viewsets

from csat import selectors
from csat.api.serializers import RatingSerializer
from csat.models import Rating, RatingValue
from nixflow.api.filters import IdFilter
from nixflow.api.pagination import KeysetCursorPagination
from nixflow.api.permissions import IsAgent
from nixflow.toolkit.filters import UTCDateTimeFilter


class IsAgentForRatings(IsAgent):
    message = "Only agents and admins can read satisfaction ratings."


class RatingCursorPagination(KeysetCursorPagination):
    """Newest first: the csat_rating_created index on (-created, -id)."""

    ordering = ("-created", "-id")
    page_size = 50


class RatingFilter(django_filters.FilterSet):
    agent = IdFilter(field_name="agent_id", label="The agent credited (assignee at resolution).")
    team = IdFilter(field_name="team_id", label="The team credited (team at resolution).")
    rating = django_filters.ChoiceFilter(choices=RatingValue.choices, label="good or bad.")

    class Meta:
        model = Rating
        fields: list[str] = []


# "from" is a Python keyword, so these two are added by name rather than declared.
RatingFilter.base_filters["from"] = UTCDateTimeFilter(
    field_name="created", lookup_expr="gte", label="Answered at or after (ISO 8601)."
)
RatingFilter.base_filters["to"] = UTCDateTimeFilter(
    field_name="created", lookup_expr="lt", label="Answered before (ISO 8601)."
)


class RatingViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Rating]):
    """Satisfaction ratings, newest first: one per rated ticket, credited to the agent
    and team that had the ticket when it was resolved."""

    serializer_class = RatingSerializer
    permission_classes = [IsAgentForRatings]
    pagination_class = RatingCursorPagination
    filter_backends: list[Any] = [DjangoFilterBackend]
    filterset_class = RatingFilter

    def get_queryset(self) -> QuerySet[Rating]:
        return selectors.rating_list()
