"""Scopes over the areas: each area's reads need ``<area>:read`` (or write), its writes
``<area>:write``; a token never gives more than its owner's role; and every API route of
the URLconf belongs to an area, so no view escapes the check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from api_tokens.areas import ANY, PUBLIC, UnclassifiedError, area_of, required_scope
from api_tokens.scopes import AREAS, SCOPES, scopes_allow
from nixflow.models import Role, User
from tests.api_tokens.conftest import MakeToken, bearer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# One sample endpoint per area: a read, and a write with a body that is valid (so that
# an allowed write is a 2xx) or, where a valid one needs rows, one the view refuses (a
# 400: past authentication and scopes, refused by the serializer).
SAMPLES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "tickets": ("/api/tickets/", "/api/tickets/", {"title": "Scanner is slow"}),
    "knowledge": ("/api/knowledge/categories/", "/api/knowledge/categories/", {"name": "Mail"}),
    "forms": ("/api/forms/", "/api/forms/", {"name": ""}),
    "sla": ("/api/sla/calendars/", "/api/sla/calendars/", {"name": ""}),
    "mail": ("/api/email/accounts/", "/api/email/accounts/", {"name": ""}),
    "admin": ("/api/events/", "/api/routing-rules/", {"name": ""}),
}
PASSED = {200, 201, 400}  # allowed in: an answer, or the body refused


@pytest.fixture
def admin(db: None) -> User:
    return UserFactory(role=Role.ADMIN, username="scope_admin")


def _denied(response: Any, scope: str) -> None:
    assert response.status_code == 403, response.content
    assert response.json() == {"detail": f"This token's scopes do not include {scope}."}


@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize("held", ["read", "write", "other"])
def test_each_area_needs_its_own_scope_to_read_and_write(
    area: str, held: str, admin: User, make_token: MakeToken
) -> None:
    other = next(a for a in AREAS if a != area)
    scope = f"{other}:write" if held == "other" else f"{area}:{held}"
    client = bearer(make_token(admin, scope).secret)
    read_url, write_url, body = SAMPLES[area]

    read = client.get(read_url)
    if held in ("read", "write"):
        assert read.status_code == 200, read.content
    else:
        _denied(read, f"{area}:read")

    write = client.post(write_url, body, format="json")
    if held == "write":
        assert write.status_code in PASSED, write.content
    else:
        _denied(write, f"{area}:write")


def test_a_token_with_several_scopes_uses_each(admin: User, make_token: MakeToken) -> None:
    client = bearer(make_token(admin, "tickets:write", "sla:read").secret)
    assert client.post("/api/tickets/", {"title": "Two scopes"}, format="json").status_code == 201
    assert client.get("/api/sla/calendars/").status_code == 200
    _denied(client.post("/api/sla/calendars/", {"name": ""}, format="json"), "sla:write")
    _denied(client.get("/api/knowledge/categories/"), "knowledge:read")


def test_configuration_that_ticket_work_reads_is_changed_only_with_admin_write(
    admin: User, make_token: MakeToken
) -> None:
    tickets = bearer(make_token(admin, "tickets:write").secret)
    assert tickets.get("/api/workflows/").status_code == 200
    assert tickets.get("/api/teams/").status_code == 200
    _denied(tickets.post("/api/teams/", {"name": "Tier 2"}, format="json"), "admin:write")
    _denied(tickets.get("/api/routing-rules/"), "admin:read")
    configuring = bearer(make_token(admin, "admin:write").secret)
    assert configuring.post("/api/teams/", {"name": "Tier 2"}, format="json").status_code == 201
    _denied(configuring.get("/api/tickets/"), "tickets:read")


def test_any_token_may_ask_whom_it_acts_for(admin: User, make_token: MakeToken) -> None:
    client = bearer(make_token(admin, "knowledge:read").secret)
    response = client.get("/api/me/")
    assert response.status_code == 200
    assert response.json()["username"] == admin.username
    _denied(client.patch("/api/me/", {"availability": "away"}, format="json"), "tickets:write")


def test_a_requesters_token_with_every_scope_is_still_a_requester(
    requester: User, other_requester: User, make_token: MakeToken
) -> None:
    from tests.helpers import new_ticket

    mine = new_ticket(requester, "Mine")
    new_ticket(other_requester, "Theirs")
    client = bearer(make_token(requester, *SCOPES).secret)
    listed = client.get("/api/tickets/")
    assert listed.status_code == 200
    assert [t["key"] for t in listed.json()["results"]] == [mine.key]
    # Staff reads and admin writes: refused by the role, with the view's own message.
    events = client.get("/api/events/")
    assert events.status_code == 403
    assert "scopes" not in events.json()["detail"]
    assert client.post("/api/teams/", {"name": "Mine now"}, format="json").status_code == 403
    assert client.get("/api/email/accounts/").status_code == 403


def test_an_agents_admin_write_token_does_not_make_them_an_admin(
    agent: User, make_token: MakeToken
) -> None:
    client = bearer(make_token(agent, "admin:write").secret)
    response = client.post("/api/teams/", {"name": "Tier 3"}, format="json")
    assert response.status_code == 403
    assert "scopes" not in response.json()["detail"]


def test_write_includes_read_and_nothing_includes_another_area() -> None:
    assert scopes_allow(["tickets:write"], "tickets:read")
    assert not scopes_allow(["tickets:read"], "tickets:write")
    assert not scopes_allow(["admin:write"], "tickets:read")


# --- No view escapes -------------------------------------------------------------------
def _api_views() -> list[tuple[str, type, frozenset[str]]]:
    found: list[tuple[str, type, frozenset[str]]] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for item in patterns:
            route = prefix + str(item.pattern)
            if isinstance(item, URLResolver):
                walk(item.url_patterns, route)
            elif route.startswith("api/"):
                callback: Callable[..., Any] = item.callback
                cls = getattr(callback, "cls", None)
                assert cls is not None, f"/{route} is not a DRF view: tokens cannot reach it"
                actions = getattr(callback, "actions", None)
                if actions:
                    methods = frozenset(m.upper() for m in actions)
                else:
                    methods = frozenset(m.upper() for m in cls.http_method_names if hasattr(cls, m))
                found.append((route, cls, methods))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_route_belongs_to_an_area() -> None:
    routes = _api_views()
    assert len(routes) > 50
    missing = []
    for route, cls, methods in routes:
        for method in methods | {"GET", "POST"}:
            try:
                scope = required_scope(cls, method)
            except UnclassifiedError as error:
                missing.append(f"{method} /{route}: {error}")
                continue
            assert scope in (PUBLIC, ANY, *SCOPES), (route, method, scope)
    assert not missing, (
        "API views of no area (api_tokens/areas.py, or token_area on the view):\n"
        + "\n".join(missing)
    )


def test_only_signing_in_and_the_schema_need_no_scope() -> None:
    public = sorted({route for route, cls, _ in _api_views() if area_of(cls) == PUBLIC})
    assert public == ["api/auth/token/", "api/docs/", "api/schema/"]


class Stray(APIView):
    """A view no one classified."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"reached": True})


class Classified(Stray):
    token_area = "sla"


def test_a_view_of_no_area_refuses_every_token(admin: User, make_token: MakeToken) -> None:
    secret = make_token(admin, *SCOPES).secret
    request = APIRequestFactory().get("/stray/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = Stray.as_view()(request)
    assert response.status_code == 403
    assert response.data == {"detail": "This endpoint does not accept integration tokens."}


def test_a_views_token_area_attribute_names_its_area(admin: User, make_token: MakeToken) -> None:
    factory = APIRequestFactory()
    knowledge = make_token(admin, "knowledge:read").secret
    sla = make_token(admin, "sla:read").secret
    refused = Classified.as_view()(factory.get("/x/", HTTP_AUTHORIZATION=f"Bearer {knowledge}"))
    assert refused.status_code == 403
    allowed = Classified.as_view()(factory.get("/x/", HTTP_AUTHORIZATION=f"Bearer {sla}"))
    assert allowed.status_code == 200
    assert allowed.data == {"reached": True}
