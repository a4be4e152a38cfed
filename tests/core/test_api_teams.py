"""The teams API: agents read teams, admins change them (members with the lead flag,
assignment mode, cap) and the routing rules; agents set their availability on /api/me/;
tickets are listed by team."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow import events
from nixflow.models import Availability, RoutingRule, Team, User
from tests.factories import AgentFactory, RoutingRuleFactory, TeamFactory
from tests.helpers import new_ticket

pytestmark = pytest.mark.django_db


def test_tickets_are_filtered_by_team(agent_api: APIClient, requester: User) -> None:
    team = TeamFactory(is_default=True)
    mine = new_ticket(requester)
    Team.objects.filter(pk=team.pk).update(is_default=False)
    new_ticket(requester)
    response = agent_api.get(f"/api/tickets/?team={team.pk}")
    assert response.status_code == 200
    assert [row["key"] for row in response.json()["results"]] == [mine.key]


def test_an_agent_moves_a_ticket_to_another_team_with_patch(
    agent_api: APIClient, requester_api: APIClient, requester: User, agent: User
) -> None:
    network = TeamFactory(name="Network")
    ticket = new_ticket(requester)

    response = agent_api.patch(f"/api/tickets/{ticket.key}/", {"team": network.pk}, format="json")

    assert response.status_code == 200
    assert response.json()["team"] == {"id": network.pk, "name": "Network"}
    moved = EventLog.objects.get(type=events.TICKET_TEAM_CHANGED, subject_id=str(ticket.pk))
    assert (moved.payload["team_id"], moved.actor_id) == (network.pk, agent.pk)
    refused = requester_api.patch(f"/api/tickets/{ticket.key}/", {"team": None}, format="json")
    assert refused.status_code == 403
    cleared = agent_api.patch(f"/api/tickets/{ticket.key}/", {"team": None}, format="json")
    assert cleared.json()["team"] is None


def test_agents_list_teams_with_members_and_leads(agent_api: APIClient) -> None:
    lead = AgentFactory(username="lea")
    team = TeamFactory(name="Tier 1", assignment_mode="round_robin", max_open_per_agent=3)
    team.memberships.create(user=lead, is_lead=True)
    [row] = agent_api.get("/api/teams/").json()
    assert (row["name"], row["assignment_mode"], row["max_open_per_agent"]) == (
        "Tier 1",
        "round_robin",
        3,
    )
    assert row["members"] == [
        {"user": lead.pk, "username": "lea", "is_lead": True, "last_assigned_at": None}
    ]
    assert agent_api.get(f"/api/teams/{team.pk}/").status_code == 200


def test_agents_and_requesters_cannot_change_teams(
    agent_api: APIClient, requester_api: APIClient
) -> None:
    team = TeamFactory()
    assert agent_api.post("/api/teams/", {"name": "X"}, format="json").status_code == 403
    assert agent_api.patch(f"/api/teams/{team.pk}/", {"name": "X"}).status_code == 403
    assert agent_api.delete(f"/api/teams/{team.pk}/").status_code == 403
    assert requester_api.get("/api/teams/").status_code == 403
    assert APIClient().get("/api/teams/").status_code == 401


def test_an_admin_creates_and_changes_a_team_with_members(admin_api: APIClient) -> None:
    a, b = AgentFactory(), AgentFactory()
    response = admin_api.post(
        "/api/teams/",
        {
            "name": "Billing",
            "assignment_mode": "least_open",
            "max_open_per_agent": 10,
            "members": [{"user": a.pk, "is_lead": True}, {"user": b.pk}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    team_id = response.json()["id"]
    assert {m["user"]: m["is_lead"] for m in response.json()["members"]} == {
        a.pk: True,
        b.pk: False,
    }
    response = admin_api.patch(
        f"/api/teams/{team_id}/", {"members": [{"user": b.pk, "is_lead": True}]}, format="json"
    )
    assert response.status_code == 200
    assert [(m["user"], m["is_lead"]) for m in response.json()["members"]] == [(b.pk, True)]
    assert len(EventLog.objects.filter(type=events.TEAM_UPDATED)) == 1


def test_a_requester_cannot_be_made_a_member(admin_api: APIClient, requester: User) -> None:
    response = admin_api.post(
        "/api/teams/", {"name": "X", "members": [{"user": requester.pk}]}, format="json"
    )
    assert response.status_code == 400


def test_a_team_with_tickets_cannot_be_deleted_409(admin_api: APIClient, requester: User) -> None:
    team = TeamFactory(is_default=True)
    new_ticket(requester)
    assert admin_api.delete(f"/api/teams/{team.pk}/").status_code == 409


def test_routing_rules_are_for_admins_only(admin_api: APIClient, agent_api: APIClient) -> None:
    team = TeamFactory()
    RoutingRuleFactory(team=team, position=5, name="Later")
    assert agent_api.get("/api/routing-rules/").status_code == 403
    response = admin_api.post(
        "/api/routing-rules/",
        {"name": "First", "position": 1, "team": team.pk, "priority": "URGENT"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert [r["name"] for r in admin_api.get("/api/routing-rules/").json()] == ["First", "Later"]
    rule_id = response.json()["id"]
    assert (
        admin_api.patch(f"/api/routing-rules/{rule_id}/", {"is_active": False}).json()["is_active"]
        is False
    )
    assert admin_api.delete(f"/api/routing-rules/{rule_id}/").status_code == 204
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["Later"]


def test_me_shows_and_sets_the_availability(agent_api: APIClient, agent: User) -> None:
    assert agent_api.get("/api/me/").json()["availability"] == "available"
    response = agent_api.patch("/api/me/", {"availability": "away"}, format="json")
    assert response.status_code == 200
    assert response.json()["availability"] == "away"
    agent.refresh_from_db()
    assert agent.availability == Availability.AWAY
    assert agent_api.patch("/api/me/", {"availability": "gone"}, format="json").status_code == 400


def test_requesters_have_no_availability_to_set(requester_api: APIClient) -> None:
    assert requester_api.get("/api/me/").status_code == 200
    response = requester_api.patch("/api/me/", {"availability": "away"}, format="json")
    assert response.status_code == 403
