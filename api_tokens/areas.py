"""Which area of the desk each API view belongs to: what scope a token needs there.

One table for the whole API. A view's area is, first, its class's own ``token_area``
attribute when it has one; otherwise the longest entry of ``AREAS`` that names its class
(``module.Class``) or a module it lives in (a feature app by its package). A view no
entry names accepts no integration token at all (403): a new view is closed to tokens
until someone says what area it is in, and ``tests/api_tokens/test_areas.py`` walks every
API route so that the omission fails there first.

An entry is one area (reads need ``<area>:read``, writes ``<area>:write``), a pair
``(read area, write area)`` for configuration that ticket work reads but only admins
change, ``PUBLIC`` for the routes that hold no data (the schema, signing in), or
``ANY`` in a pair for reads any token may make (who am I).
"""

from __future__ import annotations

from typing import Final

from rest_framework.permissions import SAFE_METHODS

from api_tokens.scopes import AREAS as AREA_NAMES
from api_tokens.scopes import scope_for

PUBLIC: Final = "public"  # no scope needed
ANY: Final = "any"  # any valid token

Area = str | tuple[str, str]

AREAS: dict[str, Area] = {
    # No data: signing in with a password, and the API's description.
    "nixflow.api.auth.TokenLoginView": PUBLIC,
    "drf_spectacular.views": PUBLIC,
    # The core. Tickets and what agents do with them.
    "nixflow.api.views.TicketViewSet": "tickets",
    "nixflow.api.ticket_links": "tickets",
    "nixflow.api.saved_views": "tickets",
    "nixflow.api.tags": "tickets",
    # Whom the token acts for: any token may ask; an agent's availability is ticket work.
    "nixflow.api.teams.MeView": (ANY, "tickets"),
    # Configuration that ticket work reads (a ticket's workflow and stages, the teams
    # to hand it to, its custom fields) and only admins change.
    "nixflow.api.views.WorkflowViewSet": ("tickets", "admin"),
    "nixflow.api.teams.TeamViewSet": ("tickets", "admin"),
    "nixflow.api.ticket_fields": ("tickets", "admin"),  # /api/fields/
    "nixflow.api.teams.RoutingRuleViewSet": "admin",
    "nixflow.api.users": "admin",
    # Feature apps, by package.
    "macros": "tickets",
    "csat": "tickets",
    "notifications": "tickets",
    "reports": "tickets",  # /api/reports/: figures about tickets, read-only
    "knowledge": "knowledge",
    "forms_builder": "forms",
    "sla": "sla",
    "email_integration": "mail",
    "eventlog": "admin",
    "automation": "admin",
    "webhooks": "admin",
    "api_tokens": "admin",
}


class UnclassifiedError(LookupError):
    """A view that no entry of AREAS names (and has no ``token_area``)."""


def area_of(view_class: type) -> Area:
    """The area entry of ``view_class``; UnclassifiedError when there is none."""
    own = getattr(view_class, "token_area", None)
    if own is not None:
        return own
    dotted = f"{view_class.__module__}.{view_class.__qualname__}"
    while dotted:
        if dotted in AREAS:
            return AREAS[dotted]
        dotted = dotted.rpartition(".")[0]
    raise UnclassifiedError(f"{view_class.__module__}.{view_class.__qualname__}")


def required_scope(view_class: type, method: str) -> str:
    """The scope a request with ``method`` needs at ``view_class``: ``tickets:write``,
    or PUBLIC / ANY. Raises Unclassified for a view of no area."""
    area = area_of(view_class)
    write = method.upper() not in SAFE_METHODS
    if isinstance(area, tuple):
        area = area[1] if write else area[0]
    if area in (PUBLIC, ANY):
        return area
    if area not in AREA_NAMES:
        raise UnclassifiedError(f"{view_class.__qualname__}: unknown area {area!r}")
    return scope_for(area, write=write)
