"""Tags through the API: a ticket's ``tags`` (read by whoever sees the ticket, set by
agents with PATCH), ``GET /api/tickets/?tag=``, and ``/api/tags/`` with its lock."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow import events, selectors, services
from nixflow.models import DeskSettings, Tag, Ticket, User
from tests.factories import AdminFactory, TicketFactory
from tests.helpers import as_user, history

pytestmark = pytest.mark.django_db


def _keys(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["key"] for row in response.json()["results"]]


# --- A ticket's tags --------------------------------------------------------------------------
def test_an_agent_sets_a_tickets_tags_with_patch(agent_api: APIClient, ticket: Ticket) -> None:
    Tag.objects.create(name="VPN")

    response = agent_api.patch(
        f"/api/tickets/{ticket.key}/", {"tags": ["vpn", " urgent-ish "]}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["tags"] == ["urgent-ish", "VPN"]
    assert history(ticket)[-1] == ("tags", "", "urgent-ish, VPN")
    assert EventLog.objects.filter(type=events.TICKET_TAGS_CHANGED).count() == 1
    cleared = agent_api.patch(f"/api/tickets/{ticket.key}/", {"tags": []}, format="json")
    assert cleared.json()["tags"] == []


def test_patch_with_other_fields_and_refused_tags_changes_nothing(
    agent_api: APIClient, ticket: Ticket
) -> None:
    services.desk_settings_update(actor=None, data={"tags_locked": True})

    response = agent_api.patch(
        f"/api/tickets/{ticket.key}/", {"title": "New title", "tags": ["nope"]}, format="json"
    )

    assert response.status_code == 400
    assert "nope" in str(response.json())
    ticket.refresh_from_db()
    assert ticket.title == "Printer on fire"
    assert not Tag.objects.exists()


def test_requesters_read_tags_but_cannot_set_them(
    requester_api: APIClient, ticket: Ticket, agent: User
) -> None:
    services.ticket_tags_set(ticket=ticket, tags=["printer"], actor=agent)

    assert requester_api.get(f"/api/tickets/{ticket.key}/").json()["tags"] == ["printer"]
    response = requester_api.patch(f"/api/tickets/{ticket.key}/", {"tags": []}, format="json")
    assert response.status_code == 403
    assert list(ticket.tags.values_list("name", flat=True)) == ["printer"]


def test_the_ticket_list_is_one_query_however_many_tags_rows_have(
    agent_api: APIClient, agent: User, requester: User, django_assert_num_queries: Any
) -> None:
    for number in range(10):
        ticket = TicketFactory(requester=requester)
        services.ticket_tags_set(ticket=ticket, tags=[f"t{i}" for i in range(number)], actor=agent)

    with django_assert_num_queries(1):
        response = agent_api.get("/api/tickets/?page_size=10")

    rows = response.json()["results"]
    assert sorted(len(row["tags"]) for row in rows) == list(range(10))


# --- ?tag= --------------------------------------------------------------------------------------
def test_tickets_are_filtered_by_tag_name_in_any_case(
    agent_api: APIClient, agent: User, requester: User
) -> None:
    vpn, mail, both, _untagged = (TicketFactory(requester=requester) for _ in range(4))
    services.ticket_tags_set(ticket=vpn, tags=["VPN"], actor=agent)
    services.ticket_tags_set(ticket=mail, tags=["mail"], actor=agent)
    services.ticket_tags_set(ticket=both, tags=["vpn", "mail"], actor=agent)

    assert set(_keys(agent_api.get("/api/tickets/?tag=vpn"))) == {vpn.key, both.key}
    assert set(_keys(agent_api.get("/api/tickets/?tag=MAIL"))) == {mail.key, both.key}
    assert _keys(agent_api.get("/api/tickets/?tag=unknown")) == []
    assert len(_keys(agent_api.get("/api/tickets/?tag="))) == 4


def test_a_requester_filtering_by_tag_sees_only_their_tickets(
    requester_api: APIClient, requester: User, other_requester: User, agent: User
) -> None:
    mine, theirs = TicketFactory(requester=requester), TicketFactory(requester=other_requester)
    for ticket in (mine, theirs):
        services.ticket_tags_set(ticket=ticket, tags=["vpn"], actor=agent)

    assert _keys(requester_api.get("/api/tickets/?tag=vpn")) == [mine.key]


# --- /api/tags/ ---------------------------------------------------------------------------------
def test_agents_list_and_search_tags_but_cannot_change_them(agent_api: APIClient) -> None:
    for name in ("VPN", "mail", "Voice"):
        Tag.objects.create(name=name)

    listed = agent_api.get("/api/tags/")
    assert [row["name"] for row in listed.json()["results"]] == ["mail", "Voice", "VPN"]
    searched = agent_api.get("/api/tags/?search=v")
    assert [row["name"] for row in searched.json()["results"]] == ["Voice", "VPN"]
    assert agent_api.post("/api/tags/", {"name": "x"}, format="json").status_code == 403
    tag = Tag.objects.get(name="mail")
    assert agent_api.patch(f"/api/tags/{tag.pk}/", {"name": "y"}, format="json").status_code == 403
    assert agent_api.delete(f"/api/tags/{tag.pk}/").status_code == 403


def test_requesters_get_no_tag_list(requester_api: APIClient) -> None:
    assert requester_api.get("/api/tags/").status_code == 403
    assert requester_api.get("/api/tags/settings/").status_code == 403


def test_admins_create_rename_and_delete_tags(api_client: APIClient) -> None:
    as_user(api_client, AdminFactory())

    created = api_client.post("/api/tags/", {"name": " Outage "}, format="json")
    assert created.status_code == 201, created.json()
    tag_id = created.json()["id"]
    assert created.json()["name"] == "Outage"
    duplicate = api_client.post("/api/tags/", {"name": "OUTAGE"}, format="json")
    assert duplicate.status_code == 400
    assert "already exists" in str(duplicate.json())
    renamed = api_client.patch(f"/api/tags/{tag_id}/", {"name": "Major"}, format="json")
    assert renamed.json()["name"] == "Major"
    assert api_client.delete(f"/api/tags/{tag_id}/").status_code == 204
    assert not Tag.objects.exists()
    assert EventLog.objects.filter(type__startswith="tag.").count() == 3


def test_agents_read_the_lock_and_admins_set_it(
    agent_api: APIClient, api_client: APIClient, ticket: Ticket
) -> None:
    assert agent_api.get("/api/tags/settings/").json() == {"tags_locked": False}
    assert (
        agent_api.patch("/api/tags/settings/", {"tags_locked": True}, format="json").status_code
        == 403
    )

    as_user(api_client, AdminFactory())
    response = api_client.patch("/api/tags/settings/", {"tags_locked": True}, format="json")

    assert response.json() == {"tags_locked": True}
    assert DeskSettings.load().tags_locked
    refused = agent_api.patch(f"/api/tickets/{ticket.key}/", {"tags": ["new"]}, format="json")
    assert refused.status_code == 400
    assert "locked" in str(refused.json())


@pytest.mark.parametrize("rare_up_to", [5_000, 1], ids=["rare: by ids", "common: a join"])
def test_both_plans_of_the_tag_filter_list_the_same_tickets(
    agent_api: APIClient, agent: User, requester: User, rare_up_to: int, monkeypatch: Any
) -> None:
    monkeypatch.setattr(selectors, "RARE_TAG_TICKETS", rare_up_to)
    tagged = [TicketFactory(requester=requester) for _ in range(3)]
    TicketFactory(requester=requester)
    for ticket in tagged:
        services.ticket_tags_set(ticket=ticket, tags=["vpn"], actor=agent)

    shown = _keys(agent_api.get("/api/tickets/?tag=VPN&ordering=-created"))

    assert shown == [t.key for t in sorted(tagged, key=lambda t: (t.created, t.pk), reverse=True)]
