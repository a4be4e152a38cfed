"""The macros admin: agents list, add and change what they may; the preview; the
ticket list's action bar offers the macro choice."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from macros.models import Macro, Scope
from nixflow.models import Team, User
from tests.factories import AgentFactory
from tests.macros.conftest import make_macro

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:macros_macro_changelist"
ADD = "admin:macros_macro_add"
CHANGE = "admin:macros_macro_change"


@pytest.fixture
def agent_client(client: Client, agent: User) -> Client:
    client.force_login(agent)
    return client


def test_the_list_shows_an_agent_the_macros_they_may_use(
    agent_client: Client, agent: User, team: Team, lead: User
) -> None:
    make_macro(agent, scope=Scope.PERSONAL, name="My greeting")
    make_macro(lead, scope=Scope.TEAM, owner_team=team, name="Billing refund")
    make_macro(AgentFactory(), scope=Scope.PERSONAL, name="Someone else's")
    make_macro(name="Everyone's")
    response = agent_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("My greeting", "Billing refund", "Everyone&#x27;s"):
        assert name in page
    assert "Someone else" not in page
    assert "Team (Billing)" in page


def test_an_agent_adds_a_personal_macro(agent_client: Client, agent: User) -> None:
    page = agent_client.get(reverse(ADD))
    assert page.status_code == 200
    assert 'name="owner"' not in page.content.decode()
    response = agent_client.post(
        reverse(ADD),
        {
            "name": "Reset",
            "body": "Hi {{ requester.first_name }}, reset done.",
            "scope": "personal",
            "assignment": "",
            "add_tags": "vpn, reset",
            "remove_tags": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    macro = Macro.objects.get(name="Reset")
    assert macro.owner == agent
    assert macro.add_tags == ["vpn", "reset"]


def test_a_refused_body_is_shown_on_the_form(agent_client: Client) -> None:
    response = agent_client.post(
        reverse(ADD),
        {"name": "Bad", "body": "{{ settings }}", "scope": "personal", "assignment": ""},
    )
    assert response.status_code == 200
    assert "Unknown placeholder {{ settings }}" in response.content.decode()
    assert not Macro.objects.filter(name="Bad").exists()


def test_a_global_macro_is_refused_to_an_agent_on_the_form(agent_client: Client) -> None:
    response = agent_client.post(
        reverse(ADD), {"name": "G", "body": "x", "scope": "global", "assignment": ""}
    )
    assert response.status_code == 200
    assert "Only admins can create global macros." in response.content.decode()


def test_the_change_page_previews_the_body(agent_client: Client, agent: User) -> None:
    macro = make_macro(
        agent, scope=Scope.PERSONAL, body="Dear {{ requester.name }} ({{ ticket.key }})"
    )
    response = agent_client.get(reverse(CHANGE, args=[macro.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Dear Ada Lovelace (NF-1042)" in page


def test_an_agent_sees_but_cannot_change_a_global_macro(agent_client: Client) -> None:
    macro = make_macro(name="Global one")
    response = agent_client.get(reverse(CHANGE, args=[macro.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="_save"' not in page
    post = agent_client.post(
        reverse(CHANGE, args=[macro.pk]), {"name": "Hijacked", "body": "x", "scope": "global"}
    )
    assert post.status_code == 403
    assert Macro.objects.get(pk=macro.pk).name == "Global one"


def test_the_ticket_list_offers_the_macro_choice(agent_client: Client) -> None:
    make_macro(name="Bulk reply")
    page = agent_client.get(reverse("admin:nixflow_ticket_changelist")).content.decode()
    assert 'value="apply_macro"' in page
    assert "Bulk reply — Global" in page


def test_requesters_have_no_macros_admin(client: Client, requester: User) -> None:
    requester.is_staff = True
    requester.save()
    client.force_login(requester)
    assert client.get(reverse(CHANGELIST)).status_code in {302, 403}
