"""The requester portal: what the person typed while the portal looked for an article
before they opened a request (deflection attempts). Sign-in links and invitations are
signed tokens mailed to them, not rows: the mail is erased with the mail."""

from __future__ import annotations

from portal.models import DeflectionAttempt
from privacy import registry
from privacy.person import ERASED, Erasure, Person
from privacy.registry import Export
from privacy.sources.common import iso, scrub_rows


def export(person: Person) -> Export:
    if person.user is None:
        return Export(data={"deflection_attempts": []})
    rows = DeflectionAttempt.objects.filter(requester=person.user).order_by("pk")
    return Export(
        data={
            "deflection_attempts": [
                {
                    "subject": row.subject,
                    "articles_shown": row.shown,
                    "articles_opened": row.opened,
                    "created": iso(getattr(row, "created", None)),
                }
                for row in rows
            ]
        }
    )


def erase(person: Person, erasure: Erasure) -> int:
    changed = 0
    if person.user is not None:
        changed += (
            DeflectionAttempt.objects.filter(requester=person.user)
            .exclude(subject=ERASED)
            .update(subject=ERASED)
        )
    changed += scrub_rows(DeflectionAttempt.objects.all(), person, ["subject"])
    return changed


registry.register(
    "portal",
    models=[DeflectionAttempt],
    exporter=export,
    eraser=erase,
    order=20,
    description="What the person typed before opening a request in the portal.",
)
