"""Earlier exports of the person: the archives hold everything, so erasure deletes them."""

from __future__ import annotations

from privacy import registry
from privacy.models import PrivacyRequest, RequestKind
from privacy.person import Erasure, Person
from privacy.registry import Export
from privacy.sources.common import iso


def _exports(person: Person) -> list[PrivacyRequest]:
    from privacy.services import person_ref

    return list(
        PrivacyRequest.objects.filter(
            kind=RequestKind.EXPORT, person_ref=person_ref(person.email)
        ).exclude(archive="")
    )


def export(person: Person) -> Export:
    return Export(
        data={
            "earlier_exports": [
                {"request_id": str(request.request_id), "created": iso(request.created)}
                for request in _exports(person)
            ]
        }
    )


def erase(person: Person, erasure: Erasure) -> int:
    from django.core.files.storage import default_storage

    requests = _exports(person)
    for request in requests:
        erasure.files.append((default_storage, request.archive))
    return PrivacyRequest.objects.filter(pk__in=[r.pk for r in requests]).update(archive="")


registry.register(
    "exports",
    models=[],
    exporter=export,
    eraser=erase,
    order=95,
    description="Archives of earlier exports of the person (deleted on erasure).",
)
