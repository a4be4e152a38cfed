"""API tokens: credentials of the person's account."""

from __future__ import annotations

from api_tokens.models import ApiToken, LegacyTokenUse
from privacy import registry
from privacy.person import Erasure, Person
from privacy.registry import Export
from privacy.sources.common import iso


def export(person: Person) -> Export:
    if person.user is None:
        return Export(data={"tokens": []})
    return Export(
        data={
            "tokens": [
                {
                    "name": token.name,
                    "scopes": token.scopes,
                    "prefix": token.prefix,
                    "created": iso(getattr(token, "created", None)),
                }
                for token in ApiToken.objects.filter(user=person.user).order_by("pk")
            ]
        }
    )


def erase(person: Person, erasure: Erasure) -> int:
    if person.user is None:
        return 0
    return (
        ApiToken.objects.filter(user=person.user).delete()[0]
        + LegacyTokenUse.objects.filter(user=person.user).delete()[0]
    )


registry.register(
    "api_tokens",
    models=[ApiToken, LegacyTokenUse],
    exporter=export,
    eraser=erase,
    order=20,
    description="The person's API tokens.",
)
