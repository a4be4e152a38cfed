"""A change made with an integration token names the token: its events carry it under
"via", its history rows its label; the same person's changes without it name nothing,
and the token's description ends with its request."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from eventlog.context import current_via, via_for_request
from eventlog.models import EventLog
from nixflow.models import HistoryLog, Ticket, User
from tests.api_tokens.conftest import MakeToken, bearer

pytestmark = pytest.mark.django_db


def _set_priority(client: APIClient, ticket: Ticket, priority: str) -> None:
    response = client.patch(f"/api/tickets/{ticket.key}/", {"priority": priority}, format="json")
    assert response.status_code == 200, response.content


def test_a_change_made_with_a_token_names_it_in_the_event_and_the_history(
    agent: User, ticket: Ticket, make_token: MakeToken
) -> None:
    made = make_token(agent, "tickets:write", name="CRM sync")

    _set_priority(bearer(made.secret), ticket, "HIGH")

    event = EventLog.objects.get(type="ticket.updated", ticket_key=ticket.key)
    assert event.actor_id == agent.pk
    assert event.payload["via"] == {
        "kind": "token",
        "id": made.token.pk,
        "name": "CRM sync",
        "prefix": made.token.prefix,
    }
    assert HistoryLog.objects.get(ticket=ticket, field="priority").via == "token: CRM sync"


def test_the_same_person_signed_in_names_no_token_and_none_outlives_its_request(
    agent: User, agent_api: APIClient, ticket: Ticket, make_token: MakeToken
) -> None:
    made = make_token(agent, "tickets:write", name="CRM sync")
    _set_priority(bearer(made.secret), ticket, "HIGH")
    assert current_via() is None  # the request's scope ended with it

    _set_priority(agent_api, ticket, "LOW")

    latest = EventLog.objects.filter(type="ticket.updated", ticket_key=ticket.key).latest("pk")
    assert "via" not in latest.payload
    rows = HistoryLog.objects.filter(ticket=ticket, field="priority").order_by("pk")
    assert [(row.new_value, row.via) for row in rows] == [
        ("HIGH", "token: CRM sync"),
        ("LOW", ""),
    ]


def test_outside_a_request_nothing_is_recorded_as_made_via_a_token() -> None:
    via_for_request({"kind": "token", "id": 1, "name": "stray"})
    assert current_via() is None
