"""Legacy DRF tokens: they keep working until switched off, their last use is recorded
(DRF records none), and an admin lists and deletes them from the command line."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.authtoken.models import Token

from api_tokens.models import LegacyTokenUse
from eventlog.models import EventLog
from nixflow.models import User
from tests.api_tokens.conftest import MakeToken, bearer

pytestmark = pytest.mark.django_db


def test_a_legacy_token_is_refused_once_switched_off(
    agent: User, settings: Settings, make_token: MakeToken
) -> None:
    client = bearer(Token.objects.create(user=agent).key, scheme="Token")
    assert client.get("/api/tickets/").status_code == 200
    settings.API_LEGACY_TOKENS = False
    response = client.get("/api/tickets/")
    assert response.status_code == 401
    assert "Legacy API tokens are switched off" in response.json()["detail"]
    # Integration tokens are untouched, in either scheme.
    secret = make_token(agent, "tickets:read").secret
    assert bearer(secret).get("/api/tickets/").status_code == 200
    assert bearer(secret, scheme="Token").get("/api/tickets/").status_code == 200


def test_the_last_use_of_a_legacy_token_is_recorded_once_a_minute(agent: User) -> None:
    client = bearer(Token.objects.create(user=agent).key, scheme="Token")
    assert not LegacyTokenUse.objects.filter(user=agent).exists()
    assert client.get("/api/tickets/").status_code == 200
    first = LegacyTokenUse.objects.get(user=agent).last_used_at
    assert client.get("/api/tickets/").status_code == 200
    assert LegacyTokenUse.objects.get(user=agent).last_used_at == first
    # Past the minute (the cache's mark gone), the next use moves it.
    earlier = timezone.now() - timedelta(hours=2)
    LegacyTokenUse.objects.filter(user=agent).update(last_used_at=earlier)
    cache.clear()
    assert client.get("/api/tickets/").status_code == 200
    assert LegacyTokenUse.objects.get(user=agent).last_used_at > earlier


def test_a_wrong_legacy_token_is_still_a_401(agent: User) -> None:
    response = bearer("0" * 40, scheme="Token").get("/api/tickets/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert response["WWW-Authenticate"] == "Token"


def test_the_command_lists_legacy_tokens_with_their_last_use_and_never_the_key(
    agent: User, requester: User, make_token: MakeToken
) -> None:
    used = Token.objects.create(user=agent)
    unused = Token.objects.create(user=requester)
    assert bearer(used.key, scheme="Token").get("/api/tickets/").status_code == 200
    make_token(agent, "tickets:write")
    out = StringIO()
    call_command("api_legacy_tokens", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["user", "role", "created", "last", "used", "replaced"]
    agent_line = next(line for line in lines if line.startswith("agent "))
    requester_line = next(line for line in lines if line.startswith("requester "))
    assert agent_line.split()[-1] == "yes"  # has an integration token now
    assert " - " not in agent_line
    assert requester_line.split()[-2:] == ["-", "no"]
    assert used.key not in out.getvalue()
    assert unused.key not in out.getvalue()


def test_the_command_deletes_one_users_legacy_token(agent: User) -> None:
    key = Token.objects.create(user=agent).key
    out = StringIO()
    call_command("api_legacy_tokens", "--delete", agent.username, stdout=out)
    assert "Deleted the legacy token of agent." in out.getvalue()
    assert bearer(key, scheme="Token").get("/api/tickets/").status_code == 401
    event = EventLog.objects.get(type="api_token.legacy_deleted")
    assert event.payload == {"user_id": agent.pk}
    assert key not in str(event.payload)
    with pytest.raises(CommandError, match="has no legacy token"):
        call_command("api_legacy_tokens", "--delete", agent.username)
    with pytest.raises(CommandError, match="No user"):
        call_command("api_legacy_tokens", "--delete", "nobody")


def test_no_legacy_token_is_handed_out_once_switched_off(
    agent: User, settings: Settings, client: Client
) -> None:
    credentials = {"username": agent.username, "password": "correct horse battery staple"}
    settings.API_LEGACY_TOKENS = False
    response = client.post("/api/auth/token/", credentials, content_type="application/json")
    assert response.status_code == 403
    assert "POST /api/tokens/" in response.json()["detail"]
    assert not Token.objects.filter(user=agent).exists()
    # A wrong password gets the same answer: nothing is checked, nothing is counted.
    wrong = {**credentials, "password": "wrong"}
    assert client.post("/api/auth/token/", wrong, content_type="application/json").json() == (
        response.json()
    )
    settings.API_LEGACY_TOKENS = True
    response = client.post("/api/auth/token/", credentials, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=agent).key
