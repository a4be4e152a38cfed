"""Articles suggested for a ticket from its title and description; links to tickets."""

from __future__ import annotations

import pytest

from knowledge import suggestions
from knowledge.models import KnowledgeArticle
from nixflow import services as ticket_services
from nixflow.models import Ticket, User
from tests.knowledge.conftest import client_for
from tests.knowledge.factories import ArticleFactory, TicketLinkFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(reader: User) -> Ticket:
    return ticket_services.ticket_create(
        requester=reader,
        title="VPN keeps disconnecting",
        description="Since this morning the VPN disconnects every few minutes at home.",
        actor=reader,
    )


@pytest.fixture
def library() -> None:
    ArticleFactory(title="VPN disconnects every few minutes", body="Restart the router.")
    ArticleFactory(title="Set up the VPN", body="Install the client.")
    ArticleFactory(title="Printer jams", body="Open the tray. The printer disconnects too.")
    ArticleFactory(
        title="VPN disconnects: internal runbook", body="Gateway logs.", visibility="INTERNAL"
    )


def test_suggestions_share_several_of_the_tickets_words_best_first(
    library: None, ticket: Ticket, reader: User, editor: User
) -> None:
    for_reader = suggestions.articles_suggested_for_ticket(ticket=ticket, user=reader)
    for_agent = suggestions.articles_suggested_for_ticket(ticket=ticket, user=editor)

    assert [a.title for a in for_reader] == ["VPN disconnects every few minutes"]
    assert {a.title for a in for_agent} == {
        "VPN disconnects every few minutes",
        "VPN disconnects: internal runbook",
    }


def test_one_shared_word_is_enough_when_nothing_shares_two(reader: User) -> None:
    ArticleFactory(title="Monitor arm installation", body="Screws.")
    ticket = ticket_services.ticket_create(
        requester=reader, title="New monitor please", description="", actor=reader
    )

    assert [
        a.title for a in suggestions.articles_suggested_for_ticket(ticket=ticket, user=reader)
    ] == ["Monitor arm installation"]


def test_linked_articles_come_first_even_without_shared_words(
    library: None, ticket: Ticket, editor: User
) -> None:
    setup = KnowledgeArticle.objects.get(title="Set up the VPN")
    assert setup not in suggestions.articles_suggested_for_ticket(ticket=ticket, user=editor)

    TicketLinkFactory(article=setup, ticket=ticket, linked_by=editor)

    assert suggestions.articles_suggested_for_ticket(ticket=ticket, user=editor)[0] == setup


def test_api_suggestions_respect_ticket_visibility(
    library: None, ticket: Ticket, reader: User, other_requester: User
) -> None:
    mine = client_for(reader).get("/api/knowledge/suggestions/", {"ticket": ticket.key.lower()})
    theirs = client_for(other_requester).get("/api/knowledge/suggestions/", {"ticket": ticket.key})
    bad = client_for(reader).get("/api/knowledge/suggestions/", {"ticket": "TICKET-1"})
    anonymous = client_for(None).get("/api/knowledge/suggestions/", {"ticket": ticket.key})

    assert mine.status_code == 200
    assert mine.json()["ticket"] == ticket.key
    assert [r["title"] for r in mine.json()["results"]] == ["VPN disconnects every few minutes"]
    assert theirs.status_code == 404
    assert bad.status_code == 400
    assert anonymous.status_code in {401, 403}


def test_api_links_articles_and_tickets(ticket: Ticket, editor: User, reader: User) -> None:
    article = ArticleFactory()
    url = f"/api/knowledge/articles/{article.pk}/tickets/"

    linked = client_for(editor).post(url, {"ticket": ticket.key}, format="json")
    again = client_for(editor).post(url, {"ticket": ticket.key}, format="json")
    forbidden = client_for(reader).get(url)
    unlinked = client_for(editor).delete(url, {"ticket": ticket.key}, format="json")
    missing = client_for(editor).post(url, {"ticket": "NF-999999"}, format="json")

    assert [row["ticket"] for row in linked.json()["results"]] == [ticket.key]
    assert len(again.json()["results"]) == 1
    assert forbidden.status_code == 403
    assert unlinked.json()["results"] == []
    assert missing.status_code == 404
