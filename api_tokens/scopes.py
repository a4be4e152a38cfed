"""The scopes an integration token may hold: read or write per area of the desk.

An area is a part of the API (``api_tokens.areas`` says which views belong to which);
``<area>:read`` lets a token use the area's safe methods (GET, HEAD, OPTIONS),
``<area>:write`` every method. Write includes read: whoever changes tickets reads them
(every write answers with the object it changed), and a scope list that says
``tickets:write`` without ``tickets:read`` would only be a trap.

``admin`` is the desk's configuration (users, teams, routing, workflows, custom fields,
automation, webhooks, the event log, these tokens), not a master key: ``admin:write``
gives nothing in the other areas.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError

AREAS = ("tickets", "knowledge", "forms", "sla", "mail", "admin")
READ = "read"
WRITE = "write"
SCOPES = tuple(f"{area}:{level}" for area in AREAS for level in (READ, WRITE))


def scope_for(area: str, *, write: bool) -> str:
    return f"{area}:{WRITE if write else READ}"


def scopes_clean(scopes: Iterable[object]) -> list[str]:
    """The scopes in their canonical order, without repeats; unknown ones refused."""
    given = [str(scope).strip() for scope in scopes]
    unknown = sorted({scope for scope in given if scope not in SCOPES})
    if unknown:
        raise ValidationError(
            {"scopes": f"Unknown scopes: {', '.join(unknown)}. Known: {', '.join(SCOPES)}."}
        )
    if not given:
        raise ValidationError({"scopes": "A token needs at least one scope."})
    return [scope for scope in SCOPES if scope in given]


def scopes_allow(scopes: Iterable[str], needed: str) -> bool:
    """Whether ``scopes`` include ``needed`` (``area:write`` includes ``area:read``)."""
    held = set(scopes)
    if needed in held:
        return True
    area, _, level = needed.partition(":")
    return level == READ and f"{area}:{WRITE}" in held
