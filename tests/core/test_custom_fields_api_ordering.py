"""``GET /api/tickets/?ordering=field.<name>``: each type sorts by its kind of value,
tickets without one last in both directions, the cursor pages through ties and missing
values, and requesters and unknown names are refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from nixflow import services
from nixflow.models import FieldType, Ticket, TicketField, User
from tests.helpers import new_ticket

pytestmark = pytest.mark.django_db


def make_field(name: str, type: str = FieldType.TEXT, **data: Any) -> TicketField:
    label = name.replace("_", " ").capitalize()
    return services.ticket_field_create(
        actor=None, data={"name": name, "label": label, "type": type, **data}
    )


def tickets_with(requester: User, agent: User, values: dict[str, dict[str, Any]]) -> None:
    for title, fields in values.items():
        ticket = new_ticket(requester, title=title)
        if fields:
            services.ticket_fields_set(ticket=ticket, actor=agent, values=fields)


def titles(api: APIClient, ordering: str) -> list[str]:
    response = api.get("/api/tickets/", {"ordering": ordering})
    assert response.status_code == 200, response.json()
    return [t["title"] for t in response.json()["results"]]


@pytest.mark.parametrize(
    "case",
    [
        # As text these would read 10, 100, 9: numbers sort as numbers.
        (FieldType.NUMBER, {"a": 100, "b": 9, "c": 10}, ["b", "c", "a"]),
        # A decimal is stored as text ("9.5"); it still sorts as a number.
        (FieldType.DECIMAL, {"a": "100.25", "b": "9.5", "c": "10"}, ["b", "c", "a"]),
        (
            FieldType.DATE,
            {"a": "2026-12-07", "b": "2025-01-31", "c": "2026-02-01"},
            ["b", "c", "a"],
        ),
        (FieldType.TEXT, {"a": "Zebra", "b": "Apple", "c": "Mango"}, ["b", "c", "a"]),
        (FieldType.CHOICE, {"a": "Refund", "b": "Exchange", "c": "Other"}, ["b", "c", "a"]),
    ],
)
def test_each_type_sorts_by_its_value_and_tickets_without_one_come_last(
    agent_api: APIClient,
    requester: User,
    agent: User,
    case: tuple[str, dict[str, Any], list[str]],
) -> None:
    field_type, values, ascending = case
    choices = {"choices": ["Refund", "Exchange", "Other"]} if field_type == FieldType.CHOICE else {}
    make_field("thing", field_type, **choices)
    tickets_with(requester, agent, {"none": {}, **{t: {"thing": v} for t, v in values.items()}})

    assert titles(agent_api, "field.thing") == [*ascending, "none"]
    assert titles(agent_api, "-field.thing") == [*reversed(ascending), "none"]


def test_a_checkbox_sorts_false_before_true(
    agent_api: APIClient, requester: User, agent: User
) -> None:
    make_field("urgent", FieldType.CHECKBOX)
    tickets_with(requester, agent, {"yes": {"urgent": True}, "none": {}, "no": {"urgent": False}})

    assert titles(agent_api, "field.urgent") == ["no", "yes", "none"]
    assert titles(agent_api, "-field.urgent") == ["yes", "no", "none"]


def test_ties_are_newest_first_and_other_terms_follow(
    agent_api: APIClient, requester: User, agent: User
) -> None:
    make_field("count", FieldType.NUMBER)
    tickets_with(
        requester,
        agent,
        {"one-old": {"count": 1}, "two": {"count": 2}, "one-new": {"count": 1}},
    )
    assert titles(agent_api, "field.count") == ["one-new", "one-old", "two"]
    assert titles(agent_api, "field.count,created") == ["one-old", "one-new", "two"]
    # Combined with a filter by another field.
    make_field("kind", FieldType.CHOICE, choices=["A", "B"])
    ticket = Ticket.objects.get(title="two")
    services.ticket_fields_set(ticket=ticket, actor=agent, values={"kind": "A"})
    response = agent_api.get("/api/tickets/", {"ordering": "-field.count", "field.kind": "A"})
    assert [t["title"] for t in response.json()["results"]] == ["two"]


def _walk(api: APIClient, ordering: str, page_size: int) -> tuple[list[str], list[list[str]]]:
    """Every ticket key following ``next`` from the first page, and the pages seen."""
    response = api.get("/api/tickets/", {"ordering": ordering, "page_size": str(page_size)})
    pages: list[list[str]] = []
    while True:
        assert response.status_code == 200, response.json()
        body = response.json()
        pages.append([t["key"] for t in body["results"]])
        if body["next"] is None:
            break
        response = api.get(body["next"])
    return [i for page in pages for i in page], pages


def _walk_back(api: APIClient, ordering: str, page_size: int, last: list[str]) -> list[list[str]]:
    """The pages seen following ``previous`` from the last page back to the first."""
    response = api.get("/api/tickets/", {"ordering": ordering, "page_size": str(page_size)})
    while response.json()["next"] is not None:
        response = api.get(response.json()["next"])
    assert [t["key"] for t in response.json()["results"]] == last
    pages = [last]
    while response.json()["previous"] is not None:
        response = api.get(response.json()["previous"])
        assert response.status_code == 200, response.json()
        pages.insert(0, [t["key"] for t in response.json()["results"]])
    return pages


@pytest.mark.parametrize("descending", [False, True])
def test_the_cursor_pages_through_ties_and_missing_values_once_each(
    agent_api: APIClient, requester: User, agent: User, descending: bool
) -> None:
    make_field("cost", FieldType.DECIMAL)
    # Ties (three of 5, two of 12.5) and five without a value, straddling page borders.
    costs = ["5", None, "12.5", "5", None, "0.5", "12.5", None, "5", None, "100", None, "7"]
    for number, cost in enumerate(costs):
        ticket = new_ticket(requester, title=f"t{number}")
        if cost is not None:
            services.ticket_fields_set(ticket=ticket, actor=agent, values={"cost": cost})
    rows = list(Ticket.objects.values("id", "created", "custom_fields"))
    # Expected: by value (numbers), ties newest first, then the tickets without a value.
    newest = sorted(rows, key=lambda r: (r["created"], r["id"]), reverse=True)
    filled = [r for r in newest if "cost" in r["custom_fields"]]
    filled.sort(key=lambda r: float(r["custom_fields"]["cost"]), reverse=descending)
    expected = [f"NF-{r['id']}" for r in filled] + [
        f"NF-{r['id']}" for r in newest if "cost" not in r["custom_fields"]
    ]
    ordering = "-field.cost" if descending else "field.cost"

    seen, pages = _walk(agent_api, ordering, page_size=2)

    assert seen == expected
    assert len(pages) == 7
    assert _walk_back(agent_api, ordering, 2, pages[-1]) == pages


def test_requesters_may_not_sort_by_custom_fields(
    requester_api: APIClient, requester: User
) -> None:
    make_field("count", FieldType.NUMBER)
    new_ticket(requester)
    response = requester_api.get("/api/tickets/", {"ordering": "field.count"})
    assert response.status_code == 403
    # The built-in orderings stay theirs.
    assert requester_api.get("/api/tickets/", {"ordering": "-created"}).status_code == 200


def test_an_unknown_field_is_a_400_under_ordering(agent_api: APIClient) -> None:
    make_field("count", FieldType.NUMBER)
    response = agent_api.get("/api/tickets/", {"ordering": "created,-field.nope"})
    assert response.status_code == 400
    body = response.json()
    assert "ordering" in str(body)
    assert "nope" in str(body)


def test_a_cursor_of_another_ordering_is_refused(
    agent_api: APIClient, requester: User, agent: User
) -> None:
    make_field("count", FieldType.NUMBER)
    tickets_with(requester, agent, {f"t{n}": {"count": n} for n in range(3)})
    first = agent_api.get("/api/tickets/", {"page_size": 1}).json()
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    response = agent_api.get(
        "/api/tickets/", {"ordering": "field.count", "page_size": 1, "cursor": cursor}
    )
    assert response.status_code == 400


def test_the_schema_documents_the_ordering(agent_api: APIClient) -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    parameters = schema["paths"]["/api/tickets/"]["get"]["parameters"]
    ordering = next(p for p in parameters if p["name"] == "ordering")
    assert "field.<name>" in ordering["description"]


def test_the_admin_list_sorts_by_the_same_typed_value(
    agent_client: Client, requester: User, agent: User
) -> None:
    # "Sort by field" in the admin shares the expression: decimals as numbers there too.
    make_field("cost", FieldType.DECIMAL)
    tickets_with(
        requester,
        agent,
        {"big": {"cost": "100.25"}, "none": {}, "small": {"cost": "9.5"}, "mid": {"cost": "10"}},
    )

    def listed(order: str) -> list[str]:
        response = agent_client.get(
            reverse("admin:nixflow_ticket_changelist"), {"field_order": order}
        )
        assert response.status_code == 200
        return [t.title for t in response.context["cl"].result_list]

    assert listed("cost") == ["small", "mid", "big", "none"]
    assert listed("-cost") == ["big", "mid", "small", "none"]
