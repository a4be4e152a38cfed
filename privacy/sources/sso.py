"""Single sign-on: the identity provider's subject linked to the person's account."""

from __future__ import annotations

from privacy import registry
from privacy.person import Erasure, Person
from privacy.registry import Export
from privacy.sources.common import iso
from sso.models import Identity


def export(person: Person) -> Export:
    if person.user is None:
        return Export(data={"identities": []})
    return Export(
        data={
            "identities": [
                {
                    "issuer": identity.issuer,
                    "subject": identity.subject,
                    "created": iso(identity.created),
                    "last_signed_in": iso(identity.last_signed_in),
                }
                for identity in Identity.objects.filter(user=person.user).order_by("pk")
            ]
        }
    )


def erase(person: Person, erasure: Erasure) -> int:
    # The link goes: a later sign-in with the same provider account starts afresh.
    if person.user is None:
        return 0
    return Identity.objects.filter(user=person.user).delete()[0]


registry.register(
    "sso",
    models=[Identity],
    exporter=export,
    eraser=erase,
    order=20,
    description="Single sign-on identities linked to the account.",
)
