"""SLA breaches: an agent's acknowledgement note may name the requester."""

from __future__ import annotations

from privacy import registry
from privacy.person import Erasure, Person
from privacy.registry import Export
from privacy.sources.common import scrub_rows
from sla.models import SLABreach


def export(person: Person) -> Export:
    return Export(data={})


def erase(person: Person, erasure: Erasure) -> int:
    return scrub_rows(
        SLABreach.objects.filter(ticket_id__in=person.ticket_ids),
        person,
        ["acknowledgement_note"],
        local=True,
    ) + scrub_rows(SLABreach.objects.all(), person, ["acknowledgement_note"])


registry.register(
    "sla",
    models=[SLABreach],
    exporter=export,
    eraser=erase,
    order=20,
    description="Mentions of the person in breach acknowledgements.",
)
