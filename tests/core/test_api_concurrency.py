"""Optimistic concurrency (docs/collision.md): every change of a ticket or its
conversation counts up ``Ticket.version`` without a query of its own, the API shows it
(``version``, ``ETag``) and refuses a change whose ``If-Match`` names an older one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from nixflow import services
from nixflow.models import (
    AssignmentMode,
    Comment,
    HistoryLog,
    Priority,
    Stage,
    Tag,
    Team,
    Ticket,
    User,
)
from nixflow.services import teams
from tests.factories import AgentFactory, RoutingRuleFactory, TeamFactory
from tests.helpers import new_ticket

pytestmark = pytest.mark.django_db


def _version(ticket: Ticket) -> int:
    return Ticket.objects.values_list("version", flat=True).get(pk=ticket.pk)


def _statements(run: Callable[[], object]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        run()
    return [query["sql"] for query in captured.captured_queries]


def _version_updates(sql: list[str]) -> list[str]:
    """The statements that count the version on their own (the fallback of
    _commit_change), as opposed to saves that carry it."""
    return [s for s in sql if "version = version + 1" in s]


def _ticket_saves(sql: list[str]) -> list[str]:
    return [s for s in sql if s.startswith('UPDATE "nixflow_ticket" SET')]


# --- Services ---------------------------------------------------------------------------
def test_a_new_ticket_is_version_1_even_when_auto_assigned_at_creation(
    requester: User,
) -> None:
    agent = AgentFactory(username="member")
    TeamFactory(
        name="Desk", is_default=True, assignment_mode=AssignmentMode.ROUND_ROBIN, members=[agent]
    )
    sql = _statements(lambda: new_ticket(requester))
    ticket = Ticket.objects.get()
    assert ticket.assignee == agent  # auto-assigned, with its own ticket.assigned
    assert ticket.version == 1
    assert _version_updates(sql) == []  # creation costs no query more than before


@pytest.mark.parametrize(
    "change",
    [
        lambda t, a, s: services.ticket_update(ticket=t, actor=a, data={"title": "New"}),
        lambda t, a, s: services.ticket_transition(ticket=t, to_stage=s["Open"], actor=a),
        lambda t, a, s: services.ticket_assign(ticket=t, assignee=a, actor=a),
        lambda t, a, s: services.comment_create(ticket=t, author=a, body="On it"),
        lambda t, a, s: services.comment_create(ticket=t, author=a, body="Note", is_internal=True),
    ],
    ids=["update", "transition", "assign", "public comment", "internal note"],
)
def test_each_change_counts_one_version_in_the_save_it_makes_anyway(
    ticket: Ticket,
    agent: User,
    stages: dict[str, Stage],
    change: Callable[[Ticket, User, dict[str, Stage]], object],
) -> None:
    sql = _statements(lambda: change(ticket, agent, stages))
    assert _version(ticket) == 2
    assert _version_updates(sql) == []  # no statement of its own: +0 queries
    # The service's own save of the row carries it (a receiver's UPDATE of sla_due_at
    # may follow: not a change of the ticket's).
    saves = [s for s in _ticket_saves(sql) if '"updated" = ' in s]
    assert len(saves) == 1
    assert '"version" = 2' in saves[0]


def test_a_change_that_changes_nothing_counts_nothing(ticket: Ticket, agent: User) -> None:
    services.ticket_update(ticket=ticket, actor=agent, data={"title": ticket.title})
    services.ticket_assign(ticket=ticket, assignee=None, actor=agent)
    assert _version(ticket) == 1


def test_versions_add_up_and_the_returned_ticket_carries_the_new_one(
    ticket: Ticket, agent: User, stages: dict[str, Stage]
) -> None:
    changed = services.ticket_update(ticket=ticket, actor=agent, data={"priority": "HIGH"})
    assert changed.version == 2
    moved = services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)
    assert moved.version == 3
    services.comment_create(ticket=ticket, author=agent, body="Done")
    assert _version(ticket) == 4


def test_watchers_are_not_counted(ticket: Ticket, agent: User) -> None:
    services.ticket_watch(ticket=ticket, user=agent, actor=agent)
    services.ticket_unwatch(ticket=ticket, user=agent, actor=agent)
    assert _version(ticket) == 1
    assert HistoryLog.objects.filter(ticket=ticket, field="watcher").count() == 2


def test_changes_of_other_modules_are_counted_with_one_update(ticket: Ticket, agent: User) -> None:
    """Tags and teams save the row themselves: _commit_change counts their change, with
    one UPDATE ... version + 1 while their save leaves the version out (docs/collision.md)."""
    sql = _statements(lambda: services.ticket_tags_set(ticket=ticket, tags=["vpn"], actor=agent))
    assert _version(ticket) == 2
    # One UPDATE of its own at most (none once tags.py saves with touch()).
    assert len(_version_updates(sql)) <= 1
    assert Tag.objects.filter(name="vpn").exists()

    team = Team.objects.create(name="Network")
    changed = teams.ticket_set_team(ticket=ticket, team=team, actor=agent)
    assert _version(ticket) == 3
    assert changed.version == 3  # read back from the UPDATE, not guessed


def test_priority_routing_in_the_same_change_counts_both(ticket: Ticket, agent: User) -> None:
    """A priority change that routes the team-less ticket (a ticket_event receiver) is two
    changes with two history rows: two versions, the instance in step with the row."""
    team = TeamFactory(name="Urgent desk")
    RoutingRuleFactory(team=team, priority=Priority.URGENT)
    changed = services.ticket_update(ticket=ticket, actor=agent, data={"priority": "URGENT"})
    assert Ticket.objects.get(pk=ticket.pk).team == team
    assert changed.version == _version(ticket) == 3


# --- API: version, ETag, If-Match -------------------------------------------------------
def _url(ticket: Ticket, action: str = "") -> str:
    return f"/api/tickets/{ticket.key}/{action + '/' if action else ''}"


def test_get_carries_the_version_in_body_and_etag_and_merged_into(
    agent_api: APIClient, ticket: Ticket
) -> None:
    response = agent_api.get(_url(ticket))
    assert response.status_code == 200
    assert response.data["version"] == 1
    assert response["ETag"] == '"1"'
    assert response.data["merged_into"] is None

    target = new_ticket(ticket.requester, "The original")
    Ticket.objects.filter(pk=ticket.pk).update(merged_into=target)
    assert agent_api.get(_url(ticket)).data["merged_into"] == target.key
    listed = agent_api.get("/api/tickets/").data["results"]
    assert {row["key"]: row["merged_into"] for row in listed} == {
        ticket.key: target.key,
        target.key: None,
    }


def test_patch_with_the_current_version_succeeds_and_answers_the_next(
    agent_api: APIClient, ticket: Ticket
) -> None:
    response = agent_api.patch(
        _url(ticket), {"title": "Printer still on fire"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 200, response.data
    assert response.data["version"] == 2
    assert response["ETag"] == '"2"'


def test_patch_with_a_stale_version_is_412_and_changes_nothing(
    agent_api: APIClient, ticket: Ticket, agent: User
) -> None:
    services.comment_create(ticket=ticket, author=agent, body="Someone else replied")
    response = agent_api.patch(
        _url(ticket),
        {"title": "Overwritten?", "priority": "HIGH"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 412
    assert response.json() == {
        "detail": f"{ticket.key} changed since version 1: it is at version 2 now. Load it "
        "again, check what changed, and repeat the change if it still applies.",
        "current_version": 2,
    }
    assert response["ETag"] == '"2"'
    ticket.refresh_from_db()
    assert (ticket.title, ticket.priority, ticket.version) == ("Printer on fire", "NORMAL", 2)


@pytest.mark.parametrize(
    "if_match", ['W/"2"', '"1", "2"', " * ", '"9", W/"2"'], ids=["weak", "list", "star", "any"]
)
def test_if_match_forms_that_accept_the_current_version(
    agent_api: APIClient, ticket: Ticket, agent: User, if_match: str
) -> None:
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": "LOW"})
    response = agent_api.patch(
        _url(ticket), {"title": "Renamed"}, format="json", HTTP_IF_MATCH=if_match
    )
    assert response.status_code == 200, response.data
    assert response.data["version"] == 3


@pytest.mark.parametrize(
    "if_match", ["2", '"abc"', '"0"', "", '"2",,', 'W/ "2"', '"1' + "0" * 20 + '"']
)
def test_a_malformed_if_match_is_400_naming_the_header(
    agent_api: APIClient, ticket: Ticket, if_match: str
) -> None:
    response = agent_api.patch(
        _url(ticket), {"title": "Renamed"}, format="json", HTTP_IF_MATCH=if_match
    )
    assert response.status_code == 400
    assert "is not an entity tag of a ticket" in response.json()["If-Match"][0]
    ticket.refresh_from_db()
    assert ticket.title == "Printer on fire"


def test_no_if_match_checks_nothing(agent_api: APIClient, ticket: Ticket, agent: User) -> None:
    services.comment_create(ticket=ticket, author=agent, body="Meanwhile")
    response = agent_api.patch(_url(ticket), {"title": "Renamed"}, format="json")
    assert response.status_code == 200
    assert response.data["version"] == 3


def test_transition_and_assign_honour_if_match(
    agent_api: APIClient, ticket: Ticket, agent: User, stages: dict[str, Stage]
) -> None:
    stale = agent_api.post(
        _url(ticket, "transition"), {"stage": stages["Open"].pk}, format="json", HTTP_IF_MATCH='"7"'
    )
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 1
    moved = agent_api.post(
        _url(ticket, "transition"), {"stage": stages["Open"].pk}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert moved.status_code == 200
    assert moved["ETag"] == '"2"'

    stale = agent_api.post(
        _url(ticket, "assign"), {"assignee": agent.pk}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert stale.status_code == 412
    assert Ticket.objects.get(pk=ticket.pk).assignee is None
    assigned = agent_api.post(
        _url(ticket, "assign"), {"assignee": agent.pk}, format="json", HTTP_IF_MATCH='"2"'
    )
    assert assigned.status_code == 200
    assert assigned.data["version"] == 3


def test_a_reply_on_a_ticket_that_got_a_new_comment_is_412(
    agent_api: APIClient, ticket: Ticket, requester: User
) -> None:
    loaded = agent_api.get(_url(ticket))["ETag"]
    services.comment_create(ticket=ticket, author=requester, body="Never mind, it works")
    response = agent_api.post(
        _url(ticket, "comments"), {"body": "Have you tried..."}, format="json", HTTP_IF_MATCH=loaded
    )
    assert response.status_code == 412
    assert response.json()["current_version"] == 2
    assert list(Comment.objects.values_list("body", flat=True)) == ["Never mind, it works"]
    again = agent_api.post(
        _url(ticket, "comments"), {"body": "Glad to hear"}, format="json", HTTP_IF_MATCH='"2"'
    )
    assert again.status_code == 201
    assert _version(ticket) == 3


def test_requesters_get_404_before_any_version_check(
    api_client: APIClient, ticket: Ticket, other_requester: User
) -> None:
    api_client.force_authenticate(other_requester)
    response = api_client.patch(_url(ticket), {"title": "x"}, format="json", HTTP_IF_MATCH='"9"')
    assert response.status_code == 404


def test_the_schema_documents_if_match_etag_412_and_the_new_fields(agent_api: APIClient) -> None:
    schema = agent_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    ticket = schema["components"]["schemas"]["Ticket"]["properties"]
    assert ticket["version"]["readOnly"] is True
    assert ticket["merged_into"]["nullable"] is True
    patch = schema["paths"]["/api/tickets/{key}/"]["patch"]
    assert "If-Match" in {p["name"] for p in patch["parameters"] if p["in"] == "header"}
    assert "412" in patch["responses"]
    assert "ETag" in patch["responses"]["200"]["headers"]
    assert "ETag" in schema["paths"]["/api/tickets/{key}/"]["get"]["responses"]["200"]["headers"]
    for action in ("transition", "assign", "comments"):
        post = schema["paths"][f"/api/tickets/{{key}}/{action}/"]["post"]
        assert "412" in post["responses"], action
        assert "If-Match" in {p["name"] for p in post["parameters"]}, action
