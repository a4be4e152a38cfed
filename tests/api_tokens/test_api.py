"""``/api/tokens/``: each user makes, lists and revokes their own tokens; admins see and
revoke everyone's; the string is shown once; an integration token cannot make tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api_tokens import keys
from api_tokens.models import ApiToken
from eventlog.models import EventLog
from nixflow.models import Role, User
from tests.api_tokens.conftest import MakeToken, bearer
from tests.factories import UserFactory
from tests.helpers import as_user

pytestmark = pytest.mark.django_db


def _create(client: APIClient, **body: Any) -> Any:
    payload = {"name": "CRM sync", "scopes": ["tickets:write"], **body}
    return client.post("/api/tokens/", payload, format="json")


def test_a_user_makes_a_token_and_sees_its_string_once(agent: User, agent_api: APIClient) -> None:
    response = _create(agent_api, scopes=["tickets:write", "knowledge:read", "tickets:write"])
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    made = response.json()
    secret = made["token"]
    assert keys.TOKEN_PATTERN.match(secret)
    assert made["scopes"] == ["tickets:write", "knowledge:read"]
    assert made["display"] == f"nft_{made['prefix']}_…"
    assert made["user"] == agent.pk
    assert made["active"] is True
    # Never again: not in the detail, not in the list.
    detail = agent_api.get(f"/api/tokens/{made['id']}/")
    assert detail.status_code == 200
    assert "token" not in detail.json()
    assert secret not in agent_api.get("/api/tokens/").content.decode()
    # And it works.
    assert bearer(secret).get("/api/tickets/").status_code == 200


def test_the_events_name_the_token_by_its_prefix_never_its_secret_or_hash(
    agent: User, agent_api: APIClient
) -> None:
    made = _create(agent_api).json()
    assert agent_api.post(f"/api/tokens/{made['id']}/revoke/").status_code == 200
    token = ApiToken.objects.get(pk=made["id"])
    events = list(EventLog.objects.filter(type__startswith="api_token.").order_by("id"))
    assert [e.type for e in events] == ["api_token.created", "api_token.revoked"]
    assert events[0].payload == {
        "user_id": agent.pk,
        "name": "CRM sync",
        "prefix": token.prefix,
        "scopes": ["tickets:write"],
        "expires_at": None,
    }
    assert events[1].actor_id == agent.pk
    for event in events:
        text = str(event.payload)
        assert made["token"].rsplit("_", 1)[1] not in text
        assert token.token_hash not in text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["tickets:delete"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"name": "   "}, "name"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_a_bad_token_request_is_a_400_on_its_field(
    agent_api: APIClient, body: dict[str, Any], field: str
) -> None:
    response = _create(agent_api, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_two_live_tokens_of_one_user_may_not_share_a_name(agent_api: APIClient) -> None:
    first = _create(agent_api)
    assert first.status_code == 201
    again = _create(agent_api)
    assert again.status_code == 400
    assert again.json() == {
        "name": ['Your live token "CRM sync" already exists: name this one otherwise.']
    }
    # Once revoked, the name is free again.
    assert agent_api.delete(f"/api/tokens/{first.json()['id']}/").status_code == 204
    assert _create(agent_api).status_code == 201


def test_an_integration_token_cannot_make_tokens(agent: User, make_token: MakeToken) -> None:
    client = bearer(make_token(agent, "admin:write").secret)
    response = _create(client)
    assert response.status_code == 403
    assert "cannot make tokens" in response.json()["detail"]
    assert ApiToken.objects.filter(user=agent).count() == 1


def test_a_legacy_token_can_make_its_replacement(agent: User) -> None:
    client = bearer(Token.objects.create(user=agent).key, scheme="Token")
    response = _create(client)
    assert response.status_code == 201
    assert bearer(response.json()["token"]).get("/api/tickets/").status_code == 200


def test_an_expiry_is_kept_and_shown(agent_api: APIClient) -> None:
    when = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    response = _create(agent_api, expires_at=when.isoformat())
    assert response.status_code == 201
    assert ApiToken.objects.get(pk=response.json()["id"]).expires_at == when


def test_users_list_their_own_tokens_and_admins_everyones(
    agent: User, requester: User, make_token: MakeToken
) -> None:
    admin = UserFactory(role=Role.ADMIN, username="tokens_admin")
    mine = make_token(agent, "tickets:read").token
    theirs = make_token(requester, "tickets:read").token
    agent_api = as_user(APIClient(), agent)
    assert [t["id"] for t in agent_api.get("/api/tokens/").json()["results"]] == [mine.pk]
    assert agent_api.get(f"/api/tokens/{theirs.pk}/").status_code == 404
    assert agent_api.get(f"/api/tokens/?user={requester.pk}").json()["results"] == []
    admin_api = as_user(APIClient(), admin)
    listed = {t["id"] for t in admin_api.get("/api/tokens/").json()["results"]}
    assert listed == {mine.pk, theirs.pk}
    only = admin_api.get(f"/api/tokens/?user={requester.pk}").json()["results"]
    assert [t["id"] for t in only] == [theirs.pk]
    assert admin_api.get("/api/tokens/?user=x").status_code == 400


def test_a_user_cannot_revoke_someone_elses_token_but_an_admin_can(
    agent: User, requester: User, make_token: MakeToken
) -> None:
    theirs = make_token(requester, "tickets:read")
    agent_api = as_user(APIClient(), agent)
    assert agent_api.delete(f"/api/tokens/{theirs.token.pk}/").status_code == 404
    assert agent_api.post(f"/api/tokens/{theirs.token.pk}/revoke/").status_code == 404
    admin = UserFactory(role=Role.ADMIN, username="tokens_admin")
    response = as_user(APIClient(), admin).post(f"/api/tokens/{theirs.token.pk}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert response.json()["active"] is False
    token = ApiToken.objects.get(pk=theirs.token.pk)
    assert token.revoked_by_id == admin.pk
    assert bearer(theirs.secret).get("/api/tickets/").status_code == 401


def test_revoking_twice_is_a_409(agent_api: APIClient) -> None:
    made = _create(agent_api).json()
    assert agent_api.delete(f"/api/tokens/{made['id']}/").status_code == 204
    again = agent_api.delete(f"/api/tokens/{made['id']}/")
    assert again.status_code == 409
    assert again.json() == {"detail": "This token was revoked already."}


def test_a_token_with_admin_write_may_revoke_itself(agent: User, make_token: MakeToken) -> None:
    made = make_token(agent, "admin:write")
    client = bearer(made.secret)
    assert client.get("/api/tokens/").status_code == 200
    assert client.post(f"/api/tokens/{made.token.pk}/revoke/").status_code == 200
    assert client.get("/api/tokens/").status_code == 401


def test_tokens_of_other_scopes_cannot_see_the_token_list(
    agent: User, make_token: MakeToken
) -> None:
    response = bearer(make_token(agent, "tickets:write").secret).get("/api/tokens/")
    assert response.status_code == 403
    assert response.json() == {"detail": "This token's scopes do not include admin:read."}


def test_anonymous_callers_get_a_401(api_client: APIClient) -> None:
    assert api_client.get("/api/tokens/").status_code == 401
    assert _create(api_client).status_code == 401


def test_the_list_costs_the_same_queries_for_more_tokens(make_token: MakeToken) -> None:
    admin = UserFactory(role=Role.ADMIN, username="tokens_admin")
    client = as_user(APIClient(), admin)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/tokens/").status_code == 200
        return len(queries)

    make_token(UserFactory(role=Role.AGENT), "tickets:read")
    few = count()
    for _ in range(5):
        make_token(UserFactory(role=Role.AGENT), "tickets:read")
    assert count() == few
