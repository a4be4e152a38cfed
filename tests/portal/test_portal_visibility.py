"""Who sees what in the portal: requester A, requester B, a watcher, an agent and an
anonymous visitor on every portal page, and an internal note absent from every byte."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import dateformat, timezone

from nixflow import services
from nixflow.models import Ticket
from tests.factories import UserFactory
from tests.portal.conftest import INTERNAL_MARKER

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def portal_paths(scene: Any) -> list[str]:
    key = scene.ticket.key
    return [
        "/portal/",
        "/portal/?status=closed",
        "/portal/?status=all",
        "/portal/?status=all&q=printer",
        "/portal/?status=all&q=vendor",
        f"/portal/tickets/{key}/",
        "/portal/new/",
        "/portal/new/?subject=printer+jams",
        "/portal/new/suggestions/?subject=printer+jams",
    ]


def test_anonymous_visitors_are_sent_to_sign_in_and_back(portal_scene: Any) -> None:
    client = Client()
    for path in portal_paths(portal_scene):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/portal/signin/?next="), path
    response = client.post(f"/portal/tickets/{portal_scene.ticket.key}/reply/", {"body": "hi"})
    assert response.status_code == 302
    assert not portal_scene.ticket.comments.filter(body="hi").exists()


@pytest.mark.parametrize("who", ["ana", "ben", "wes", "ada"])
def test_no_portal_response_carries_an_internal_note(portal_scene: Any, who: str) -> None:
    client = client_for(getattr(portal_scene, who))
    for path in portal_paths(portal_scene):
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert INTERNAL_MARKER.encode() not in response.content, path
        assert b"Vendor contract" not in response.content, path
    # Searching the marker itself finds nothing (the page only repeats what was typed).
    response = client.get(f"/portal/?status=all&q={INTERNAL_MARKER}")
    assert response.context["page"].tickets == []


def test_the_requester_and_a_watcher_see_the_public_conversation(portal_scene: Any) -> None:
    key = portal_scene.ticket.key
    for who in ("ana", "wes"):
        response = client_for(getattr(portal_scene, who)).get(f"/portal/tickets/{key}/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "Printer jams on every page" in page
        assert "manual feed tray" in page
        assert "In progress" in page or "Received" in page


def test_the_first_message_names_who_opened_the_request(portal_scene: Any) -> None:
    opened_for_her = services.ticket_create(
        requester=portal_scene.ana,
        title="New badge",
        description="Your badge is ready at the front desk.",
        actor=portal_scene.ada,
    )

    def first_message(ticket: Ticket) -> str:
        page = client_for(portal_scene.ana).get(f"/portal/tickets/{ticket.key}/")
        conversation = page.content.decode().split('class="conversation"', 1)[1]
        return conversation.split("</li>", 1)[0]

    by_agent = first_message(opened_for_her)
    by_herself = first_message(portal_scene.ticket)
    assert "<strong>Ada" in by_agent
    assert "Service desk" in by_agent
    assert "Ana Alves" not in by_agent
    assert "<strong>Ana Alves</strong>" in by_herself
    assert "Service desk" not in by_herself


@pytest.mark.parametrize("who", ["ben", "ada"])
def test_someone_elses_ticket_is_not_found(portal_scene: Any, who: str) -> None:
    """Ben and the agent did not ask for it nor follow it: 404, as for no ticket."""
    client = client_for(getattr(portal_scene, who))
    key = portal_scene.ticket.key
    assert client.get(f"/portal/tickets/{key}/").status_code == 404
    assert client.get("/portal/tickets/NF-999999/").status_code == 404
    assert client.get("/portal/tickets/nonsense/").status_code == 404
    response = client.post(f"/portal/tickets/{key}/reply/", {"body": "let me in", "seen": "0"})
    assert response.status_code == 404
    assert (
        not Ticket.objects.get(pk=portal_scene.ticket.pk).comments.filter(body="let me in").exists()
    )


def test_the_list_shows_own_and_followed_tickets_only(portal_scene: Any) -> None:
    ana = client_for(portal_scene.ana).get("/portal/").content.decode()
    assert "Printer jams" in ana
    assert "battery swells" not in ana
    ben = client_for(portal_scene.ben).get("/portal/").content.decode()
    assert "battery swells" in ben
    assert "Printer jams" not in ben
    wes = client_for(portal_scene.wes).get("/portal/").content.decode()
    assert "Printer jams" in wes
    assert "Following" in wes
    ada = client_for(portal_scene.ada).get("/portal/").content.decode()
    assert "Printer jams" not in ada
    assert "battery swells" not in ada


def test_search_reads_the_public_conversation_only(portal_scene: Any) -> None:
    client = client_for(portal_scene.ana)
    found = client.get("/portal/?status=all&q=feed+tray").content.decode()
    assert "Printer jams" in found  # a word of the desk's public reply
    assert "<mark>" in found  # with a snippet of public text
    hidden = client.get("/portal/?status=all&q=vendor+contract").content.decode()
    assert "Printer jams" not in hidden  # words of the internal note find nothing
    assert "None of your requests matches" in hidden


def test_an_internal_note_does_not_move_the_last_activity(portal_scene: Any) -> None:
    """``updated`` moves for the note; the portal shows and sorts by public_updated."""
    ticket = Ticket.objects.get(pk=portal_scene.ticket.pk)
    assert ticket.updated > ticket.public_updated
    newer = services.ticket_create(
        requester=portal_scene.ana, title="Newer request", actor=portal_scene.ana
    )
    services.comment_create(
        ticket=ticket, author=portal_scene.ada, body="another secret", is_internal=True
    )
    ticket.refresh_from_db()
    page = client_for(portal_scene.ana).get("/portal/").content.decode()
    shown = dateformat.format(timezone.localtime(ticket.updated), "c")
    assert shown not in page
    assert dateformat.format(timezone.localtime(ticket.public_updated), "c") in page
    assert page.index(newer.title) < page.index("Printer jams")  # the note moved nothing


def test_filters_split_open_and_done_tickets(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    resolved = ticket.workflow.stages.get(category="RESOLVED")
    services.ticket_transition(ticket=ticket, to_stage=resolved, actor=portal_scene.ada)
    client = client_for(portal_scene.ana)
    assert "Printer jams" not in client.get("/portal/").content.decode()
    closed = client.get("/portal/?status=closed").content.decode()
    assert "Printer jams" in closed
    assert "Resolved" in closed
    assert "Printer jams" in client.get("/portal/?status=all").content.decode()
    assert client.get("/portal/?status=bogus").status_code == 200  # read as "open"


def test_paging_walks_every_ticket_once(db: None, settings: Any) -> None:
    settings.PORTAL_PAGE_SIZE = 3
    cleo = UserFactory(username="cleo")
    for n in range(8):
        services.ticket_create(requester=cleo, title=f"Request number {n}", actor=cleo)
    client = client_for(cleo)
    seen: list[str] = []
    path = "/portal/"
    for _ in range(5):
        response = client.get(path)
        rows = response.context["page"].tickets
        seen += [t.title for t in rows]
        cursor = response.context["page"].next_cursor
        if not cursor:
            break
        path = f"/portal/?after={cursor}"
    assert seen == [f"Request number {n}" for n in reversed(range(8))]
    assert client.get("/portal/?after=not-a-cursor").status_code == 200


def test_the_list_costs_the_same_queries_for_3_or_30_tickets(db: None) -> None:
    def queries(count: int) -> int:
        person = UserFactory(username=f"many{count}")
        other = UserFactory(username=f"other{count}")
        for n in range(count):
            mine = services.ticket_create(requester=person, title=f"Mine {n}", actor=person)
            services.comment_create(ticket=mine, author=person, body=f"more words {n}")
        followed = services.ticket_create(requester=other, title="Followed", actor=other)
        services.ticket_watch(ticket=followed, user=person, actor=None)
        client = client_for(person)
        client.get("/portal/")  # the session and first-request costs
        with CaptureQueriesContext(connection) as plain:
            assert client.get("/portal/?status=all").status_code == 200
        with CaptureQueriesContext(connection) as searched:
            assert client.get("/portal/?status=all&q=words").status_code == 200
        return len(plain) * 1000 + len(searched)

    assert queries(3) == queries(30)


def test_the_portal_speaks_the_requesters_language(portal_scene: Any) -> None:
    ana = portal_scene.ana
    ana.language = "de"
    ana.save(update_fields=["language"])
    client = client_for(ana)
    listing = client.get("/portal/").content.decode()
    assert "Meine Anfragen" in listing
    assert "Letzte Aktivität" in listing
    page = client.get(f"/portal/tickets/{portal_scene.ticket.key}/").content.decode()
    assert "Antwort senden" in page
    assert "Eingegangen" in page  # the status in plain German words


@pytest.mark.parametrize(
    "path",
    [
        "/portal/tickets/NF-99999999999999999999999/",
        "/portal/tickets/NF-1/files/99999999999999999999999/",
        "/portal/?after=OTk5OTktMTItMzFUMDA6MDA6MDArMDA6MDB8OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
        "/portal/?q=%22%22%22&status=all",
        "/portal/?q=-printer&status=all",
        "/portal/new/00000000-0000-0000-0000-000000000000/open/99999999999999999999999/",
        "/portal/new/suggestions/?subject=%00%01",
    ],
)
def test_odd_addresses_answer_without_an_error(portal_scene: Any, path: str) -> None:
    path = path.replace("NF-1/", f"{portal_scene.ticket.key}/")
    response = client_for(portal_scene.ana).get(path)
    assert response.status_code in (200, 404), response.status_code
