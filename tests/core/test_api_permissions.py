"""Who may see and do what through the ticket API: requester A (the ticket's requester),
requester B (a stranger to it) and an agent, on the list, the detail and every write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from nixflow import services
from nixflow.models import Comment, Priority, Stage, Ticket, TicketWatcher, User, Workflow
from tests.factories import UserFactory
from tests.helpers import as_user

pytestmark = pytest.mark.django_db


def keys(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["key"] for row in response.json()["results"]]


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def ticket(requester: User, workflow: Workflow) -> Ticket:
    """Requester A's ticket."""
    return services.ticket_create(requester=requester, title="A's printer", actor=requester)


@pytest.fixture
def b_ticket(other_requester: User, workflow: Workflow) -> Ticket:
    return services.ticket_create(
        requester=other_requester, title="B's laptop", actor=other_requester
    )


@pytest.fixture
def attachment_of_public_comment(ticket: Ticket, agent: User) -> int:
    comment = services.comment_create(
        ticket=ticket,
        author=agent,
        body="See the log.",
        attachments=[SimpleUploadedFile("log.txt", b"lines", "text/plain")],
    )
    return comment.attachments.get().pk


# --- the list -----------------------------------------------------------------------------
def test_requester_lists_only_their_own_tickets(
    api_client: APIClient, requester: User, ticket: Ticket, b_ticket: Ticket
) -> None:
    assert keys(as_user(api_client, requester).get("/api/tickets/")) == [ticket.key]


def test_requester_also_lists_and_reads_tickets_they_watch(
    api_client: APIClient, requester: User, agent: User, ticket: Ticket, b_ticket: Ticket
) -> None:
    services.ticket_watch(ticket=b_ticket, user=requester, actor=agent)
    as_user(api_client, requester)

    assert keys(api_client.get("/api/tickets/")) == [b_ticket.key, ticket.key]
    assert api_client.get(f"/api/tickets/{b_ticket.key}/").status_code == 200


def test_requester_filtering_by_another_requester_still_sees_nothing_of_theirs(
    api_client: APIClient, requester: User, other_requester: User, b_ticket: Ticket
) -> None:
    response = as_user(api_client, requester).get(f"/api/tickets/?requester={other_requester.pk}")

    assert keys(response) == []
    response = api_client.get(f"/api/tickets/?search={b_ticket.key}")
    assert keys(response) == []


def test_agent_lists_every_ticket(
    api_client: APIClient, agent: User, ticket: Ticket, b_ticket: Ticket
) -> None:
    assert keys(as_user(api_client, agent).get("/api/tickets/")) == [b_ticket.key, ticket.key]


# --- B gets 404 on A's ticket, whatever the endpoint ----------------------------------------
@pytest.fixture
def b_client(api_client: APIClient, other_requester: User) -> APIClient:
    return as_user(api_client, other_requester)


@pytest.mark.parametrize(
    "call",
    [
        ("get", "", None),
        ("patch", "", {"title": "Mine now"}),
        ("post", "transition/", {"stage": "OPEN"}),
        ("post", "assign/", {"assignee": None}),
        ("get", "comments/", None),
        ("post", "comments/", {"body": "Hello"}),
        ("get", "watchers/", None),
        ("post", "watchers/", {}),
        ("delete", "watchers/", None),
        ("get", "history/", None),
        ("get", "attachments/ATTACHMENT/", None),
    ],
)
def test_requester_b_gets_404_on_requester_as_ticket_for_every_endpoint(
    b_client: APIClient,
    ticket: Ticket,
    stages: dict[str, Stage],
    attachment_of_public_comment: int,
    call: tuple[str, str, dict[str, Any] | None],
) -> None:
    method, suffix, payload = call
    if payload and payload.get("stage") == "OPEN":
        payload = {"stage": stages["Open"].pk}
    path = f"/api/tickets/{ticket.key}/{suffix}".replace(
        "ATTACHMENT", str(attachment_of_public_comment)
    )

    response = getattr(b_client, method)(path, payload, format="json")

    assert response.status_code == 404, response.content
    # Indistinguishable from a ticket that does not exist.
    missing = getattr(b_client, method)(
        path.replace(ticket.key, "NF-987654"), payload, format="json"
    )
    assert (missing.status_code, missing.json()) == (404, response.json())
    ticket.refresh_from_db()
    assert ticket.title == "A's printer"
    assert ticket.stage == stages["New"]
    assert not ticket.comments.exclude(author__is_staff=True).exists()
    assert not TicketWatcher.objects.exists()


# --- what A may change on their own ticket ---------------------------------------------------
def test_requester_patches_title_and_description_of_their_ticket(
    api_client: APIClient, requester: User, ticket: Ticket
) -> None:
    response = as_user(api_client, requester).patch(
        f"/api/tickets/{ticket.key}/",
        {"title": "A's printer, again", "description": "Still smoking."},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["title"] == "A's printer, again"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"priority": "URGENT"}, "You cannot change priority here."),
        ({"title": "Sneaky", "priority": "URGENT"}, "You cannot change priority here."),
        ({"assignee": None}, "Only agents can assign tickets."),
        ({"title": "Sneaky", "assignee": None}, "Only agents can assign tickets."),
    ],
)
def test_requester_cannot_patch_priority_or_assignee_and_nothing_changes(
    api_client: APIClient,
    requester: User,
    ticket: Ticket,
    payload: dict[str, Any],
    message: str,
) -> None:
    response = as_user(api_client, requester).patch(
        f"/api/tickets/{ticket.key}/", payload, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"detail": message}
    ticket.refresh_from_db()
    assert (ticket.title, ticket.priority) == ("A's printer", Priority.NORMAL)


def test_requester_cannot_patch_the_stage(
    api_client: APIClient, requester: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    response = as_user(api_client, requester).patch(
        f"/api/tickets/{ticket.key}/", {"stage": stages["Closed"].pk}, format="json"
    )

    assert response.status_code == 400
    assert "stage" in response.json()


def test_requester_cannot_assign(
    api_client: APIClient, requester: User, agent: User, ticket: Ticket
) -> None:
    as_user(api_client, requester)

    to_agent = api_client.post(
        f"/api/tickets/{ticket.key}/assign/", {"assignee": agent.pk}, format="json"
    )
    to_self = api_client.post(
        f"/api/tickets/{ticket.key}/assign/", {"assignee": requester.pk}, format="json"
    )

    # Naming another user is answered as if nobody had that id (tests/test_user_enumeration.py).
    assert (to_agent.status_code, to_agent.json()) == (
        400,
        {"assignee": [f'No user "{agent.pk}" that you may name here.']},
    )
    assert (to_self.status_code, to_self.json()) == (
        403,
        {"detail": "Only agents can assign tickets."},
    )


def test_requester_takes_a_requester_allowed_transition_reopen(
    api_client: APIClient, requester: User, agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)

    response = as_user(api_client, requester).post(
        f"/api/tickets/{ticket.key}/transition/", {"stage": stages["Open"].pk}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["stage"]["name"] == "Open"
    assert response.json()["resolved_at"] is None


def test_requester_cannot_take_a_transition_reserved_to_agents(
    api_client: APIClient, requester: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    response = as_user(api_client, requester).post(
        f"/api/tickets/{ticket.key}/transition/", {"stage": stages["Open"].pk}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"detail": "Only agents can move a ticket from 'New' to 'Open'."}
    ticket.refresh_from_db()
    assert ticket.stage == stages["New"]


def test_requester_cannot_open_a_ticket_for_someone_else_or_assign_it(
    api_client: APIClient, requester: User, other_requester: User, agent: User, workflow: Workflow
) -> None:
    as_user(api_client, requester)

    for_b = api_client.post(
        "/api/tickets/", {"title": "x", "requester": other_requester.pk}, format="json"
    )
    assigned = api_client.post("/api/tickets/", {"title": "x", "assignee": agent.pk}, format="json")

    # Another user's id is answered as if nobody had it (tests/test_user_enumeration.py).
    assert (for_b.status_code, for_b.json()) == (
        400,
        {"requester": [f'No user "{other_requester.pk}" that you may name here.']},
    )
    assert (assigned.status_code, assigned.json()) == (
        400,
        {"assignee": [f'No user "{agent.pk}" that you may name here.']},
    )
    assert not Ticket.objects.exists()


# --- comments -------------------------------------------------------------------------------
def test_requester_never_sees_internal_comments_but_the_agent_does(
    api_client: APIClient, requester: User, agent: User, ticket: Ticket
) -> None:
    services.comment_create(ticket=ticket, author=agent, body="Public reply")
    services.comment_create(ticket=ticket, author=agent, body="Internal note", is_internal=True)
    url = f"/api/tickets/{ticket.key}/comments/"

    as_requester = as_user(APIClient(), requester).get(url).json()["results"]
    as_agent = as_user(api_client, agent).get(url).json()["results"]

    assert [c["body"] for c in as_requester] == ["Public reply"]
    assert [(c["body"], c["is_internal"]) for c in as_agent] == [
        ("Public reply", False),
        ("Internal note", True),
    ]


def test_an_internal_note_does_not_move_the_requesters_updated_time(
    api_client: APIClient, requester: User, agent: User, ticket: Ticket
) -> None:
    url = f"/api/tickets/{ticket.key}/"
    before = as_user(APIClient(), requester).get(url).json()["updated"]

    services.comment_create(ticket=ticket, author=agent, body="Internal note", is_internal=True)
    as_requester = as_user(APIClient(), requester).get(url).json()["updated"]
    as_agent = as_user(api_client, agent).get(url).json()["updated"]
    listed = as_user(APIClient(), requester).get("/api/tickets/").json()["results"][0]

    assert as_requester == before == listed["updated"]
    assert as_agent > before  # agents see every change
    services.comment_create(ticket=ticket, author=agent, body="Public reply")
    assert as_user(APIClient(), requester).get(url).json()["updated"] > before


def test_requester_cannot_write_an_internal_comment(
    api_client: APIClient, requester: User, ticket: Ticket
) -> None:
    response = as_user(api_client, requester).post(
        f"/api/tickets/{ticket.key}/comments/",
        {"body": "psst", "is_internal": True},
        format="json",
    )

    assert response.status_code == 403
    assert response.json() == {"detail": "Requesters cannot write internal comments."}
    assert not Comment.objects.exists()


def test_requester_cannot_download_an_attachment_of_an_internal_comment(
    api_client: APIClient, requester: User, agent: User, ticket: Ticket
) -> None:
    internal = services.comment_create(
        ticket=ticket,
        author=agent,
        body="Their password is in here",
        is_internal=True,
        attachments=[SimpleUploadedFile("secret.txt", b"hunter2", "text/plain")],
    )
    url = f"/api/tickets/{ticket.key}/attachments/{internal.attachments.get().pk}/"

    refused = as_user(APIClient(), requester).get(url)
    allowed = as_user(api_client, agent).get(url)

    assert refused.status_code == 404
    assert allowed.status_code == 200
    assert b"".join(allowed.streaming_content) == b"hunter2"


def test_an_attachment_is_downloadable_only_under_its_own_ticket(
    api_client: APIClient,
    agent: User,
    ticket: Ticket,
    b_ticket: Ticket,
    attachment_of_public_comment: int,
) -> None:
    response = as_user(api_client, agent).get(
        f"/api/tickets/{b_ticket.key}/attachments/{attachment_of_public_comment}/"
    )

    assert response.status_code == 404


# --- watchers -------------------------------------------------------------------------------
def test_requester_watches_and_unwatches_themselves(
    api_client: APIClient, requester: User, agent: User, b_ticket: Ticket
) -> None:
    services.ticket_watch(ticket=b_ticket, user=requester, actor=agent)
    url = f"/api/tickets/{b_ticket.key}/watchers/"
    as_user(api_client, requester)

    again = api_client.post(url, {}, format="json")
    removed = api_client.delete(url)

    assert again.status_code == 201
    assert removed.status_code == 204
    assert not TicketWatcher.objects.filter(user=requester).exists()
    # Watching was A's only way to see B's ticket.
    assert api_client.get(f"/api/tickets/{b_ticket.key}/").status_code == 404


def test_requester_cannot_add_or_remove_another_user_as_watcher(
    api_client: APIClient, requester: User, other_requester: User, agent: User, ticket: Ticket
) -> None:
    services.ticket_watch(ticket=ticket, user=agent, actor=agent)
    url = f"/api/tickets/{ticket.key}/watchers/"
    as_user(api_client, requester)

    added = api_client.post(url, {"user": other_requester.pk}, format="json")
    removed = api_client.delete(f"{url}?user={agent.pk}")

    # Another user's id is answered as if nobody had it (tests/test_user_enumeration.py).
    assert (added.status_code, added.json()) == (
        400,
        {"user": [f'No user "{other_requester.pk}" that you may name here.']},
    )
    assert (removed.status_code, removed.json()) == (
        400,
        {"user": [f'No user "{agent.pk}" that you may name here.']},
    )
    assert list(TicketWatcher.objects.values_list("user__username", flat=True)) == ["agent"]


def test_agent_adds_and_removes_any_watcher(
    api_client: APIClient, agent: User, other_requester: User, ticket: Ticket
) -> None:
    url = f"/api/tickets/{ticket.key}/watchers/"
    as_user(api_client, agent)

    added = api_client.post(url, {"user": other_requester.pk}, format="json")

    assert added.status_code == 201
    assert added.json()["user"]["username"] == "other"
    assert (
        as_user(APIClient(), other_requester).get(f"/api/tickets/{ticket.key}/").status_code == 200
    )

    removed = api_client.delete(url, {"user": other_requester.pk}, format="json")

    assert removed.status_code == 204
    assert not TicketWatcher.objects.exists()


# --- the agent -------------------------------------------------------------------------------
def test_agent_reads_and_works_any_requesters_ticket(
    api_client: APIClient, agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    as_user(api_client, agent)
    base = f"/api/tickets/{ticket.key}/"

    assert api_client.get(base).status_code == 200
    assert api_client.patch(base, {"priority": "HIGH"}, format="json").status_code == 200
    assert (
        api_client.post(f"{base}transition/", {"stage": stages["Open"].pk}, format="json")
    ).status_code == 200
    assert (
        api_client.post(f"{base}comments/", {"body": "On it", "is_internal": True}, format="json")
    ).status_code == 201
    assert api_client.get(f"{base}history/").status_code == 200
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.stage) == (Priority.HIGH, stages["Open"])


def test_an_admin_is_an_agent(api_client: APIClient, ticket: Ticket) -> None:
    admin = UserFactory(username="ada", role="admin")

    assert keys(as_user(api_client, admin).get("/api/tickets/")) == [ticket.key]
