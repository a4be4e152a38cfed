"""A requester cannot tell which accounts exist by trying user ids: an id that names
nobody and an id of someone else get the same 400 with the same message, wherever a
request body or query names a user (a ticket's requester or assignee, a watcher)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from nixflow.models import Role, Ticket, TicketWatcher, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

UNKNOWN = 987_654_321

Call = Callable[[APIClient, Ticket, int], Any]

CALLS: dict[str, Call] = {
    "create as requester": lambda c, t, uid: c.post(
        "/api/tickets/", {"title": "Printer", "requester": uid}, format="json"
    ),
    "create with assignee": lambda c, t, uid: c.post(
        "/api/tickets/", {"title": "Printer", "assignee": uid}, format="json"
    ),
    "update assignee": lambda c, t, uid: c.patch(
        f"/api/tickets/{t.key}/", {"assignee": uid}, format="json"
    ),
    "assign": lambda c, t, uid: c.post(
        f"/api/tickets/{t.key}/assign/", {"assignee": uid}, format="json"
    ),
    "watch": lambda c, t, uid: c.post(
        f"/api/tickets/{t.key}/watchers/", {"user": uid}, format="json"
    ),
    "unwatch": lambda c, t, uid: c.delete(f"/api/tickets/{t.key}/watchers/?user={uid}"),
}


def answer(response: Any, uid: int) -> tuple[int, dict[str, list[str]]]:
    """The status and the messages, the id given written as ``ID``."""
    body = {k: [m.replace(str(uid), "ID") for m in v] for k, v in response.json().items()}
    return response.status_code, body


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("kind", ["agent", "requester", "admin", "inactive"])
def test_an_unknown_and_someone_elses_id_get_the_same_answer(
    requester_api: APIClient, ticket: Ticket, call: Call, kind: str
) -> None:
    if kind == "inactive":
        other = UserFactory(role=Role.REQUESTER, is_active=False)
    else:
        other = UserFactory(role=kind)

    unknown = call(requester_api, ticket, UNKNOWN)
    known = call(requester_api, ticket, other.pk)

    assert unknown.status_code == 400
    assert answer(known, other.pk) == answer(unknown, UNKNOWN)
    assert not TicketWatcher.objects.filter(user=other).exists()


def test_a_requester_still_names_themselves(
    requester_api: APIClient, requester: User, ticket: Ticket
) -> None:
    created = requester_api.post(
        "/api/tickets/", {"title": "Printer", "requester": requester.pk}, format="json"
    )
    watched = requester_api.post(
        f"/api/tickets/{ticket.key}/watchers/", {"user": requester.pk}, format="json"
    )

    assert created.status_code == 201, created.content
    assert watched.status_code == 201, watched.content


def test_agents_still_name_any_user(agent_api: APIClient, agent: User, requester: User) -> None:
    response = agent_api.post(
        "/api/tickets/",
        {"title": "Printer", "requester": requester.pk, "assignee": agent.pk},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["requester"]["id"] == requester.pk
    assert response.json()["assignee"]["id"] == agent.pk
