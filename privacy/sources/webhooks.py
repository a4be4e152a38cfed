"""Webhook deliveries: the body sent is rendered from the event (erased with the event
log's per-person key); what the receiver answered is kept as an excerpt."""

from __future__ import annotations

from privacy import registry
from privacy.person import Erasure, Person
from privacy.registry import Export
from privacy.sources.common import scrub_rows
from webhooks.models import Delivery


def export(person: Person) -> Export:
    # Deliveries carry the events' payloads, which the event log exports.
    return Export(data={})


def erase(person: Person, erasure: Erasure) -> int:
    return scrub_rows(Delivery.objects.all(), person, ["response_excerpt", "last_error"])


registry.register(
    "webhooks",
    models=[Delivery],
    exporter=export,
    eraser=erase,
    order=20,
    description="Receivers' answers to webhook deliveries that name the person.",
)
