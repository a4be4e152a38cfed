"""The event log: append-only and sealed, so nothing in it is rewritten. Personal values
in payloads are encrypted under a key per person (``eventlog.personal``); erasure deletes
that key, which leaves the ciphertext unreadable and the row hashes intact. Events
recorded before that design are counted, not changed. Outbox rows (work queued for
after a commit) are ordinary rows and are cleaned."""

from __future__ import annotations

from eventlog import personal
from eventlog.models import EventLog, OutboxMessage, PersonKey
from privacy import registry
from privacy.person import Erasure, Person
from privacy.registry import Export
from privacy.sources.common import iso, scrub_json_rows, scrub_rows


def export(person: Person) -> Export:
    actor_ids = [person.user.pk] if person.user is not None else []
    events = personal.events_about(person.email, actor_ids=actor_ids)
    return Export(
        data={
            "events": [
                {
                    "id": event.pk,
                    "type": event.type,
                    "occurred_at": iso(event.occurred_at),
                    "ticket": event.ticket_key,
                    "by_them": event.actor_id is not None and event.actor_id in actor_ids,
                    "payload": event.payload,
                }
                for event in events
            ]
        }
    )


def erase(person: Person, erasure: Erasure) -> int:
    also = [name for name in person.global_identifiers if name != person.email]
    erasure.legacy_events = personal.legacy_events_mentioning(person.email, also=also).count()
    changed = personal.shred(person.email)
    changed += scrub_json_rows(OutboxMessage.objects.all(), person, ["kwargs"])
    changed += scrub_rows(OutboxMessage.objects.all(), person, ["last_error"])
    return changed


registry.register(
    "events",
    models=[EventLog, OutboxMessage, PersonKey],
    exporter=export,
    eraser=erase,
    order=80,
    description="Events about the person (their key is shredded) and queued work.",
)
