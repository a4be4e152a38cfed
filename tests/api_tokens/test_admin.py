"""Tokens in the admin: agents make their own and see the string once; admins see and
revoke everyone's; nothing is edited or deleted; a requester made staff gets nothing."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from api_tokens import keys
from api_tokens.models import ApiToken
from eventlog.models import EventLog
from nixflow.models import Role, User
from tests.api_tokens.conftest import MakeToken, bearer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:api_tokens_apitoken_changelist")
ADD = reverse("admin:api_tokens_apitoken_add")


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_agent_makes_a_token_and_the_next_page_shows_it_once(agent: User) -> None:
    client = _signed_in(agent)
    form = client.get(ADD)
    assert form.status_code == 200
    assert 'value="tickets:write"' in form.content.decode()
    response = client.post(ADD, {"name": "Chat bot", "scopes": ["tickets:write", "knowledge:read"]})
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    secret = re.search(r"nft_[0-9a-f]{8}_[A-Za-z0-9]{40}", page)
    assert secret is not None, page
    token = ApiToken.objects.get(user=agent, name="Chat bot")
    assert token.scopes == ["tickets:write", "knowledge:read"]
    assert token.token_hash == keys.token_hash(secret.group())
    assert bearer(secret.group()).get("/api/tickets/").status_code == 200
    # Listed by its prefix; the string is never shown again.
    listed = client.get(CHANGELIST).content.decode()
    assert f"nft_{token.prefix}_" in listed
    assert secret.group() not in listed
    detail = client.get(reverse("admin:api_tokens_apitoken_change", args=[token.pk]))
    assert detail.status_code == 200
    assert secret.group() not in detail.content.decode()
    # One event, the service's (no generic admin.added beside it).
    types = list(EventLog.objects.values_list("type", flat=True).order_by("id"))
    assert types.count("api_token.created") == 1
    assert "admin.added" not in types


def test_a_refused_token_is_shown_on_the_form(agent: User, make_token: MakeToken) -> None:
    make_token(agent, "tickets:read", name="Chat bot")
    response = _signed_in(agent).post(ADD, {"name": "Chat bot", "scopes": ["tickets:read"]})
    assert response.status_code == 200
    assert "Your live token &quot;Chat bot&quot; already exists" in response.content.decode()
    assert ApiToken.objects.filter(user=agent).count() == 1


def test_agents_see_their_own_tokens_and_admins_everyones(
    agent: User, requester: User, make_token: MakeToken
) -> None:
    make_token(agent, "tickets:read", name="Agent's sync")
    make_token(requester, "tickets:read", name="Requester's script")
    agent_page = _signed_in(agent).get(CHANGELIST).content.decode()
    assert "Agent&#x27;s sync" in agent_page
    assert "Requester&#x27;s script" not in agent_page
    admin = UserFactory(role=Role.ADMIN, username="token_admin")
    admin_page = _signed_in(admin).get(CHANGELIST).content.decode()
    assert "Agent&#x27;s sync" in admin_page
    assert "Requester&#x27;s script" in admin_page


def test_an_admin_revokes_someones_token_with_the_action(
    requester: User, make_token: MakeToken
) -> None:
    made = make_token(requester, "tickets:read")
    admin = UserFactory(role=Role.ADMIN, username="token_admin")
    response = _signed_in(admin).post(
        CHANGELIST,
        {"action": "revoke_selected", "_selected_action": [made.token.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Revoked 1 token." in response.content.decode()
    token = ApiToken.objects.get(pk=made.token.pk)
    assert token.revoked_at is not None
    assert token.revoked_by_id == admin.pk
    assert bearer(made.secret).get("/api/tickets/").status_code == 401
    page = _signed_in(admin).get(CHANGELIST + "?state=revoked").content.decode()
    assert f"nft_{token.prefix}_" in page


def test_tokens_are_neither_edited_nor_deleted_in_the_admin(
    agent: User, make_token: MakeToken
) -> None:
    made = make_token(agent, "tickets:read", name="Old")
    client = _signed_in(agent)
    change = reverse("admin:api_tokens_apitoken_change", args=[made.token.pk])
    response = client.post(change, {"name": "New", "scopes": ["admin:write"]})
    assert response.status_code == 403
    delete = reverse("admin:api_tokens_apitoken_delete", args=[made.token.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    token = ApiToken.objects.get(pk=made.token.pk)
    assert (token.name, token.scopes, token.revoked_at) == ("Old", ["tickets:read"], None)


def test_a_requester_made_staff_gets_nothing(requester: User) -> None:
    User.objects.filter(pk=requester.pk).update(is_staff=True)
    client = _signed_in(User.objects.get(pk=requester.pk))
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(ADD).status_code == 403
