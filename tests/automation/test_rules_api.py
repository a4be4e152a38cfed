"""/api/automation/rules/: agents read, admins write through the rule services (the
same event as the admin for the same change), the engine's validators answer with the
row's index, ``version`` is the server's, and the schema describes conditions and
actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from automation.models import Rule
from eventlog.models import EventLog
from nixflow.models import User
from tests.factories import AdminFactory, TeamFactory

pytestmark = pytest.mark.django_db

RULES = "/api/automation/rules/"


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def boss(db: None) -> User:
    return AdminFactory.create(username="boss")


def vip_rule(team_id: int, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "VIP to Tier 2",
        "trigger": "ticket_created",
        "conditions": [{"field": "requester_domain", "op": "is", "value": "VIP.example"}],
        "actions": [
            {"type": "set_team", "team": team_id},
            {"type": "set_priority", "priority": "HIGH"},
        ],
        **overrides,
    }


def test_an_admin_creates_a_rule_that_starts_disabled_at_version_one(boss: User) -> None:
    team = TeamFactory.create(name="Tier 2")

    response = client_for(boss).post(RULES, vip_rule(team.pk, version=9), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["is_active"], body["version"]) == (False, 1)
    assert body["actions"] == [
        {"type": "set_team", "team": team.pk},
        {"type": "set_priority", "priority": "HIGH"},
    ]
    rule = Rule.objects.get(pk=body["id"])
    assert rule.created_by == boss
    assert EventLog.objects.filter(type="automation_rule.created", actor=boss).count() == 1


def test_an_update_adds_one_to_the_version_and_records_the_change(boss: User) -> None:
    team = TeamFactory.create()
    rule_id = client_for(boss).post(RULES, vip_rule(team.pk), format="json").json()["id"]

    response = client_for(boss).patch(
        f"{RULES}{rule_id}/", {"is_active": True, "version": 40}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["is_active"], response.json()["version"]) == (True, 2)
    event = EventLog.objects.get(type="automation_rule.updated")
    assert event.payload["fields"] == ["is_active"]


def test_a_wrong_condition_or_action_is_a_400_naming_its_row(boss: User) -> None:
    team = TeamFactory.create()
    data = vip_rule(
        team.pk,
        conditions=[
            {"field": "priority", "op": "is", "value": "HIGH"},
            {"field": "priority", "op": "contains", "value": "H"},
        ],
    )
    refused = client_for(boss).post(RULES, data, format="json")
    no_stage = client_for(boss).post(
        RULES, vip_rule(team.pk, actions=[{"type": "set_stage", "stage": 999_999}]), format="json"
    )

    assert refused.status_code == 400
    assert refused.json()["conditions"][0].startswith("Condition 2:")
    assert no_stage.status_code == 400
    assert no_stage.json()["actions"][0].startswith("Action 1")
    huge = client_for(boss).post(
        RULES, vip_rule(team.pk, actions=[{"type": "set_stage", "stage": 2**70}]), format="json"
    )
    assert huge.status_code == 400
    assert huge.json()["actions"] == ["Action 1: stage is an id (a whole number from 1)."]
    odd = client_for(boss).post(
        RULES, vip_rule(team.pk, actions=[{"type": {}, "endpoint": 1}]), format="json"
    )
    assert odd.status_code == 400
    assert odd.json()["actions"][0].startswith("Action 1: unknown type")
    nul = client_for(boss).post(
        RULES, vip_rule(team.pk, actions=[{"type": "add_note", "body": "a\x00b"}]), format="json"
    )
    assert nul.status_code == 400
    assert nul.json() == {"actions": ["Null characters are not allowed."]}
    # What the schema calls wrong is not read loosely (the engine would take "high").
    loose = client_for(boss).post(
        RULES,
        vip_rule(team.pk, actions=[{"type": "set_priority", "priority": "high"}]),
        format="json",
    )
    assert loose.json() == {"actions": ["Action 1: priority is one of LOW, NORMAL, HIGH, URGENT."]}
    assert not Rule.objects.exists()


def test_a_name_taken_is_refused(boss: User) -> None:
    team = TeamFactory.create()
    client_for(boss).post(RULES, vip_rule(team.pk), format="json")

    again = client_for(boss).post(RULES, vip_rule(team.pk), format="json")

    assert again.status_code in {400, 409}
    assert Rule.objects.count() == 1


def test_a_rule_sent_again_under_its_own_name_is_not_a_name_taken(boss: User) -> None:
    team = TeamFactory.create()
    rule_id = client_for(boss).post(RULES, vip_rule(team.pk), format="json").json()["id"]

    response = client_for(boss).put(
        f"{RULES}{rule_id}/", vip_rule(team.pk, description="Whole again."), format="json"
    )

    assert response.status_code == 200, response.content
    assert Rule.objects.get(pk=rule_id).description == "Whole again."


def test_delete_goes_through_the_service(boss: User) -> None:
    team = TeamFactory.create()
    rule_id = client_for(boss).post(RULES, vip_rule(team.pk), format="json").json()["id"]

    response = client_for(boss).delete(f"{RULES}{rule_id}/")

    assert response.status_code == 204
    assert not Rule.objects.exists()
    assert EventLog.objects.filter(type="automation_rule.deleted").count() == 1


def test_rules_are_listed_in_the_order_they_run(boss: User) -> None:
    Rule.objects.create(name="b", trigger="ticket_updated", position=0)
    Rule.objects.create(name="c", trigger="ticket_created", position=2)
    Rule.objects.create(name="a", trigger="ticket_created", position=1)

    response = client_for(boss).get(RULES)

    assert [r["name"] for r in response.json()] == ["a", "c", "b"]


@pytest.mark.parametrize(
    ("who", "read", "write"),
    [("agent", 200, 403), ("requester", 403, 403), (None, 401, 401)],
)
def test_agents_read_requesters_and_anonymous_get_nothing(
    who: str | None, read: int, write: int, agent: User, requester: User
) -> None:
    rule = Rule.objects.create(name="r", trigger="ticket_created")
    user = {"agent": agent, "requester": requester, None: None}[who]
    client = client_for(user)

    assert client.get(RULES).status_code == read
    assert client.get(f"{RULES}{rule.pk}/").status_code == read
    assert client.post(RULES, {"name": "x", "trigger": "time"}, format="json").status_code == write
    assert client.patch(f"{RULES}{rule.pk}/", {"name": "y"}, format="json").status_code == write
    assert client.delete(f"{RULES}{rule.pk}/").status_code == write
    assert Rule.objects.get().name == "r"


def test_the_api_and_the_admin_record_the_same_event_for_the_same_change(
    boss: User, client: Client
) -> None:
    team = TeamFactory.create(name="Tier 2")
    client.force_login(boss)
    through_api = client_for(boss).post(RULES, vip_rule(team.pk), format="json").json()
    form = {
        "name": "VIP to Tier 2 (admin)",
        "trigger": "ticket_created",
        "match": "all",
        "position": "0",
        "conditions-TOTAL_FORMS": "1",
        "conditions-INITIAL_FORMS": "0",
        "conditions-0-field": "requester_domain",
        "conditions-0-op": "is",
        "conditions-0-value": "VIP.example",
        "actions-TOTAL_FORMS": "2",
        "actions-INITIAL_FORMS": "0",
        "actions-0-type": "set_team",
        "actions-0-team": str(team.pk),
        "actions-1-type": "set_priority",
        "actions-1-priority": "HIGH",
    }
    assert client.post("/admin/automation/rule/add/", form).status_code == 302
    through_admin = Rule.objects.get(name="VIP to Tier 2 (admin)")

    client_for(boss).patch(f"{RULES}{through_api['id']}/", {"is_active": True}, format="json")
    client.post(
        "/admin/automation/rule/",
        {"action": "enable_rules", "_selected_action": [str(through_admin.pk)]},
    )

    created = EventLog.objects.filter(type="automation_rule.created").order_by("id")
    api_event, admin_event = [e.payload for e in created]
    assert {**api_event, "name": ""} == {**admin_event, "name": ""}
    updated = EventLog.objects.filter(type="automation_rule.updated").order_by("id")
    first, second = [e.payload for e in updated]
    assert first == second
    assert {e.subject_id for e in updated} == {str(through_api["id"]), str(through_admin.pk)}


def test_the_schema_describes_conditions_actions_and_dry_runs(boss: User) -> None:
    schema = client_for(boss).get("/api/schema/?format=json").json()
    paths = schema["paths"]

    assert {"/api/automation/rules/", "/api/automation/rules/{id}/"} <= set(paths)
    assert "post" in paths["/api/automation/rules/dry-run/"]
    assert "post" in paths["/api/automation/rules/{id}/dry-run/"]
    write = schema["components"]["schemas"]["RuleWriteRequest"]["properties"]
    condition = write["conditions"]["items"]
    assert condition["required"] == ["field", "op"]
    assert "not_contains" in condition["properties"]["op"]["enum"]
    variants = {v["title"]: v for v in write["actions"]["items"]["oneOf"]}
    assert variants["call_webhook"]["required"] == ["type", "endpoint"]
    assert variants["send_mail"]["properties"]["to"]["enum"] == [
        "requester",
        "assignee",
        "team",
        "address",
    ]
    assert write["actions"]["minItems"] == 1
    assert "version" not in write
