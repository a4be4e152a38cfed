"""Custom fields through the API: /api/fields/ by role, values on tickets (create, PATCH,
shown to agents only), and ``?field.<name>=`` on the ticket list through its index."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from nixflow import services
from nixflow.models import FieldType, Stage, Ticket, TicketField, User
from tests.factories import AdminFactory
from tests.helpers import as_user, new_ticket

pytestmark = pytest.mark.django_db


def make_field(name: str, type: str = FieldType.TEXT, **data: Any) -> TicketField:
    label = name.replace("_", " ").capitalize()
    return services.ticket_field_create(
        actor=None, data={"name": name, "label": label, "type": type, **data}
    )


@pytest.fixture
def admin_client() -> APIClient:
    return as_user(APIClient(), AdminFactory())


# --- /api/fields/ ----------------------------------------------------------------------------
def test_requesters_cannot_read_fields(requester_api: APIClient) -> None:
    make_field("order_number")
    assert requester_api.get("/api/fields/").status_code == 403


def test_agents_read_fields_but_do_not_change_them(agent_api: APIClient) -> None:
    field = make_field("kind", FieldType.CHOICE, choices=["a", "b"])
    response = agent_api.get("/api/fields/")
    assert response.status_code == 200
    assert [(f["name"], f["type"], f["choices"]) for f in response.json()] == [
        ("kind", "choice", ["a", "b"])
    ]
    assert agent_api.get(f"/api/fields/{field.pk}/").json()["label"] == "Kind"
    created = agent_api.post("/api/fields/", {"name": "x", "label": "X", "type": "text"})
    assert created.status_code == 403
    assert agent_api.delete(f"/api/fields/{field.pk}/").status_code == 403


def test_admins_create_change_and_delete_fields(
    admin_client: APIClient, stages: dict[str, Stage]
) -> None:
    response = admin_client.post(
        "/api/fields/",
        {
            "name": "root_cause",
            "label": "Root cause",
            "type": "choice",
            "choices": ["Disk", "Network"],
            "required_for_stages": [stages["Resolved"].pk],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["required_for_stages"] == [stages["Resolved"].pk]
    assert body["workflows"] == []

    changed = admin_client.patch(
        f"/api/fields/{body['id']}/", {"help_text": "What broke."}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["help_text"] == "What broke."

    bad = admin_client.post(
        "/api/fields/", {"name": "Bad name", "label": "B", "type": "text"}, format="json"
    )
    assert bad.status_code == 400
    assert "name" in bad.json()
    assert admin_client.delete(f"/api/fields/{body['id']}/").status_code == 204
    assert not TicketField.objects.exists()


def test_a_used_field_answers_409_to_rename_and_delete(
    admin_client: APIClient, requester: User, agent: User
) -> None:
    field = make_field("order_number")
    services.ticket_fields_set(
        ticket=new_ticket(requester), actor=agent, values={"order_number": "A-1"}
    )
    renamed = admin_client.patch(f"/api/fields/{field.pk}/", {"name": "order"}, format="json")
    assert renamed.status_code == 409
    assert "cannot change" in renamed.json()["detail"]
    deleted = admin_client.delete(f"/api/fields/{field.pk}/")
    assert deleted.status_code == 409
    assert "deactivate" in deleted.json()["detail"]


# --- Values on tickets ------------------------------------------------------------------------
def test_agents_set_values_on_create_and_patch_and_see_them(
    agent_api: APIClient, requester: User
) -> None:
    make_field("order_number")
    make_field("cost", FieldType.DECIMAL)
    created = agent_api.post(
        "/api/tickets/",
        {"title": "Refund", "requester": requester.pk, "custom_fields": {"order_number": "A-1"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    key = created.json()["key"]
    assert created.json()["custom_fields"] == {"order_number": "A-1"}

    patched = agent_api.patch(
        f"/api/tickets/{key}/", {"custom_fields": {"cost": 10.5}}, format="json"
    )
    assert patched.status_code == 200
    assert patched.json()["custom_fields"] == {"order_number": "A-1", "cost": "10.5"}

    refused = agent_api.patch(
        f"/api/tickets/{key}/",
        {"custom_fields": {"cost": "ten", "nope": 1}},
        format="json",
    )
    assert refused.status_code == 400
    messages = refused.json()["custom_fields"]
    assert "Cost: give a decimal number, e.g. 12.50." in messages
    assert any("'nope' is not a field" in m for m in messages)


def test_requesters_neither_see_nor_set_values(
    requester_api: APIClient, requester: User, agent: User
) -> None:
    make_field("order_number")
    ticket = new_ticket(requester)
    services.ticket_fields_set(ticket=ticket, actor=agent, values={"order_number": "A-1"})
    shown = requester_api.get(f"/api/tickets/{ticket.key}/").json()
    assert shown["custom_fields"] is None
    listed = requester_api.get("/api/tickets/").json()["results"]
    assert [t["custom_fields"] for t in listed] == [None]
    patched = requester_api.patch(
        f"/api/tickets/{ticket.key}/", {"custom_fields": {"order_number": "B"}}, format="json"
    )
    assert patched.status_code == 403
    assert requester_api.get("/api/tickets/?field.order_number=A-1").status_code == 403


def test_transition_names_the_required_field(
    agent_api: APIClient, requester: User, stages: dict[str, Stage]
) -> None:
    make_field("root_cause", required_for_stages=[stages["Resolved"]])
    ticket = new_ticket(requester)
    response = agent_api.post(
        f"/api/tickets/{ticket.key}/transition/", {"stage": stages["Resolved"].pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"custom_fields": ["Root cause is required to move to Resolved."]}


# --- ?field.<name>= ------------------------------------------------------------------------------
@pytest.fixture
def filled(requester: User, agent: User) -> dict[str, Ticket]:
    make_field("count", FieldType.NUMBER)
    make_field("cost", FieldType.DECIMAL)
    make_field("areas", FieldType.MULTIPLE_CHOICE, choices=["Disk", "Network", "Power"])
    make_field("urgent", FieldType.CHECKBOX)
    tickets = {}
    for name, values in {
        "a": {"count": 3, "cost": "12.50", "areas": ["Disk", "Network"], "urgent": True},
        "b": {"count": 3, "cost": "7", "areas": ["Disk"]},
        "c": {"count": 4, "areas": ["Power"], "urgent": False},
    }.items():
        ticket = new_ticket(requester, title=name)
        services.ticket_fields_set(ticket=ticket, actor=agent, values=values)
        tickets[name] = ticket
    return tickets


def titles(client: APIClient, query: str) -> list[str]:
    response = client.get(f"/api/tickets/?{query}")
    assert response.status_code == 200, response.json()
    return sorted(t["title"] for t in response.json()["results"])


def test_filters_read_values_as_their_type_and_and_them(
    agent_api: APIClient, filled: dict[str, Ticket]
) -> None:
    assert titles(agent_api, "field.count=3") == ["a", "b"]
    assert titles(agent_api, "field.cost=12.5") == ["a"]
    assert titles(agent_api, "field.cost=12.500") == ["a"]
    assert titles(agent_api, "field.areas=Disk") == ["a", "b"]
    assert titles(agent_api, "field.areas=Disk&field.areas=Network") == ["a"]
    assert titles(agent_api, "field.count=3&field.urgent=true") == ["a"]
    assert titles(agent_api, "field.urgent=false") == ["c"]
    assert titles(agent_api, "field.count=3&field.count=4") == []
    assert titles(agent_api, "field.count=") == ["a", "b", "c"]


def test_unknown_fields_and_bad_values_are_400_under_their_parameter(
    agent_api: APIClient, filled: dict[str, Ticket]
) -> None:
    response = agent_api.get("/api/tickets/?field.nope=1&field.count=many")
    assert response.status_code == 400
    assert response.json() == {
        "field.nope": ["No custom field is named 'nope'; /api/fields/ lists them."],
        "field.count": ["Count: give a whole number."],
    }


def test_the_filter_is_served_by_the_custom_fields_index(
    agent_api: APIClient, filled: dict[str, Ticket]
) -> None:
    with CaptureQueriesContext(connection) as queries:
        assert titles(agent_api, "field.count=3&field.areas=Disk") == ["a", "b"]
    (sql,) = [q["sql"] for q in queries.captured_queries if "@>" in q["sql"]]
    assert '"custom_fields" @> \'{"count": 3, "areas": ["Disk"]}\'' in sql
    with connection.cursor() as cursor:
        # Three tickets: any plan reads them fastest straight from the table. Turning
        # sequential scans off asks the planner whether the index *can* serve this
        # query, which is what a million tickets make it choose (bench/custom_fields.py).
        cursor.execute("SET LOCAL enable_seqscan = off")
        # Nor may it walk another index and filter each row (on three rows it may well
        # prefer the list's `created` index): the filter itself must be served.
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_indexonlyscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "nf_ticket_custom_fields" in plan
