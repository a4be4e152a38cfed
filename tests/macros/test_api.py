"""The macros API: scoped CRUD and POST /api/tickets/{key}/apply_macro/."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from macros.models import Macro, Scope
from nixflow import services as core
from nixflow.models import Comment, Stage, Team, Ticket, User
from tests.factories import AgentFactory
from tests.helpers import as_user, new_ticket
from tests.macros.conftest import make_macro

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(requester: User) -> Ticket:
    return new_ticket(requester, title="VPN drops")


@pytest.fixture
def api(agent: User) -> APIClient:
    return as_user(APIClient(), agent)


def apply_url(ticket: Ticket) -> str:
    return f"/api/tickets/{ticket.key}/apply_macro/"


# --- /api/macros/ ---------------------------------------------------------------------------
def test_agents_list_what_they_may_use(api: APIClient, agent: User, team: Team, lead: User) -> None:
    mine = make_macro(agent, scope=Scope.PERSONAL, name="Mine")
    make_macro(lead, scope=Scope.PERSONAL, name="Lead's own")
    team_macro = make_macro(lead, scope=Scope.TEAM, owner_team=team, name="Team")
    response = api.get("/api/macros/")
    assert response.status_code == 200
    names = [row["name"] for row in response.json()["results"]]
    assert names == ["Mine", "Team"]
    row = api.get(f"/api/macros/{mine.pk}/").json()
    assert row["scope"] == "personal"
    assert row["owner"] == agent.pk
    assert api.get(f"/api/macros/{team_macro.pk + 100}/").status_code == 404


def test_an_agent_creates_a_personal_macro_and_is_its_owner(api: APIClient, agent: User) -> None:
    response = api.post(
        "/api/macros/",
        {"name": "Thanks", "body": "Thanks {{ requester.first_name }}", "scope": "personal"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["owner"] == agent.pk
    again = api.post(
        "/api/macros/", {"name": "thanks", "body": "x", "scope": "personal"}, format="json"
    )
    assert again.status_code == 409
    assert again.json() == {"detail": "You have a personal macro with this name already."}


def test_bad_bodies_are_a_400_naming_what_is_refused(api: APIClient) -> None:
    response = api.post(
        "/api/macros/", {"name": "Bad", "body": "{{ settings.SECRET_KEY }}"}, format="json"
    )
    assert response.status_code == 400
    assert "Unknown placeholder {{ settings.SECRET_KEY }}" in response.json()["body"][0]
    response = api.post("/api/macros/", {"name": "Bad", "body": "{% load i18n %}"}, format="json")
    assert "{% load %} is not allowed" in response.json()["body"][0]


def test_json_types_are_strict(api: APIClient) -> None:
    response = api.post(
        "/api/macros/", {"name": "X", "body": "y", "is_internal": "yes"}, format="json"
    )
    assert response.status_code == 400
    assert "is_internal" in response.json()


def test_scope_rules_are_403s(api: APIClient, agent: User, desk_admin: User) -> None:
    response = api.post(
        "/api/macros/", {"name": "G", "body": "x", "scope": "global"}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Only admins can create global macros."}
    global_macro = make_macro(desk_admin)
    response = api.patch(f"/api/macros/{global_macro.pk}/", {"name": "Mine now"}, format="json")
    assert response.status_code == 403
    assert api.delete(f"/api/macros/{global_macro.pk}/").status_code == 403
    admin_api = as_user(APIClient(), desk_admin)
    assert (
        admin_api.patch(
            f"/api/macros/{global_macro.pk}/", {"name": "Renamed"}, format="json"
        ).json()["name"]
        == "Renamed"
    )
    assert admin_api.delete(f"/api/macros/{global_macro.pk}/").status_code == 204


def test_requesters_get_403_on_macros(requester: User) -> None:
    client = as_user(APIClient(), requester)
    assert client.get("/api/macros/").status_code == 403
    assert client.post("/api/macros/", {"name": "x", "body": "y"}, format="json").status_code == 403


# --- apply_macro -----------------------------------------------------------------------------
def test_apply_answers_the_ticket_the_comment_and_the_changes(
    api: APIClient, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    macro = make_macro(
        body="Hi {{ requester.first_name }} — {{ custom }}",
        set_stage=stages["Waiting on requester"],
        add_tags=["vpn"],
    )
    response = api.post(
        apply_url(ticket), {"macro": macro.pk, "custom": "try again now"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["comment"]["body"] == "Hi Ada — try again now"
    assert body["ticket"]["key"] == ticket.key
    assert body["changes"] == ["Stage: Waiting on requester", "Tags added: vpn"]
    assert Ticket.objects.get(pk=ticket.pk).stage == stages["Waiting on requester"]
    assert Macro.objects.get(pk=macro.pk).usage_count == 1


def test_apply_with_an_edited_body(api: APIClient, ticket: Ticket) -> None:
    macro = make_macro()
    response = api.post(apply_url(ticket), {"macro": macro.pk, "body": "Edited"}, format="json")
    assert response.status_code == 200
    assert Comment.objects.get(ticket=ticket).body == "Edited"
    blank = api.post(apply_url(ticket), {"macro": macro.pk, "body": "  "}, format="json")
    assert blank.status_code == 400


def test_a_forbidden_transition_is_a_409_with_the_cores_message(
    api: APIClient, agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    core.ticket_transition(ticket=ticket, to_stage=stages["Closed"], actor=agent)
    manual = api.post(
        f"/api/tickets/{ticket.key}/transition/",
        {"stage": stages["Waiting on requester"].pk},
        format="json",
    )
    macro = make_macro(set_stage=stages["Waiting on requester"])
    response = api.post(apply_url(ticket), {"macro": macro.pk}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"].startswith(f"{ticket.key} cannot move from 'Closed'")
    assert manual.status_code == 409
    assert response.json() == manual.json()
    assert not Comment.objects.filter(ticket=ticket).exists()


def test_a_macro_the_agent_may_not_use_is_a_400(api: APIClient, ticket: Ticket) -> None:
    theirs = make_macro(AgentFactory(), scope=Scope.PERSONAL)
    response = api.post(apply_url(ticket), {"macro": theirs.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"macro": [f'No macro "{theirs.pk}" that you may use.']}
    assert api.post(apply_url(ticket), {"macro": "1"}, format="json").status_code == 400
    assert api.post(apply_url(ticket), {}, format="json").status_code == 400


def test_requesters_get_404_for_others_tickets_and_403_for_their_own(
    ticket: Ticket, requester: User, other_requester: User
) -> None:
    macro = make_macro()
    other = as_user(APIClient(), other_requester)
    response = other.post(apply_url(ticket), {"macro": macro.pk}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such ticket."}
    own = as_user(APIClient(), requester).post(
        apply_url(ticket), {"macro": macro.pk}, format="json"
    )
    assert own.status_code == 403
    assert not Comment.objects.filter(ticket=ticket).exists()


def test_an_unknown_ticket_is_a_404(api: APIClient) -> None:
    macro = make_macro()
    response = api.post("/api/tickets/NF-999999/apply_macro/", {"macro": macro.pk}, format="json")
    assert response.status_code == 404


def test_anonymous_callers_get_401(ticket: Ticket) -> None:
    assert APIClient().post(apply_url(ticket), {"macro": 1}, format="json").status_code == 401
    assert APIClient().get("/api/macros/").status_code == 401


def test_the_schema_documents_the_endpoints(api: APIClient) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/tickets/{key}/apply_macro/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])
    assert "/api/macros/" in schema["paths"]
