"""Integration tokens authenticate the API: by the hash of the string, within expiry and
until revoked, with the last use recorded at most once a minute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from api_tokens import keys
from api_tokens.models import ApiToken
from api_tokens.services import api_token_revoke
from nixflow.models import User
from tests.api_tokens.conftest import MakeToken, bearer

pytestmark = pytest.mark.django_db


def test_the_token_has_a_recognisable_shape_and_the_database_holds_only_its_hash(
    agent: User, make_token: MakeToken
) -> None:
    made = make_token(agent, "tickets:read", name="CRM sync")
    secret = made.secret
    assert keys.TOKEN_PATTERN.match(secret), secret
    assert secret.startswith(f"nft_{made.token.prefix}_")
    row = ApiToken.objects.get(pk=made.token.pk)
    assert row.token_hash == keys.token_hash(secret)
    secret_part = secret.rsplit("_", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(t)::text FROM api_tokens_apitoken t")
        stored = " ".join(r[0] for r in cursor.fetchall())
    assert secret_part not in stored
    assert secret not in stored


def test_a_bearer_token_authenticates_as_its_owner(agent: User, make_token: MakeToken) -> None:
    made = make_token(agent, "tickets:read")
    response = bearer(made.secret).get("/api/me/")
    assert response.status_code == 200, response.content
    assert response.json()["username"] == agent.username


def test_the_token_scheme_of_drf_is_accepted_for_an_integration_token(
    agent: User, make_token: MakeToken
) -> None:
    made = make_token(agent, "tickets:read")
    response = bearer(made.secret, scheme="Token").get("/api/tickets/")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "value",
    [
        "nft_00000000_" + "A" * 40,  # the right shape, no such token
        "nft_garbage",
        "not-a-token-at-all",
    ],
)
def test_an_unknown_bearer_token_is_a_401(agent: User, value: str) -> None:
    response = bearer(value).get("/api/tickets/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_a_revoked_token_is_a_401_that_says_so(agent: User, make_token: MakeToken) -> None:
    made = make_token(agent, "tickets:read")
    client = bearer(made.secret)
    assert client.get("/api/tickets/").status_code == 200
    api_token_revoke(actor=agent, token=made.token)
    response = client.get("/api/tickets/")
    assert response.status_code == 401
    assert response.json() == {"detail": "This token was revoked."}
    assert response["WWW-Authenticate"] == "Token"


def test_an_expired_token_is_a_401_that_says_so(agent: User, make_token: MakeToken) -> None:
    made = make_token(agent, "tickets:read", expires_at=timezone.now() + timedelta(hours=1))
    client = bearer(made.secret)
    assert client.get("/api/tickets/").status_code == 200
    ApiToken.objects.filter(pk=made.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = client.get("/api/tickets/")
    assert response.status_code == 401
    assert response.json() == {"detail": "This token has expired."}


def test_the_token_of_a_deactivated_user_is_a_401(agent: User, make_token: MakeToken) -> None:
    made = make_token(agent, "tickets:read")
    User.objects.filter(pk=agent.pk).update(is_active=False)
    response = bearer(made.secret).get("/api/tickets/")
    assert response.status_code == 401


def test_last_use_is_written_once_a_minute_at_most(agent: User, make_token: MakeToken) -> None:
    made = make_token(agent, "tickets:read")
    assert made.token.last_used_at is None
    client = bearer(made.secret)
    assert client.get("/api/me/").status_code == 200
    first = ApiToken.objects.get(pk=made.token.pk).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/me/").status_code == 200
    assert ApiToken.objects.get(pk=made.token.pk).last_used_at == first
    assert not [q for q in queries if q["sql"].startswith('UPDATE "api_tokens_apitoken"')]
    # A minute later, the next request moves it.
    an_hour_ago = timezone.now() - timedelta(hours=1)
    ApiToken.objects.filter(pk=made.token.pk).update(last_used_at=an_hour_ago)
    assert client.get("/api/me/").status_code == 200
    moved = ApiToken.objects.get(pk=made.token.pk).last_used_at
    assert moved is not None
    assert moved > an_hour_ago


def test_a_malformed_authorization_header_is_a_401(agent: User) -> None:
    response = bearer("nft_a nft_b").get("/api/tickets/")
    assert response.status_code == 401


def test_legacy_drf_tokens_keep_full_rights_of_their_owner(agent: User) -> None:
    key = Token.objects.create(user=agent).key
    client = bearer(key, scheme="Token")
    assert client.get("/api/tickets/").status_code == 200
    assert client.get("/api/sla/policies/").status_code == 200
    created = client.post("/api/tickets/", {"title": "Via the old token"}, format="json")
    assert created.status_code == 201, created.content
