"""Notifications: the person's own inbox, and other people's notices that name them."""

from __future__ import annotations

from notifications.models import Notification, NotificationPreference
from privacy import registry
from privacy.person import Erasure, Person
from privacy.registry import Export
from privacy.sources.common import iso, scrub_rows


def export(person: Person) -> Export:
    if person.user is None:
        return Export(data={"notifications": []})
    rows = Notification.objects.filter(recipient=person.user).order_by("pk")
    return Export(
        data={
            "notifications": [
                {"kind": row.kind, "text": row.text, "created": iso(row.created)} for row in rows
            ],
            "preferences": list(
                NotificationPreference.objects.filter(user=person.user).values("kind")
            ),
        }
    )


def erase(person: Person, erasure: Erasure) -> int:
    changed = 0
    if person.user is not None:
        changed += Notification.objects.filter(recipient=person.user).delete()[0]
        changed += NotificationPreference.objects.filter(user=person.user).delete()[0]
    # "Zelda Quartermain replied on NF-12" in an agent's inbox.
    changed += scrub_rows(Notification.objects.all(), person, ["text"])
    return changed


registry.register(
    "notifications",
    models=[Notification, NotificationPreference],
    exporter=export,
    eraser=erase,
    order=20,
    description="The person's notifications, and mentions of them in others'.",
)
