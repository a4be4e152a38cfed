"""The help center: searches the person ran, feedback they left on articles."""

from __future__ import annotations

from django.db.models import Q

from knowledge.models import KnowledgeArticleFeedback, KnowledgeSearchHistory
from privacy import registry
from privacy.person import ERASED, Erasure, Person
from privacy.registry import Export
from privacy.sources.common import iso


def _feedback(person: Person) -> Q:
    condition = Q(contact__iexact=person.email)
    if person.user is not None:
        condition |= Q(author=person.user)
    return condition


def export(person: Person) -> Export:
    searches = (
        KnowledgeSearchHistory.objects.filter(user=person.user).order_by("created", "pk")
        if person.user is not None
        else KnowledgeSearchHistory.objects.none()
    )
    feedback = KnowledgeArticleFeedback.objects.filter(_feedback(person)).select_related("article")
    return Export(
        data={
            "searches": [
                {"query": row.query, "results": row.results_count, "created": iso(row.created)}
                for row in searches
            ],
            "article_feedback": [
                {
                    "article": row.article.title,
                    "comment": row.comment,
                    "contact": row.contact,
                    "status": row.status,
                    "created": iso(getattr(row, "created", None)),
                }
                for row in feedback.order_by("pk")
            ],
        }
    )


def erase(person: Person, erasure: Erasure) -> int:
    changed = 0
    # Searches are deleted, not emptied: a row is nothing but the query. The reports'
    # tally follows by its delete trigger (and ``privacy.sources.reports``).
    searches = KnowledgeSearchHistory.objects.filter(person.mentions("query"))
    if person.user is not None:
        searches = searches | KnowledgeSearchHistory.objects.filter(user=person.user)
    changed += searches.delete()[0]
    for row in KnowledgeArticleFeedback.objects.filter(_feedback(person)):
        row.comment = ERASED
        row.contact = ""
        row.resolution_note = person.scrub(row.resolution_note, local=True)
        row.save(update_fields=["comment", "contact", "resolution_note"])
        changed += 1
    changed += _scrub_others(person)
    return changed


def _scrub_others(person: Person) -> int:
    from privacy.sources.common import scrub_rows

    return scrub_rows(
        KnowledgeArticleFeedback.objects.exclude(_feedback(person)),
        person,
        ["comment", "resolution_note"],
    )


registry.register(
    "helpcenter",
    models=[KnowledgeSearchHistory, KnowledgeArticleFeedback],
    exporter=export,
    eraser=erase,
    order=20,
    description="Help-center searches and article feedback.",
)
