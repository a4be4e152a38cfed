"""A rule's page names what the rule names: the team, agent, stage, workflow, custom field
and webhook endpoint a condition or action refers to by id are shown by name and linked,
also once deleted ("deleted team #7"), in a number of queries that does not grow with
the rule; and the page's own labels (triggers, match, time units, field names) are in
the agent's language."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from automation.models import Rule
from nixflow.models import Stage, Team, TicketField, User
from tests.automation.conftest import MakeRule
from tests.automation.test_rules_admin import change_url, form_errors, form_of
from tests.factories import AgentFactory, TeamFactory, UserFactory
from webhooks import services as webhook_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def named(boss: User) -> dict[str, Any]:
    agent = AgentFactory.create(username="kim", first_name="Kim", last_name="Lee")
    team = TeamFactory.create(name="Tier 2")
    stage = Stage.objects.filter(category="WAITING").select_related("workflow").first()
    assert stage is not None
    field = TicketField.objects.create(name="owner", label="Account owner", type="user")
    endpoint, _ = webhook_services.endpoint_create(
        actor=boss, data={"name": "CRM", "url": "https://crm.example/hook", "event_types": ["*"]}
    )
    return {
        "agent": agent,
        "team": team,
        "stage": stage,
        "field": field,
        "endpoint": endpoint,
    }


def naming_rule(make_rule: MakeRule, named: dict[str, Any], **fields: Any) -> Rule:
    stage, team, agent = named["stage"], named["team"], named["agent"]
    return make_rule(
        "ticket_created",
        [
            {"type": "set_team", "team": team.pk},
            {"type": "set_assignee", "assignee": agent.pk},
            {"type": "set_stage", "stage": stage.pk},
            {"type": "call_webhook", "endpoint": named["endpoint"].pk},
            {"type": "set_field", "field": "owner", "value": agent.pk},
        ],
        [
            {"field": "team", "op": "is", "value": team.pk},
            {"field": "stage", "op": "in", "value": [stage.pk]},
            {"field": "workflow", "op": "is", "value": stage.workflow_id},
            {"field": "assignee", "op": "is", "value": agent.pk},
            {"field": "field.owner", "op": "is", "value": agent.pk},
        ],
        **fields,
    )


def read_view(client: Client, rule: Rule) -> str:
    """The rule's page as an agent reads it: its conditions and actions in words."""
    client.force_login(AgentFactory.create(username="reader"))
    response = client.get(change_url(rule))
    assert response.status_code == 200
    return response.content.decode()


def test_an_agent_reads_the_names_of_what_a_rule_names_linked_to_their_pages(
    client: Client, make_rule: MakeRule, named: dict[str, Any]
) -> None:
    rule = naming_rule(make_rule, named)
    stage, team, agent = named["stage"], named["team"], named["agent"]
    stage_name = f"{stage.workflow.name}: {stage.name}"

    page = read_view(client, rule)

    team_link = f'<a href="/admin/nixflow/team/{team.pk}/change/">Tier 2</a>'
    agent_link = f'<a href="/admin/nixflow/user/{agent.pk}/change/">Kim Lee</a>'
    workflow_url = f"/admin/nixflow/workflow/{stage.workflow_id}/change/"
    assert f"Team is {team_link}" in page
    assert f'Stage is one of <a href="{workflow_url}">{stage_name}</a>' in page
    assert f'Workflow is <a href="{workflow_url}">{stage.workflow.name}</a>' in page
    assert f"Assignee is {agent_link}" in page
    assert f"Account owner is {agent_link}" in page
    assert f"Set team (team: {team_link})" in page
    assert f"Assign to (agent: {agent_link})" in page
    assert f'Move to stage (stage: <a href="{workflow_url}">{stage_name}</a>)' in page
    endpoint = named["endpoint"]
    assert f'(webhook endpoint: <a href="/admin/webhooks/endpoint/{endpoint.pk}/change/">' in page
    assert f"Set custom field (custom field: Account owner, value: {agent_link})" in page
    # No id stands alone where a name belongs.
    assert f"team: {team.pk})" not in page
    assert f"is {team.pk}<" not in page


def test_what_was_deleted_since_is_said_to_be_deleted_with_its_id(
    client: Client, make_rule: MakeRule, named: dict[str, Any]
) -> None:
    rule = naming_rule(make_rule, named)
    team_id, agent_id, stage = named["team"].pk, named["agent"].pk, named["stage"]
    endpoint_id = named["endpoint"].pk
    Team.objects.filter(pk=team_id).delete()
    User.objects.filter(pk=agent_id).update(is_active=False)
    named["endpoint"].delete()
    named["field"].delete()

    page = read_view(client, rule)

    assert f"Team is deleted team #{team_id}" in page
    assert f"Set team (team: deleted team #{team_id})" in page
    assert f"webhook endpoint: deleted webhook endpoint #{endpoint_id})" in page
    assert "Kim Lee (inactive)</a>" in page
    assert "deleted custom field owner is" in page
    assert f"{stage.workflow.name}: {stage.name}" in page  # what still exists is named


def test_the_rows_keep_a_deleted_team_by_name_and_saving_them_refuses_it_not_drops_it(
    admin_client: Client, make_rule: MakeRule, named: dict[str, Any]
) -> None:
    rule = naming_rule(make_rule, named)
    team_id = named["team"].pk
    Team.objects.filter(pk=team_id).delete()
    User.objects.filter(pk=named["agent"].pk).update(is_active=False)

    page = admin_client.get(change_url(rule)).content.decode()
    shown = form_of(page)

    assert f'<option value="{team_id}" selected>deleted team #{team_id}</option>' in page
    assert f'value="team={team_id}" selected>deleted team #{team_id}</option>' in page
    assert f'value="{named["agent"].pk}" selected>Kim Lee (inactive)</option>' in page
    assert shown["actions-0-team"] == str(team_id)
    assert shown["conditions-0-value_choice"] == f"team={team_id}"

    response = admin_client.post(change_url(rule), shown)

    # The engine refuses the gone team, naming the row; the rule is not quietly changed
    # to "no team" or "unassign".
    assert response.status_code == 200, form_errors(response)
    assert f"Condition 1: no team has the id {team_id}." in response.content.decode()
    rule.refresh_from_db()
    assert rule.version == 1
    assert rule.actions[0] == {"type": "set_team", "team": team_id}


def test_a_list_of_ids_written_as_text_is_named_under_its_row(
    admin_client: Client, make_rule: MakeRule, named: dict[str, Any]
) -> None:
    other = TeamFactory.create(name="Billing")
    rule = make_rule(
        "ticket_created",
        [{"type": "set_priority", "priority": "HIGH"}],
        [{"field": "team", "op": "in", "value": [named["team"].pk, other.pk]}],
    )
    Team.objects.filter(pk=other.pk).delete()

    page = admin_client.get(change_url(rule)).content.decode()

    assert form_of(page)["conditions-0-value"] == f"{named['team'].pk}, {other.pk}"
    assert f"{named['team'].pk}: Tier 2, {other.pk}: deleted team #{other.pk}" in page


def test_a_requester_typed_as_an_id_stays_typed_and_is_named_under_its_row(
    admin_client: Client, make_rule: MakeRule, named: dict[str, Any]
) -> None:
    requester = UserFactory.create(username="rita", first_name="Rita", last_name="Ray")
    rule = make_rule(
        "ticket_created",
        [{"type": "set_priority", "priority": "HIGH"}],
        [
            {"field": "requester", "op": "is", "value": requester.pk},
            {"field": "field.owner", "op": "is", "value": named["agent"].pk},
        ],
    )

    page = admin_client.get(change_url(rule)).content.decode()
    shown = form_of(page)

    # No list of requesters to pick from: the id stays in the text box, so a new row on
    # the same field can still be typed, and the name is said under the row.
    assert shown["conditions-0-value"] == str(requester.pk)
    assert shown["conditions-0-value_choice"] == ""
    assert f"{requester.pk}: Rita Ray" in page
    assert f"{named['agent'].pk}: Kim Lee" in page
    assert f'value="requester={requester.pk}"' not in page


def _queries(client: Client, rule: Rule) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(change_url(rule)).status_code == 200
    return len(queries)


@pytest.mark.parametrize("reader", ["admin", "agent"])
def test_the_rule_page_s_queries_do_not_grow_with_its_conditions_and_actions(
    client: Client, make_rule: MakeRule, named: dict[str, Any], reader: str
) -> None:
    teams = [TeamFactory.create(name=f"Team {n}") for n in range(8)]
    agents = [AgentFactory.create(username=f"agent-{n}") for n in range(8)]
    small = naming_rule(make_rule, named)
    big = make_rule(
        "ticket_created",
        [
            *small.actions,
            *({"type": "set_team", "team": t.pk} for t in teams),
            *({"type": "set_assignee", "assignee": a.pk} for a in agents),
        ],
        [
            *small.conditions,
            *({"field": "team", "op": "is", "value": t.pk} for t in teams),
            *({"field": "assignee", "op": "in", "value": [a.pk]} for a in agents),
        ],
        match="any",
    )
    viewer = AgentFactory.create(username="viewer") if reader == "agent" else None
    client.force_login(viewer or User.objects.get(username="boss"))
    _queries(client, small)  # the first request warms the session and caches

    assert _queries(client, big) == _queries(client, small)


@pytest.fixture
def admin_client(client: Client, boss: User) -> Client:
    client.force_login(boss)
    return client


def test_a_german_agent_reads_the_rule_page_in_german(
    client: Client, make_rule: MakeRule, named: dict[str, Any]
) -> None:
    rule = make_rule(
        "time",
        [{"type": "set_team", "team": named["team"].pk}],
        [{"field": "team", "op": "is", "value": named["team"].pk}],
        time_basis="stage_entered",
        time_amount=3,
        time_unit="days",
        match="any",
    )
    Team.objects.filter(pk=named["team"].pk).delete()
    agent = AgentFactory.create(username="anke", language="de")
    client.force_login(agent)

    page = client.get(change_url(rule)).content.decode()
    listed = client.get("/admin/automation/rule/").content.decode()

    for german in (
        "Zeit verstrichen (regelmäßig geprüft)",
        "Mindestens eine Bedingung",
        "Eintritt in seine aktuelle Phase",
        ">Tage<",
        "Auslöser",
        "Verarbeitung beenden",
        f"gelöschtes Team #{named['team'].pk}",
    ):
        assert german in page, german
    assert "Time passed" not in page
    assert ">Days<" not in page
    assert "Regeln" in listed
    assert "Automatisierung" in listed
    assert "Zeit verstrichen (regelmäßig geprüft)" in listed
