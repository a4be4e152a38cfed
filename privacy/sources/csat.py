"""Satisfaction ratings on the person's tickets and the comments they wrote."""

from __future__ import annotations

from csat.models import Rating, Survey
from privacy import registry
from privacy.person import ERASED, Erasure, Person
from privacy.registry import Export
from privacy.sources.common import iso, scrub_rows


def export(person: Person) -> Export:
    if person.user is None:
        return Export(data={"ratings": []})
    ratings = Rating.objects.filter(survey__requester=person.user).select_related("ticket")
    return Export(
        data={
            "ratings": [
                {
                    "ticket": rating.ticket.key,
                    "rating": rating.rating,
                    "comment": rating.comment,
                    "created": iso(getattr(rating, "created", None)),
                }
                for rating in ratings.order_by("pk")
            ]
        }
    )


def erase(person: Person, erasure: Erasure) -> int:
    changed = 0
    if person.user is not None:
        # The rating stays (the agent's and team's scores keep their shape); the
        # comment was the person's own words.
        changed += (
            Rating.objects.filter(survey__requester=person.user)
            .exclude(comment="")
            .exclude(comment=ERASED)
            .update(comment=ERASED)
        )
    changed += scrub_rows(Rating.objects.all(), person, ["comment"])
    changed += scrub_rows(Survey.objects.all(), person, ["status_reason"])
    return changed


registry.register(
    "csat",
    models=[Rating, Survey],
    exporter=export,
    eraser=erase,
    order=20,
    description="Satisfaction ratings and their comments.",
)
