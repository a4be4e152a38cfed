"""Teams, routing rules and availability through their services and the admin: who may
change them, the one event each change records, and moving a ticket between teams."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.test import Client

from eventlog.models import EventLog
from nixflow import events, services
from nixflow.admin.teams import TeamMembershipInline
from nixflow.models import (
    AssignmentMode,
    Availability,
    Priority,
    RoutingRule,
    Team,
    Ticket,
    User,
)
from nixflow.toolkit.errors import ConflictError
from tests.core.admin_pages import fill_new_row, form_data, prefix, url
from tests.factories import AdminFactory, AgentFactory, RoutingRuleFactory, TeamFactory
from tests.helpers import history, new_ticket

pytestmark = pytest.mark.django_db


def _events(type: str) -> list[EventLog]:
    return list(EventLog.objects.filter(type=type).order_by("id"))


# --- Services -----------------------------------------------------------------------------
def test_an_admin_creates_a_team_with_members_and_one_event() -> None:
    admin, lead, member = AdminFactory(), AgentFactory(username="lea"), AgentFactory(username="mo")
    team = services.team_create(
        actor=admin,
        data={"name": " Tier 1 ", "assignment_mode": AssignmentMode.ROUND_ROBIN},
        members=[{"user": lead, "is_lead": True}, {"user": member, "is_lead": False}],
    )
    assert team.name == "Tier 1"
    assert set(team.members.all()) == {lead, member}
    [event] = _events(events.TEAM_CREATED)
    assert event.payload["members"] == [
        {"user_id": lead.pk, "username": "lea", "is_lead": True},
        {"user_id": member.pk, "username": "mo", "is_lead": False},
    ]
    assert event.payload["assignment_mode"] == "round_robin"


def test_agents_cannot_create_change_or_delete_teams() -> None:
    agent = AgentFactory()
    team = TeamFactory()
    with pytest.raises(PermissionDenied):
        services.team_create(actor=agent, data={"name": "Mine"})
    with pytest.raises(PermissionDenied):
        services.team_update(team=team, actor=agent, data={"name": "Mine"})
    with pytest.raises(PermissionDenied):
        services.team_delete(team=team, actor=agent)


def test_only_active_agents_join_a_team_and_each_once(requester: User) -> None:
    agent = AgentFactory()
    with pytest.raises(ValidationError, match="only agents join teams"):
        services.team_create(actor=None, data={"name": "X"}, members=[{"user": requester}])
    with pytest.raises(ValidationError, match="listed twice"):
        services.team_create(
            actor=None, data={"name": "X"}, members=[{"user": agent}, {"user": agent}]
        )


def test_a_second_default_team_or_a_name_in_another_case_is_refused() -> None:
    TeamFactory(name="Support", is_default=True)
    with pytest.raises(ValidationError):
        services.team_create(actor=None, data={"name": "Other", "is_default": True})
    with pytest.raises(ValidationError):
        services.team_create(actor=None, data={"name": "SUPPORT"})


def test_a_team_update_records_what_changed_in_fields_and_members() -> None:
    stay, leave, join = (
        AgentFactory(username="a"),
        AgentFactory(username="b"),
        AgentFactory(username="c"),
    )
    team = TeamFactory(members=[stay, leave], email="old@desk.test")
    services.team_update(
        team=team,
        actor=None,
        data={"max_open_per_agent": 5, "email": "new@desk.test"},
        members=[{"user": stay, "is_lead": True}, {"user": join}],
    )
    [event] = _events(events.TEAM_UPDATED)
    assert event.payload["fields"] == ["email", "max_open_per_agent"]
    assert event.payload["changes"] == {"max_open_per_agent": [None, 5]}  # no addresses
    assert [m["username"] for m in event.payload["members"]["added"]] == ["c"]
    assert [m["username"] for m in event.payload["members"]["removed"]] == ["b"]
    assert event.payload["members"]["changed"] == [
        {"user_id": stay.pk, "username": "a", "changes": {"is_lead": [False, True]}}
    ]


def test_an_update_that_changes_nothing_records_nothing() -> None:
    agent = AgentFactory()
    team = TeamFactory(name="Same", members=[agent])
    services.team_update(team=team, actor=None, data={"name": "Same"}, members=[{"user": agent}])
    assert _events(events.TEAM_UPDATED) == []


def test_a_team_with_tickets_is_not_deleted_but_an_empty_one_is_with_its_rules(
    requester: User,
) -> None:
    busy = TeamFactory(is_default=True)
    new_ticket(requester)
    with pytest.raises(ConflictError):
        services.team_delete(team=busy, actor=None)
    empty = TeamFactory(name="Empty")
    RoutingRuleFactory(team=empty, name="VIP")
    services.team_delete(team=empty, actor=None)
    assert not RoutingRule.objects.exists()
    [event] = _events(events.TEAM_DELETED)
    assert (event.payload["name"], event.payload["routing_rules"]) == ("Empty", ["VIP"])


def test_routing_rules_are_admins_and_each_change_is_an_event() -> None:
    team = TeamFactory()
    with pytest.raises(PermissionDenied):
        services.routing_rule_create(actor=AgentFactory(), data={"name": "R", "team": team})
    rule = services.routing_rule_create(
        actor=AdminFactory(),
        data={"name": "Acme", "team": team, "requester_domain": " @Acme.Example "},
    )
    assert rule.requester_domain == "acme.example"
    services.routing_rule_update(rule=rule, actor=None, data={"priority": Priority.HIGH})
    services.routing_rule_delete(rule=rule, actor=None)
    created, updated, deleted = (
        _events(events.ROUTING_RULE_CREATED),
        _events(events.ROUTING_RULE_UPDATED),
        _events(events.ROUTING_RULE_DELETED),
    )
    assert created[0].payload["team"] == team.name
    assert updated[0].payload == {"fields": ["priority"], "changes": {"priority": ["", "HIGH"]}}
    assert deleted[0].payload["priority"] == "HIGH"


def test_agents_set_their_own_availability_and_admins_anyones() -> None:
    agent, colleague = AgentFactory(), AgentFactory()
    services.user_set_availability(user=agent, availability=Availability.AWAY, actor=agent)
    with pytest.raises(PermissionDenied):
        services.user_set_availability(user=colleague, availability=Availability.AWAY, actor=agent)
    services.user_set_availability(
        user=colleague, availability=Availability.AWAY, actor=AdminFactory()
    )
    assert User.objects.filter(availability=Availability.AWAY).count() == 2
    assert len(_events(events.USER_AVAILABILITY_CHANGED)) == 2


def test_requesters_have_no_availability(requester: User) -> None:
    with pytest.raises(PermissionDenied):
        services.user_set_availability(
            user=requester, availability=Availability.AWAY, actor=requester
        )
    with pytest.raises(ValidationError):
        services.user_set_availability(user=requester, availability=Availability.AWAY, actor=None)


def test_moving_a_ticket_to_another_team_writes_history_and_an_event(requester: User) -> None:
    first = TeamFactory(name="First", is_default=True)
    second = TeamFactory(name="Second")
    agent = AgentFactory()
    ticket = new_ticket(requester)
    moved = services.ticket_set_team(ticket=ticket, team=second, actor=agent)
    assert moved.team == second
    assert history(ticket)[-1] == ("team", "First", "Second")
    [event] = _events(events.TICKET_TEAM_CHANGED)
    assert event.payload["team_id"] == second.pk
    assert event.payload["previous_team_id"] == first.pk
    assert event.payload["routed"] is False
    assert event.actor_id == agent.pk


def test_requesters_cannot_move_tickets_between_teams(requester: User) -> None:
    ticket = new_ticket(requester)
    with pytest.raises(PermissionDenied):
        services.ticket_set_team(ticket=ticket, team=TeamFactory(), actor=requester)


def test_a_ticket_moved_to_a_round_robin_team_is_auto_assigned(requester: User) -> None:
    member = AgentFactory()
    team = TeamFactory(assignment_mode=AssignmentMode.ROUND_ROBIN, members=[member])
    ticket = new_ticket(requester)
    moved = services.ticket_set_team(ticket=ticket, team=team, actor=AgentFactory())
    assert moved.assignee == member


# --- Admin ---------------------------------------------------------------------------------
def test_agents_see_teams_but_cannot_change_them_nor_see_routing_rules(
    agent_client: Client,
) -> None:
    team = TeamFactory(name="Visible")
    assert "Visible" in agent_client.get(url("team_changelist")).content.decode()
    assert agent_client.get(url("team_add")).status_code == 403
    page = agent_client.post(url("team_change", team.pk), {"name": "Renamed"})
    assert page.status_code == 403
    assert agent_client.get(url("routingrule_changelist")).status_code == 403


def test_an_admin_adds_a_member_as_lead_in_the_admin_and_one_event_is_recorded(
    client: Client,
) -> None:
    admin = AdminFactory()
    lead = AgentFactory(username="lead")
    team = TeamFactory(name="Desk")
    client.force_login(admin)
    page = client.get(url("team_change", team.pk))
    data = form_data(page)
    fill_new_row(data, prefix(page, TeamMembershipInline), user=lead.pk, is_lead="on")
    data["assignment_mode"] = AssignmentMode.LEAST_OPEN
    response = client.post(url("team_change", team.pk), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    team.refresh_from_db()
    assert team.assignment_mode == AssignmentMode.LEAST_OPEN
    assert team.memberships.get().is_lead
    [event] = _events(events.TEAM_UPDATED)
    assert event.payload["fields"] == ["assignment_mode"]
    assert event.payload["members"]["added"][0]["is_lead"] is True
    assert not EventLog.objects.filter(type__startswith="admin.").exists()


def test_an_admin_orders_routing_rules_in_the_admin(client: Client) -> None:
    client.force_login(AdminFactory())
    team = TeamFactory()
    response = client.post(
        url("routingrule_add"),
        {"name": "Urgent first", "position": "1", "is_active": "on", "team": team.pk,
         "priority": Priority.URGENT, "source": "", "origin": "", "requester_domain": ""},
    )  # fmt: skip
    assert response.status_code == 302
    assert _events(events.ROUTING_RULE_CREATED)[0].payload["name"] == "Urgent first"


def test_an_agent_sets_themselves_away_from_the_team_list(
    agent_client: Client, agent: User
) -> None:
    listing = agent_client.get(url("team_changelist")).content.decode()
    assert "Set me away" in listing
    response = agent_client.post(
        url("team_availability"), {"availability": "away", "next": url("team_changelist")}
    )
    assert response.status_code == 302
    assert response["Location"] == url("team_changelist")
    agent.refresh_from_db()
    assert agent.availability == Availability.AWAY
    page = agent_client.get(url("team_availability")).content.decode()
    assert "Set me available" in page


def test_the_availability_page_sends_nobody_to_another_site(
    agent_client: Client, agent: User
) -> None:
    response = agent_client.post(
        url("team_availability"), {"availability": "away", "next": "https://evil.example/"}
    )
    assert response["Location"] == url("team_availability")


def test_teams_show_their_member_count(agent_client: Client) -> None:
    TeamFactory(name="Counted", members=[AgentFactory(), AgentFactory()])
    page = agent_client.get(url("team_changelist"))
    [team] = page.context["cl"].result_list
    assert isinstance(team, Team)
    assert team.member_count == 2  # type: ignore[attr-defined]


# --- Demo ----------------------------------------------------------------------------------
def test_seed_demo_creates_two_teams_a_rule_and_puts_every_demo_ticket_in_a_team(
    settings: Any, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", "--core-only", "--tickets", "20", stdout=out)
    assert "Demo teams created: Service desk (round-robin: alice, bob, priya)" in out.getvalue()
    desk, access = Team.objects.get(is_default=True), Team.objects.get(name="Access management")
    assert desk.memberships.get(is_lead=True).user.username == "alice"
    assert access.assignment_mode == AssignmentMode.LEAST_OPEN
    assert RoutingRule.objects.get().team == access
    assert not Ticket.objects.filter(team=None).exists()
    assert set(
        Ticket.objects.filter(workflow__name="Access requests").values_list("team", flat=True)
    ) <= {access.pk}
    call_command("seed_demo", "--core-only", "--tickets", "20", stdout=out)
    assert Team.objects.count() == 2
