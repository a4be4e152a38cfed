"""Reads of the satisfaction app: the ratings list and its summaries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from csat.models import Rating, RatingValue


def rating_list() -> QuerySet[Rating]:
    """Every rating, newest first, with what a list shows of its agent and team (one
    query per page, whatever its size)."""
    return Rating.objects.select_related("agent", "team").order_by("-created", "-id")


@dataclass(frozen=True)
class SummaryRow:
    label: str
    count: int
    good: int

    @property
    def good_percent(self) -> int:
        return round(100 * self.good / self.count) if self.count else 0


def rating_summary(ratings: QuerySet[Rating], *, by: str) -> list[SummaryRow]:
    """Count and good answers of ``ratings`` per agent or per team (``by``: "agent" or
    "team"), most ratings first: one GROUP BY, whatever the number of ratings."""
    label = {"agent": "agent__username", "team": "team__name"}[by]
    rows = (
        ratings.order_by()
        .values(label)
        .annotate(count=Count("id"), good=Count("id", filter=Q(rating=RatingValue.GOOD)))
        .order_by("-count", label)
    )
    return [
        SummaryRow(label=row[label] or "", count=row["count"], good=row["good"]) for row in rows
    ]


def rating_totals(ratings: QuerySet[Rating]) -> SummaryRow:
    totals = ratings.order_by().aggregate(
        count=Count("id"), good=Count("id", filter=Q(rating=RatingValue.GOOD))
    )
    return SummaryRow(label="", count=totals["count"], good=totals["good"])
