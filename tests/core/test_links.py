"""Links between tickets (nixflow.services.links): each side reads a link in its own
words, a pair has one link of a kind either way, history and events on both tickets,
requesters see only links to tickets they may see; the API and the admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils.html import strip_tags
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow import events
from nixflow.models import LinkKind, Ticket, TicketLink, User
from nixflow.services.links import ticket_link, ticket_links, ticket_unlink
from nixflow.toolkit.errors import ConflictError
from tests.factories import AgentFactory, TicketFactory, TicketWatcherFactory
from tests.helpers import history
from tests.support.browser import browser

pytestmark = pytest.mark.django_db
__all__ = ["browser"]  # the shared fixture, used by name below


def _texts(ticket: Ticket, user: User) -> list[str]:
    return [view.text for view in ticket_links(ticket=ticket, user=user)]


# --- Service ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "from_source", "from_target"),
    [
        (LinkKind.RELATED, "related to", "related to"),
        (LinkKind.DUPLICATE_OF, "duplicate of", "has duplicate"),
        (LinkKind.BLOCKS, "blocks", "blocked by"),
    ],
)
def test_each_side_reads_the_link_in_its_words(
    agent: User, kind: str, from_source: str, from_target: str
) -> None:
    a, b = TicketFactory(), TicketFactory()
    ticket_link(source=a, target=b, kind=kind, actor=agent)
    assert _texts(a, agent) == [f"{from_source} {b.key}"]
    assert _texts(b, agent) == [f"{from_target} {a.key}"]


def test_history_and_events_on_both_tickets(agent: User) -> None:
    a, b = TicketFactory(), TicketFactory()
    link = ticket_link(source=a, target=b, kind=LinkKind.BLOCKS, actor=agent)
    assert ("link", "", f"blocks {b.key}") in history(a)
    assert ("link", "", f"blocked by {a.key}") in history(b)
    linked = EventLog.objects.filter(type=events.TICKET_LINKED).order_by("id")
    assert [(e.ticket_key, e.payload["other_id"]) for e in linked] == [
        (a.key, b.pk),
        (b.key, a.pk),
    ]
    assert linked[0].payload["link_id"] == link.pk
    assert linked[0].payload["kind"] == "blocks"

    ticket_unlink(link=link, actor=agent)
    assert not TicketLink.objects.exists()
    assert ("link", f"blocked by {a.key}", "") in history(b)
    unlinked = EventLog.objects.filter(type=events.TICKET_UNLINKED)
    assert sorted(e.ticket_key for e in unlinked) == sorted([a.key, b.key])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("related a-b", "related a-b"),
        ("related a-b", "related b-a"),  # symmetric: the same link
        ("blocks a-b", "blocks b-a"),  # contradictory
        ("duplicate_of a-b", "duplicate_of b-a"),  # contradictory
        ("blocks a-b", "blocks a-b"),
    ],
)
def test_duplicates_and_contradictions_are_refused(agent: User, first: str, second: str) -> None:
    tickets = {"a": TicketFactory(), "b": TicketFactory()}

    def link(spec: str) -> TicketLink:
        kind, pair = spec.split()
        source, target = pair.split("-")
        return ticket_link(source=tickets[source], target=tickets[target], kind=kind, actor=agent)

    link(first)
    with pytest.raises(ConflictError, match="already"):
        link(second)
    assert TicketLink.objects.count() == 1


def test_a_link_does_not_make_a_loaded_ticket_stale(agent: User) -> None:
    a, b = TicketFactory(), TicketFactory()
    before = (a.version, b.version)
    link = ticket_link(source=a, target=b, kind=LinkKind.RELATED, actor=agent)
    ticket_unlink(link=link, actor=agent)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.version, b.version) == before


def test_different_kinds_on_one_pair_are_fine(agent: User) -> None:
    a, b = TicketFactory(), TicketFactory()
    ticket_link(source=a, target=b, kind=LinkKind.RELATED, actor=agent)
    ticket_link(source=b, target=a, kind=LinkKind.BLOCKS, actor=agent)
    assert _texts(a, agent) == [f"related to {b.key}", f"blocked by {b.key}"]


def test_refusals(agent: User, requester: User) -> None:
    a = TicketFactory(requester=requester)
    b = TicketFactory(requester=requester)
    with pytest.raises(ValidationError, match="itself"):
        ticket_link(source=a, target=a, kind=LinkKind.RELATED, actor=agent)
    with pytest.raises(ValidationError, match="Unknown link kind"):
        ticket_link(source=a, target=b, kind="parent_of", actor=agent)
    with pytest.raises(PermissionDenied):
        ticket_link(source=a, target=b, kind=LinkKind.RELATED, actor=requester)
    link = ticket_link(source=a, target=b, kind=LinkKind.RELATED, actor=agent)
    with pytest.raises(PermissionDenied):
        ticket_unlink(link=link, actor=requester)
    assert TicketLink.objects.count() == 1


def test_requesters_see_only_links_to_tickets_they_may_see(
    agent: User, requester: User, other_requester: User
) -> None:
    mine = TicketFactory(requester=requester)
    theirs = TicketFactory(requester=other_requester)
    watched = TicketFactory(requester=other_requester)
    TicketWatcherFactory(ticket=watched, user=requester)
    ticket_link(source=mine, target=theirs, kind=LinkKind.DUPLICATE_OF, actor=agent)
    ticket_link(source=watched, target=mine, kind=LinkKind.BLOCKS, actor=agent)
    assert _texts(mine, requester) == [f"blocked by {watched.key}"]
    assert _texts(mine, agent) == [f"duplicate of {theirs.key}", f"blocked by {watched.key}"]
    assert _texts(theirs, other_requester) == []


# --- API ----------------------------------------------------------------------------------
def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_links_both_ways(agent: User) -> None:
    a, b = TicketFactory(), TicketFactory()
    response = _api(agent).post(
        f"/api/tickets/{a.key}/links/", {"relation": "blocked_by", "ticket": b.key}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["relation"] == "blocked_by"
    assert body["relation_text"] == "blocked by"
    assert body["ticket"] == b.key
    assert body["kind"] == "blocks"
    assert body["outgoing"] is False
    link = TicketLink.objects.get()
    assert (link.source, link.target) == (b, a)

    listed = _api(agent).get(f"/api/tickets/{b.key.lower()}/links/").json()
    assert [(x["relation"], x["ticket"]) for x in listed] == [("blocks", a.key)]
    assert listed[0]["relation_text"] == "blocks"

    response = _api(agent).post(
        f"/api/tickets/{b.key}/links/", {"relation": "blocked_by", "ticket": a.key}, format="json"
    )
    assert response.status_code == 409
    assert "contradict" in response.json()["detail"]

    assert _api(agent).delete(f"/api/tickets/{a.key}/links/{link.pk}/").status_code == 204
    assert not TicketLink.objects.exists()
    assert _api(agent).delete(f"/api/tickets/{a.key}/links/{link.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"relation": "parent", "ticket": "NF-1"}, "relation"),
        ({"relation": "related", "ticket": "banana"}, "ticket"),
        ({"relation": "related", "ticket": "NF-99999999"}, "ticket"),
        ({"relation": "related"}, "ticket"),
    ],
)
def test_api_link_bad_input_is_400(agent: User, data: dict, field: str) -> None:
    a = TicketFactory()
    response = _api(agent).post(f"/api/tickets/{a.key}/links/", data, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_api_link_of_another_ticket_is_404(agent: User) -> None:
    a, b, c = TicketFactory(), TicketFactory(), TicketFactory()
    link = ticket_link(source=a, target=b, kind=LinkKind.RELATED, actor=agent)
    assert _api(agent).delete(f"/api/tickets/{c.key}/links/{link.pk}/").status_code == 404
    assert TicketLink.objects.exists()


def test_api_requesters_read_visible_links_and_cannot_write(
    agent: User, requester: User, other_requester: User
) -> None:
    mine = TicketFactory(requester=requester)
    other_mine = TicketFactory(requester=requester)
    theirs = TicketFactory(requester=other_requester)
    ticket_link(source=mine, target=theirs, kind=LinkKind.RELATED, actor=agent)
    link = ticket_link(source=mine, target=other_mine, kind=LinkKind.RELATED, actor=agent)
    client = _api(requester)
    listed = client.get(f"/api/tickets/{mine.key}/links/").json()
    assert [x["ticket"] for x in listed] == [other_mine.key]
    assert client.get(f"/api/tickets/{theirs.key}/links/").status_code == 404
    response = client.post(
        f"/api/tickets/{mine.key}/links/", {"relation": "blocks", "ticket": other_mine.key}
    )
    assert response.status_code == 403
    assert client.delete(f"/api/tickets/{mine.key}/links/{link.pk}/").status_code == 403
    assert TicketLink.objects.count() == 2


# --- Admin --------------------------------------------------------------------------------
def _admin(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_panel_lists_links_both_ways(agent: User) -> None:
    a, b = TicketFactory(title="Printer"), TicketFactory(title="Toner")
    ticket_link(source=a, target=b, kind=LinkKind.DUPLICATE_OF, actor=agent)
    page = _admin(agent).get(f"/admin/nixflow/ticket/{b.pk}/change/").content.decode()
    assert f"Has duplicate {a.key} Printer" in strip_tags(page)
    assert f'href="/admin/nixflow/ticket/{a.pk}/change/"' in page
    page = _admin(agent).get(f"/admin/nixflow/ticket/{a.pk}/change/").content.decode()
    assert f"Duplicate of {b.key} Toner" in strip_tags(page)


def test_admin_add_and_remove_a_link(agent: User) -> None:
    a, b = TicketFactory(), TicketFactory()
    client = _admin(agent)
    response = client.post(
        f"/admin/nixflow/ticket/{a.pk}/links/",
        {"link_kind": "blocks", "link_ticket": b.key.lower()},
        follow=True,
    )
    assert response.status_code == 200
    assert f"{a.key} is now blocks {b.key}." in response.content.decode()
    link = TicketLink.objects.get(source=a, target=b, kind=LinkKind.BLOCKS)

    response = client.post(
        f"/admin/nixflow/ticket/{b.pk}/links/",
        {"link_kind": "blocked_by", "link_ticket": a.key},
        follow=True,
    )
    assert "already" in response.content.decode()

    response = client.post(f"/admin/nixflow/ticket/{b.pk}/links/{link.pk}/remove/", follow=True)
    assert "Link removed." in response.content.decode()
    assert not TicketLink.objects.exists()
    response = client.post(f"/admin/nixflow/ticket/{b.pk}/links/{link.pk}/remove/", follow=True)
    assert response.status_code == 200
    assert "removed already" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"link_kind": "nonsense", "link_ticket": "NF-1"}, "Choose how"),
        ({"link_kind": "related", "link_ticket": ""}, "Type a ticket key"),
        ({"link_kind": "related", "link_ticket": "NF-99999999"}, "No such ticket"),
    ],
)
def test_admin_link_bad_input_is_a_message(agent: User, data: dict, text: str) -> None:
    a = TicketFactory()
    response = _admin(agent).post(f"/admin/nixflow/ticket/{a.pk}/links/", data, follow=True)
    assert response.status_code == 200
    assert text in response.content.decode()
    assert not TicketLink.objects.exists()


def test_admin_link_views_need_post_and_csrf(agent: User) -> None:
    a, b = TicketFactory(), TicketFactory()
    assert _admin(agent).get(f"/admin/nixflow/ticket/{a.pk}/links/").status_code == 405
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    response = client.post(
        f"/admin/nixflow/ticket/{a.pk}/links/", {"link_kind": "related", "link_ticket": b.key}
    )
    assert response.status_code == 403
    assert not TicketLink.objects.exists()


def test_admin_link_views_refuse_requesters_and_unknown_tickets(
    agent: User, requester: User
) -> None:
    a, b = TicketFactory(requester=requester), TicketFactory(requester=requester)
    response = _admin(requester).post(
        f"/admin/nixflow/ticket/{a.pk}/links/", {"link_kind": "related", "link_ticket": b.key}
    )
    assert response.status_code == 302  # to the admin's login: requesters have no admin
    assert not TicketLink.objects.exists()
    response = _admin(agent).post(
        "/admin/nixflow/ticket/99999999/links/", {"link_kind": "related", "link_ticket": b.key}
    )
    assert response.status_code == 404


# --- In a browser -------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_panels_buttons_work_in_a_browser(
    browser: Any, live_server: Any, tmp_path: Path
) -> None:
    """The panel sits inside the ticket's form (forms cannot nest): its buttons post that
    form to the link and merge views, not the ticket's save; at 1440 and 375 px."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.support.browser import login, message_containing

    agent = AgentFactory(username="linker")
    a, b, c = TicketFactory(title="Printer"), TicketFactory(title="Toner"), TicketFactory()
    login(browser, live_server.url, "linker", "correct horse battery staple")
    for width, height in ((1440, 1000), (375, 812)):
        browser.set_window_size(width, height)
        browser.get(f"{live_server.url}/admin/nixflow/ticket/{a.pk}/change/")
        Select(browser.find_element(By.NAME, "link_kind")).select_by_value("blocked_by")
        field = browser.find_element(By.NAME, "link_ticket")
        field.clear()
        field.send_keys(b.key if width == 1440 else c.key)
        browser.find_element(By.XPATH, "//button[text()='Add link']").click()
        assert "is now blocked by" in message_containing(browser, "is now blocked by")
        panel = browser.find_element(By.CSS_SELECTOR, "[data-panel='links-and-merges']")
        browser.execute_script("arguments[0].scrollIntoView()", panel)
        browser.save_screenshot(str(tmp_path / f"links-{width}.png"))
    assert TicketLink.objects.filter(target=a, kind=LinkKind.BLOCKS).count() == 2
    a.refresh_from_db()
    assert a.title == "Printer"  # the ticket's own form was not saved

    browser.find_element(By.NAME, "merge_into_key").send_keys(b.key)
    browser.find_element(By.XPATH, "//button[text()='Merge']").click()
    assert f"merged into {b.key}" in message_containing(browser, f"merged into {b.key}")
    a.refresh_from_db()
    assert a.merged_into_id == b.pk
    assert agent.is_agent
