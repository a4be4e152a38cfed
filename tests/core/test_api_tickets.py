"""The ticket API: create, list (filters, search, ordering, cursor pages), detail, PATCH,
transition and assign, its errors, and the query count of the list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from nixflow import services
from nixflow.api.exceptions import exception_handler
from nixflow.models import (
    Priority,
    Role,
    Source,
    Stage,
    StageCategory,
    Ticket,
    User,
    Workflow,
)
from tests.factories import StageFactory, TicketFactory, UserFactory, WorkflowFactory
from tests.helpers import as_user, history, new_ticket

pytestmark = pytest.mark.django_db


def keys(response: Any) -> list[str]:
    return [row["key"] for row in response.json()["results"]]


# --- create -----------------------------------------------------------------------------
def test_requester_opens_a_ticket_for_themselves_in_the_default_workflow_with_source_api(
    api_client: APIClient, requester: User, workflow: Workflow, stages: dict[str, Stage]
) -> None:
    response = as_user(api_client, requester).post(
        "/api/tickets/",
        {"title": "  VPN drops  ", "description": "Every hour.", "priority": "HIGH"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    ticket = Ticket.objects.get()
    body = response.json()
    assert body["key"] == ticket.key
    assert body["url"] == f"http://testserver/api/tickets/{ticket.key}/"
    assert (body["title"], body["description"], body["priority"]) == (
        "VPN drops",
        "Every hour.",
        "HIGH",
    )
    assert body["source"] == Source.API == ticket.source
    assert body["workflow"] == {"id": workflow.pk, "name": workflow.name}
    new = stages["New"]
    assert body["stage"] == {"id": new.pk, "name": "New", "category": "NEW"}
    assert body["requester"] == {"id": requester.pk, "username": "requester", "full_name": ""}
    assert body["assignee"] is None
    assert history(ticket) == [("ticket", "", "created"), ("stage", "", "New")]
    assert response["Location"] == body["url"]


def test_agent_opens_a_ticket_for_a_requester_and_assigns_it(
    agent_api: APIClient, agent: User, requester: User, workflow: Workflow
) -> None:
    response = agent_api.post(
        "/api/tickets/",
        {"title": "Phoned in", "requester": requester.pk, "assignee": agent.pk},
        format="json",
    )

    assert response.status_code == 201, response.json()
    ticket = Ticket.objects.get()
    assert (ticket.requester, ticket.assignee, ticket.priority) == (
        requester,
        agent,
        Priority.NORMAL,
    )
    assert response.json()["assignee"]["username"] == "agent"


def test_create_in_a_chosen_workflow_starts_in_its_first_stage(
    agent_api: APIClient, workflow: Workflow
) -> None:
    other = WorkflowFactory(name="Hardware")
    StageFactory(workflow=other, name="Triage", category=StageCategory.NEW, position=1)

    response = agent_api.post(
        "/api/tickets/", {"title": "Laptop", "workflow": other.pk}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["workflow"]["name"] == "Hardware"
    assert response.json()["stage"]["name"] == "Triage"


def test_create_in_an_inactive_workflow_is_400_with_the_services_message(
    agent_api: APIClient, workflow: Workflow
) -> None:
    retired = WorkflowFactory(name="Retired", is_active=False)
    StageFactory(workflow=retired, name="New", category=StageCategory.NEW, position=1)

    response = agent_api.post(
        "/api/tickets/", {"title": "Laptop", "workflow": retired.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"workflow": ["Workflow 'Retired' is not active."]}
    assert not Ticket.objects.exists()


def test_create_in_a_workflow_without_stages_is_400_with_a_non_field_error(
    agent_api: APIClient, workflow: Workflow
) -> None:
    empty = WorkflowFactory(name="Empty")

    response = agent_api.post(
        "/api/tickets/", {"title": "Laptop", "workflow": empty.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Workflow 'Empty' has no stages."]}


def test_a_services_error_for_the_whole_object_is_reported_under_non_field_errors() -> None:
    error = ValidationError({NON_FIELD_ERRORS: ["Clash."], "title": ["Too long."]})

    response = exception_handler(error, {})

    assert response is not None
    assert response.status_code == 400
    assert response.data == {"non_field_errors": ["Clash."], "title": ["Too long."]}


def test_assigning_a_new_ticket_to_a_requester_is_400_naming_the_assignee_field(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    response = agent_api.post(
        "/api/tickets/", {"title": "Laptop", "assignee": requester.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "assignee": ["requester is not an active agent; only agents take tickets."]
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "priority": "CRITICAL"}, "priority"),
        ({"title": "ok", "workflow": 999_999}, "workflow"),
        ({"title": "ok", "workflow": "abc"}, "workflow"),
        ({"title": "ok", "requester": 999_999}, "requester"),
        ({"title": "ok", "requester": 99_999_999_999_999_999_999}, "requester"),
        ({"title": "ok", "assignee": [1]}, "assignee"),
    ],
)
def test_bad_input_on_create_is_400_naming_the_field(
    agent_api: APIClient, workflow: Workflow, payload: dict[str, Any], field: str
) -> None:
    response = agent_api.post("/api/tickets/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_create_with_a_json_list_body_is_400_not_500(
    agent_api: APIClient, workflow: Workflow
) -> None:
    response = agent_api.post("/api/tickets/", [{"title": "x"}], format="json")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()


# --- list, filters and search -----------------------------------------------------------
def test_list_shows_newest_first_with_related_rows_and_no_count(
    agent_api: APIClient, requester: User, agent: User, workflow: Workflow
) -> None:
    older = new_ticket(requester, title="Older")
    newer = new_ticket(requester, title="Newer", assignee=None)
    services.ticket_assign(ticket=newer, assignee=agent, actor=agent)

    response = agent_api.get("/api/tickets/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert keys(response) == [newer.key, older.key]
    assert body["results"][0]["assignee"]["id"] == agent.pk
    assert body["next"] is None
    assert body["previous"] is None


@pytest.fixture
def spread(
    requester: User, other_requester: User, agent: User, stages: dict[str, Stage]
) -> dict[str, Ticket]:
    """Tickets that differ in one attribute each, made the way each interface makes them."""
    tickets = {
        "new": new_ticket(requester, title="New one"),
        "open": new_ticket(requester, title="Open one"),
        "waiting": new_ticket(other_requester, title="Waiting one", priority=Priority.URGENT),
        "assigned": new_ticket(other_requester, title="Assigned one", priority=Priority.LOW),
        "mailed": services.ticket_create(
            requester=requester, title="By mail", source=Source.EMAIL, actor=None
        ),
    }
    services.ticket_transition(ticket=tickets["open"], to_stage=stages["Open"], actor=agent)
    services.ticket_transition(
        ticket=tickets["waiting"], to_stage=stages["Waiting on requester"], actor=agent
    )
    services.ticket_assign(ticket=tickets["assigned"], assignee=agent, actor=agent)
    return tickets


def names(response: Any, spread: dict[str, Ticket]) -> set[str]:
    by_key = {ticket.key: name for name, ticket in spread.items()}
    assert response.status_code == 200, response.json()
    return {by_key[key] for key in keys(response)}


def test_filter_by_one_stage_or_several_comma_separated_or_repeated(
    agent_api: APIClient, spread: dict[str, Ticket], stages: dict[str, Stage]
) -> None:
    new, open_, waiting = stages["New"].pk, stages["Open"].pk, stages["Waiting on requester"].pk

    assert names(agent_api.get(f"/api/tickets/?stage={open_}"), spread) == {"open"}
    assert names(agent_api.get(f"/api/tickets/?stage={open_},{waiting}"), spread) == {
        "open",
        "waiting",
    }
    assert names(agent_api.get(f"/api/tickets/?stage={open_}&stage={new}"), spread) == {
        "open",
        "new",
        "assigned",
        "mailed",
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("stage_category=WAITING", {"waiting"}),
        ("stage_category=NEW", {"new", "assigned", "mailed"}),
        ("priority=URGENT", {"waiting"}),
        ("assignee=none", {"new", "open", "waiting", "mailed"}),
        ("assignee=NONE", {"new", "open", "waiting", "mailed"}),
        ("source=EMAIL", {"mailed"}),
        ("search=one", {"new", "open", "waiting", "assigned"}),
        ("search=WAITING", {"waiting"}),
        ("search=nothing+like+it", set()),
        ("priority=URGENT&stage_category=NEW", set()),
    ],
)
def test_filters_narrow_the_list(
    agent_api: APIClient, spread: dict[str, Ticket], query: str, expected: set[str]
) -> None:
    assert names(agent_api.get(f"/api/tickets/?{query}"), spread) == expected


def test_filter_by_assignee_requester_and_workflow_id(
    agent_api: APIClient,
    spread: dict[str, Ticket],
    agent: User,
    other_requester: User,
    workflow: Workflow,
) -> None:
    assert names(agent_api.get(f"/api/tickets/?assignee={agent.pk}"), spread) == {"assigned"}
    assert names(agent_api.get(f"/api/tickets/?requester={other_requester.pk}"), spread) == {
        "waiting",
        "assigned",
    }
    assert len(names(agent_api.get(f"/api/tickets/?workflow={workflow.pk}"), spread)) == 5
    other = WorkflowFactory(name="Other")
    assert names(agent_api.get(f"/api/tickets/?workflow={other.pk}"), spread) == set()


def test_filter_by_creation_time_window(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    now = timezone.now()
    old = TicketFactory(requester=requester, created=now - timedelta(days=10))
    mid = TicketFactory(requester=requester, created=now - timedelta(days=5))
    TicketFactory(requester=requester, created=now)
    after = (now - timedelta(days=6)).isoformat()
    before = (now - timedelta(days=1)).isoformat()

    response = agent_api.get("/api/tickets/", {"created_after": after, "created_before": before})

    assert keys(response) == [mid.key]
    response = agent_api.get("/api/tickets/", {"created_before": before})
    assert keys(response) == [mid.key, old.key]


def test_search_finds_text_in_the_description_case_insensitively(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    hit = new_ticket(requester, title="Mail", description="The SMTP relay refuses us.")
    new_ticket(requester, title="Other", description="Nothing to see.")

    response = agent_api.get("/api/tickets/?search=smtp%20RELAY")

    assert keys(response) == [hit.key]


def test_search_by_exact_ticket_key_finds_that_ticket(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    tickets = [new_ticket(requester, title=f"Ticket {n}") for n in range(3)]
    wanted = tickets[1]

    assert keys(agent_api.get(f"/api/tickets/?search={wanted.key}")) == [wanted.key]
    assert keys(agent_api.get(f"/api/tickets/?search={wanted.key.lower()}")) == [wanted.key]


def test_search_treats_like_wildcards_literally(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    hit = new_ticket(requester, title="Disk 100% full")
    new_ticket(requester, title="Disk 1000 full")

    assert keys(agent_api.get("/api/tickets/?search=100%25")) == [hit.key]


@pytest.mark.parametrize(
    "query",
    [
        "stage=abc",
        "stage=1,x",
        "stage=0",
        "stage=99999999999999999999",
        "assignee=someone",
        "assignee=-3",
        "requester=1.5",
        "workflow=99999999999999999999",
        "priority=CRITICAL",
        "stage_category=DONE",
        "source=FAX",
        "created_after=yesterday",
    ],
)
def test_malformed_filter_values_are_400_naming_the_filter(
    agent_api: APIClient, workflow: Workflow, query: str
) -> None:
    response = agent_api.get(f"/api/tickets/?{query}")

    assert response.status_code == 400
    assert query.split("=", maxsplit=1)[0] in response.json()


def test_unknown_ids_in_filters_just_match_nothing(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    new_ticket(requester)

    for query in ("stage=987654", "assignee=987654", "requester=987654", "workflow=987654"):
        response = agent_api.get(f"/api/tickets/?{query}")
        assert response.status_code == 200
        assert response.json()["results"] == []


# --- ordering -----------------------------------------------------------------------------
@pytest.fixture
def by_priority(requester: User, workflow: Workflow) -> dict[str, Ticket]:
    # Created in an order that is neither alphabetical nor by rank.
    order = [Priority.HIGH, Priority.LOW, Priority.URGENT, Priority.NORMAL]
    return {p: new_ticket(requester, title=p, priority=p) for p in order}


def test_ordering_by_priority_sorts_by_rank_not_alphabetically(
    agent_api: APIClient, by_priority: dict[str, Ticket]
) -> None:
    ascending = agent_api.get("/api/tickets/?ordering=priority")
    descending = agent_api.get("/api/tickets/?ordering=-priority")

    assert [r["priority"] for r in ascending.json()["results"]] == [
        "LOW",
        "NORMAL",
        "HIGH",
        "URGENT",
    ]
    assert [r["priority"] for r in descending.json()["results"]] == [
        "URGENT",
        "HIGH",
        "NORMAL",
        "LOW",
    ]


def test_ordering_by_key_created_and_updated(
    agent_api: APIClient, by_priority: dict[str, Ticket], agent: User
) -> None:
    created_order = [t.key for t in by_priority.values()]
    services.ticket_update(ticket=by_priority[Priority.HIGH], actor=agent, data={"title": "New"})

    assert keys(agent_api.get("/api/tickets/?ordering=key")) == created_order
    assert keys(agent_api.get("/api/tickets/?ordering=-key")) == created_order[::-1]
    assert keys(agent_api.get("/api/tickets/?ordering=created")) == created_order
    assert keys(agent_api.get("/api/tickets/")) == created_order[::-1]
    assert keys(agent_api.get("/api/tickets/?ordering=-updated"))[0] == created_order[0]


def test_unknown_ordering_falls_back_to_newest_first(
    agent_api: APIClient, by_priority: dict[str, Ticket]
) -> None:
    expected = [t.key for t in by_priority.values()][::-1]

    assert keys(agent_api.get("/api/tickets/?ordering=title")) == expected
    assert keys(agent_api.get("/api/tickets/?ordering=requester__password")) == expected


# --- cursor pagination ------------------------------------------------------------------
def walk(client: APIClient, url: str) -> tuple[list[str], list[Any]]:
    """Follow `next` links to the end; every key seen and every response."""
    seen: list[str] = []
    responses = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        responses.append(response)
        seen += keys(response)
        url = response.json()["next"]
    return seen, responses


def test_cursor_pages_of_page_size_cover_every_ticket_once_in_order(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    tickets = TicketFactory.create_batch(7, requester=requester)
    expected = [t.key for t in sorted(tickets, key=lambda t: (t.created, t.pk), reverse=True)]

    seen, responses = walk(agent_api, "/api/tickets/?page_size=3")

    assert seen == expected
    assert [len(r.json()["results"]) for r in responses] == [3, 3, 1]
    first_next = responses[0].json()["next"]
    assert urlsplit(first_next).path == "/api/tickets/"
    assert parse_qs(urlsplit(first_next).query)["page_size"] == ["3"]
    assert responses[0].json()["previous"] is None


def test_previous_link_returns_the_page_before(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    TicketFactory.create_batch(5, requester=requester)
    first = agent_api.get("/api/tickets/?page_size=2")
    second = agent_api.get(first.json()["next"])

    back = agent_api.get(second.json()["previous"])

    assert keys(back) == keys(first)
    assert back.json()["previous"] is None
    assert agent_api.get(back.json()["next"]).json()["results"] == second.json()["results"]


def test_tickets_created_at_the_same_instant_are_neither_skipped_nor_repeated(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    instant = timezone.now()
    tickets = TicketFactory.create_batch(5, requester=requester, created=instant)

    seen, _ = walk(agent_api, "/api/tickets/?page_size=2")

    assert seen == [t.key for t in sorted(tickets, key=lambda t: t.pk, reverse=True)]


def test_paging_by_priority_walks_through_long_runs_of_equal_priority(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    # DRF's own cursor keeps only the first ordering column and would page through ties
    # with an offset; here the cursor carries the whole key.
    tickets = TicketFactory.create_batch(6, requester=requester, priority=Priority.HIGH)
    tickets += TicketFactory.create_batch(3, requester=requester, priority=Priority.LOW)
    rank = {Priority.LOW: 0, Priority.HIGH: 2}
    expected = sorted(tickets, key=lambda t: (rank[t.priority], -t.created.timestamp(), -t.pk))

    seen, responses = walk(agent_api, "/api/tickets/?ordering=priority&page_size=2")

    assert seen == [t.key for t in expected]
    assert len(responses) == 5
    back = agent_api.get(responses[3].json()["previous"])
    assert keys(back) == keys(responses[2])


def test_page_size_is_capped_at_200_and_defaults_to_50(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    Ticket.objects.bulk_create(TicketFactory.build_batch(205, requester=requester))

    assert len(agent_api.get("/api/tickets/").json()["results"]) == 50
    assert len(agent_api.get("/api/tickets/?page_size=1000").json()["results"]) == 200
    assert agent_api.get("/api/tickets/?page_size=0").status_code == 400


@pytest.mark.parametrize("cursor", ["garbage", "cD1bIngiXQ==", "cD1bIjEiLCIyIl0="])
def test_a_forged_cursor_is_400_not_500(
    agent_api: APIClient, requester: User, workflow: Workflow, cursor: str
) -> None:
    new_ticket(requester)

    response = agent_api.get(f"/api/tickets/?cursor={cursor}")

    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid cursor"}


def test_a_cursor_from_another_ordering_is_400(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    TicketFactory.create_batch(3, requester=requester)
    by_priority = agent_api.get("/api/tickets/?ordering=priority&page_size=1").json()["next"]
    cursor = parse_qs(urlsplit(by_priority).query)["cursor"][0]

    response = agent_api.get("/api/tickets/", {"cursor": cursor, "ordering": "-updated"})

    assert response.status_code == 400


# --- the list's query count ---------------------------------------------------------------
@pytest.fixture
def busy_desk(requester: User, stages: dict[str, Stage]) -> None:
    """60 tickets of 6 requesters, 3 assignees and 3 stages; the requester fixture
    requested 40 and watches 20 more."""
    agents = [UserFactory(role=Role.AGENT) for _ in range(3)]
    others = [UserFactory() for _ in range(5)]
    chosen = [stages["New"], stages["Open"], stages["Waiting on requester"]]
    for n in range(60):
        ticket = TicketFactory(
            requester=requester if n % 3 else others[n % 5],
            assignee=agents[n % 3] if n % 4 else None,
            stage=chosen[n % 3],
        )
        if n % 3 == 0:
            services.ticket_watch(ticket=ticket, user=requester, actor=None)


@pytest.mark.parametrize("role", ["agent", "requester"])
@pytest.mark.usefixtures("busy_desk")
def test_ticket_list_runs_the_same_queries_for_page_size_5_and_50(
    api_client: APIClient,
    agent: User,
    requester: User,
    role: str,
    django_assert_num_queries: Any,
) -> None:
    as_user(api_client, agent if role == "agent" else requester)

    for size in (5, 50):
        with django_assert_num_queries(1):
            response = api_client.get(f"/api/tickets/?page_size={size}&ordering=-priority")
        assert len(response.json()["results"]) == size
        assert len({row["requester"]["id"] for row in response.json()["results"]}) > 1


# --- detail -------------------------------------------------------------------------------
def test_detail_by_key(agent_api: APIClient, requester: User, workflow: Workflow) -> None:
    ticket = new_ticket(requester, description="It smokes.")

    response = agent_api.get(f"/api/tickets/{ticket.key}/")

    assert response.status_code == 200
    assert response.json()["key"] == ticket.key
    assert response.json()["description"] == "It smokes."
    assert response.json()["first_response_at"] is None


@pytest.mark.parametrize(
    "path", ["NF-999999/", "NF-0/", "nf-1/", "1/", "NF-abc/", "NF-1x/", "NF-9999999999999999999/"]
)
def test_unknown_or_malformed_keys_are_404(
    agent_api: APIClient, requester: User, workflow: Workflow, path: str
) -> None:
    new_ticket(requester)

    response = agent_api.get(f"/api/tickets/{path}")

    assert response.status_code == 404


def test_tickets_cannot_be_put_or_deleted(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester)

    assert agent_api.put(f"/api/tickets/{ticket.key}/", {"title": "x"}).status_code == 405
    assert agent_api.delete(f"/api/tickets/{ticket.key}/").status_code == 405
    assert Ticket.objects.filter(pk=ticket.pk).exists()


# --- PATCH --------------------------------------------------------------------------------
def test_agent_patches_title_description_and_priority_with_history(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester)

    response = agent_api.patch(
        f"/api/tickets/{ticket.key}/",
        {"title": "Printer fixed?", "description": "Smoke gone.", "priority": "URGENT"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["title"] == "Printer fixed?"
    assert response.json()["priority"] == "URGENT"
    ticket.refresh_from_db()
    assert (ticket.title, ticket.description, ticket.priority) == (
        "Printer fixed?",
        "Smoke gone.",
        Priority.URGENT,
    )
    assert ("priority", "NORMAL", "URGENT") in history(ticket)


def test_agent_patching_assignee_assigns_through_the_service(
    agent_api: APIClient, agent: User, requester: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester)

    response = agent_api.patch(
        f"/api/tickets/{ticket.key}/", {"assignee": agent.pk, "title": "Mine"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["assignee"]["id"] == agent.pk
    assert response.json()["title"] == "Mine"
    assert ("assignee", "", "agent") in history(ticket)

    response = agent_api.patch(f"/api/tickets/{ticket.key}/", {"assignee": None}, format="json")

    assert response.json()["assignee"] is None


def test_patching_the_stage_is_400_pointing_to_the_transition_endpoint(
    agent_api: APIClient, requester: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)

    response = agent_api.patch(
        f"/api/tickets/{ticket.key}/", {"stage": stages["Open"].pk, "title": "x"}, format="json"
    )

    assert response.status_code == 400
    assert "transition" in response.json()["stage"][0]
    ticket.refresh_from_db()
    assert (ticket.stage, ticket.title) == (stages["New"], "Printer on fire")


def test_patching_a_non_agent_assignee_is_400_and_changes_nothing(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester)

    response = agent_api.patch(
        f"/api/tickets/{ticket.key}/", {"title": "Changed", "assignee": requester.pk}, format="json"
    )

    assert response.status_code == 400
    assert "assignee" in response.json()
    ticket.refresh_from_db()
    assert ticket.title == "Printer on fire"


@pytest.mark.parametrize(
    "payload", [{"title": ""}, {"priority": "SOON"}, {"assignee": "me"}, ["title"]]
)
def test_bad_patch_input_is_400(
    agent_api: APIClient, requester: User, workflow: Workflow, payload: Any
) -> None:
    ticket = new_ticket(requester)

    response = agent_api.patch(f"/api/tickets/{ticket.key}/", payload, format="json")

    assert response.status_code == 400


# --- transition and assign --------------------------------------------------------------
def test_agent_moves_a_ticket_along_a_transition(
    agent_api: APIClient, requester: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)

    response = agent_api.post(
        f"/api/tickets/{ticket.key}/transition/", {"stage": stages["Resolved"].pk}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["stage"] == {
        "id": stages["Resolved"].pk,
        "name": "Resolved",
        "category": "RESOLVED",
    }
    assert response.json()["resolved_at"] is not None
    ticket.refresh_from_db()
    assert ticket.stage == stages["Resolved"]


def test_illegal_transition_is_409_naming_the_allowed_stages(
    agent_api: APIClient, requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)

    response = agent_api.post(
        f"/api/tickets/{ticket.key}/transition/",
        {"stage": stages["Waiting on requester"].pk},
        format="json",
    )

    assert response.status_code == 409
    message = response.json()["detail"]
    assert "cannot move from 'Resolved' to 'Waiting on requester'" in message
    assert "'Open'" in message
    assert "'Closed'" in message


def test_transition_to_a_stage_of_another_workflow_is_400(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester)
    other = WorkflowFactory(name="Other")
    foreign = StageFactory(workflow=other, name="Open", category="OPEN", position=1)

    response = agent_api.post(
        f"/api/tickets/{ticket.key}/transition/", {"stage": foreign.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"stage": ["Stage 'Open' is not in workflow 'Service desk'."]}


@pytest.mark.parametrize("payload", [{}, {"stage": None}, {"stage": "open"}, {"stage": 987654}])
def test_transition_without_a_valid_stage_id_is_400(
    agent_api: APIClient, requester: User, workflow: Workflow, payload: dict[str, Any]
) -> None:
    ticket = new_ticket(requester)

    response = agent_api.post(f"/api/tickets/{ticket.key}/transition/", payload, format="json")

    assert response.status_code == 400
    assert "stage" in response.json()


def test_agent_assigns_and_unassigns(
    agent_api: APIClient, agent: User, requester: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester)
    url = f"/api/tickets/{ticket.key}/assign/"

    assigned = agent_api.post(url, {"assignee": agent.pk}, format="json")
    unassigned = agent_api.post(url, {"assignee": None}, format="json")

    assert assigned.status_code == 200, assigned.json()
    assert assigned.json()["assignee"]["username"] == "agent"
    assert unassigned.json()["assignee"] is None
    assert [h for h in history(ticket) if h[0] == "assignee"] == [
        ("assignee", "", "agent"),
        ("assignee", "agent", ""),
    ]


@pytest.mark.parametrize("payload", [{}, {"assignee": 987654}, {"assignee": "bob"}])
def test_assign_without_a_valid_user_is_400(
    agent_api: APIClient, requester: User, workflow: Workflow, payload: dict[str, Any]
) -> None:
    ticket = new_ticket(requester)

    response = agent_api.post(f"/api/tickets/{ticket.key}/assign/", payload, format="json")

    assert response.status_code == 400
    assert "assignee" in response.json()


def test_assigning_to_an_inactive_agent_is_400(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester)
    gone = UserFactory(username="gone", role=Role.AGENT, is_active=False)

    response = agent_api.post(
        f"/api/tickets/{ticket.key}/assign/", {"assignee": gone.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "assignee": ["gone is not an active agent; only agents take tickets."]
    }


def test_browsable_api_renders_the_list_with_its_filters_and_the_detail(
    client: Client, requester: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester)
    client.force_login(requester)

    listed = client.get(
        "/api/tickets/?stage=1,2&assignee=none&ordering=-priority", HTTP_ACCEPT="text/html"
    )
    detail = client.get(f"/api/tickets/{ticket.key}/", HTTP_ACCEPT="text/html")

    assert (listed.status_code, detail.status_code) == (200, 200)
    assert listed["Content-Type"].startswith("text/html")
    assert ticket.key in detail.content.decode()


# --- authentication -----------------------------------------------------------------------
def test_a_token_authenticates_the_ticket_endpoints(
    api_client: APIClient, requester: User, stages: dict[str, Stage]
) -> None:
    token = Token.objects.create(user=requester)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    created = api_client.post("/api/tickets/", {"title": "By token"}, format="json")
    key = created.json()["key"]
    listed = api_client.get("/api/tickets/")
    commented = api_client.post(f"/api/tickets/{key}/comments/", {"body": "Hi"}, format="json")
    detail = api_client.get(f"/api/tickets/{key}/")

    assert (created.status_code, listed.status_code, commented.status_code) == (201, 200, 201)
    assert keys(listed) == [key]
    assert detail.json()["requester"]["username"] == "requester"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/tickets/"),
        ("post", "/api/tickets/"),
        ("get", "/api/tickets/NF-1/"),
        ("patch", "/api/tickets/NF-1/"),
        ("post", "/api/tickets/NF-1/transition/"),
        ("post", "/api/tickets/NF-1/assign/"),
        ("get", "/api/tickets/NF-1/comments/"),
        ("post", "/api/tickets/NF-1/comments/"),
        ("get", "/api/tickets/NF-1/attachments/1/"),
        ("get", "/api/tickets/NF-1/watchers/"),
        ("post", "/api/tickets/NF-1/watchers/"),
        ("delete", "/api/tickets/NF-1/watchers/"),
        ("get", "/api/tickets/NF-1/history/"),
        ("get", "/api/workflows/"),
    ],
)
def test_every_ticket_endpoint_needs_authentication(
    api_client: APIClient, method: str, path: str
) -> None:
    response = getattr(api_client, method)(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
