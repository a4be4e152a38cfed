"""The single sign-on settings as the environment gives them (sso.conf), and the staff
password switch on the password sign-in pages and the API."""

from __future__ import annotations

from typing import Any

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from api_tokens.services import api_token_create
from portal import access
from sso import conf
from tests.factories import AdminFactory, AgentFactory, RequesterFactory

BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
PASSWORD = "correct horse battery staple"  # the factories'


def read(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in [*conf.ENDPOINTS, "OIDC_CLIENT_ID", "OIDC_ISSUER"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return conf.settings_from_env(environ.Env(), authentication_backends=list(BACKENDS))


def test_nothing_changes_while_no_client_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert read(monkeypatch) == {"AUTHENTICATION_BACKENDS": BACKENDS, "OIDC_ENABLED": False}


def test_an_issuer_and_a_client_switch_it_on_with_pkce_and_the_backends_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = read(
        monkeypatch,
        OIDC_CLIENT_ID="desk",
        OIDC_ISSUER="https://id.example.org/",
        OIDC_ROLE_MAP='{"staff": "agent"}',
    )

    assert found["AUTHENTICATION_BACKENDS"] == [
        "axes.backends.AxesStandaloneBackend",
        "sso.backends.StaffPasswordGate",
        "django.contrib.auth.backends.ModelBackend",
        "sso.backends.OidcBackend",
    ]
    assert found["OIDC_OP_ISSUER"] == "https://id.example.org"
    assert (found["OIDC_USE_PKCE"], found["OIDC_USE_NONCE"]) == (True, True)
    assert found["OIDC_ROLE_MAP"] == {"staff": "agent"}
    assert "OIDC_OP_TOKEN_ENDPOINT" not in found  # read from discovery


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OIDC_CLIENT_ID": "desk"}, "set OIDC_ISSUER"),
        (
            {"OIDC_CLIENT_ID": "desk", "OIDC_OP_TOKEN_ENDPOINT": "https://id/token"},
            "set OIDC_ISSUER",
        ),
        (
            {"OIDC_CLIENT_ID": "desk", "OIDC_ISSUER": "https://id", "OIDC_ROLE_MAP": "{"},
            "OIDC_ROLE_MAP is not JSON",
        ),
        (
            {"OIDC_CLIENT_ID": "desk", "OIDC_ISSUER": "https://id", "OIDC_ROLE_MAP": '["a"]'},
            "must be a JSON object of strings",
        ),
        (
            {
                "OIDC_CLIENT_ID": "desk",
                "OIDC_ISSUER": "https://id",
                "OIDC_ROLE_MAP": '{"g": "boss"}',
            },
            "OIDC_ROLE_MAP maps to boss; the roles are requester, agent, admin",
        ),
        (
            {"OIDC_CLIENT_ID": "desk", "OIDC_ISSUER": "https://id", "OIDC_STAFF_PASSWORDS": "no"},
            "use one of on, off, superusers",
        ),
        (
            {
                "OIDC_CLIENT_ID": "desk",
                "OIDC_ISSUER": "https://id",
                "OIDC_SESSION_REFRESH_SECONDS": "-1",
            },
            r"OIDC_SESSION_REFRESH_SECONDS is -1; use 0 \(no refresh\) or more",
        ),
    ],
)
def test_a_wrong_setting_stops_the_start_with_what_to_fix(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        read(monkeypatch, **env)


@pytest.mark.parametrize(("value", "seconds"), [(None, 900), ("60", 60), ("0", 0)])
def test_the_session_refresh_period_times_the_id_token_too(
    monkeypatch: pytest.MonkeyPatch, value: str | None, seconds: int
) -> None:
    monkeypatch.delenv("OIDC_SESSION_REFRESH_SECONDS", raising=False)
    env = {"OIDC_SESSION_REFRESH_SECONDS": value} if value is not None else {}

    found = read(monkeypatch, OIDC_CLIENT_ID="desk", OIDC_ISSUER="https://id", **env)

    assert found["OIDC_SESSION_REFRESH_SECONDS"] == seconds
    assert found["OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS"] == seconds


def test_endpoints_given_one_by_one_need_no_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = {name: f"https://id.example.org/{name.lower()}" for name in conf.ENDPOINTS}

    found = read(monkeypatch, OIDC_CLIENT_ID="desk", **endpoints)

    assert {name: found[name] for name in conf.ENDPOINTS} == endpoints


@pytest.fixture
def passwords(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    def switch(mode: str) -> None:
        found = read(
            monkeypatch,
            OIDC_CLIENT_ID="desk",
            OIDC_ISSUER="https://id.example.org",
            OIDC_STAFF_PASSWORDS=mode,
        )
        settings.AUTHENTICATION_BACKENDS = found["AUTHENTICATION_BACKENDS"]
        settings.OIDC_ENABLED = True
        settings.OIDC_STAFF_PASSWORDS = mode
        settings.OIDC_PROVIDER_NAME = "Example ID"

    return switch


def _admin_login(username: str) -> Any:
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": PASSWORD}
    )
    return client, response


@pytest.mark.django_db
def test_staff_passwords_off_refuse_agents_and_admins_but_not_requesters(passwords: Any) -> None:
    passwords("off")
    agent = AgentFactory()
    admin = AdminFactory(is_superuser=True)
    requester = RequesterFactory()

    for staff in (agent, admin):
        client, response = _admin_login(staff.username)
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()
        assert "their passwords here are switched off" in response.content.decode()
        assert "_auth_user_id" not in client.session

    portal = Client()
    response = portal.post(
        "/portal/signin/",
        {"how": "password", "username": requester.username, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert portal.session["_auth_user_id"] == str(requester.pk)


@pytest.mark.django_db
def test_superusers_keep_their_password_as_a_way_in_when_asked(passwords: Any) -> None:
    passwords("superusers")
    agent = AgentFactory()
    superuser = AdminFactory(is_superuser=True)

    assert "_auth_user_id" not in _admin_login(agent.username)[0].session
    client, response = _admin_login(superuser.username)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(superuser.pk)


@pytest.mark.django_db
def test_staff_passwords_on_sign_agents_in_as_before(passwords: Any) -> None:
    passwords("on")
    agent = AgentFactory()

    _client, response = _admin_login(agent.username)

    assert response.status_code == 302
    assert "or with your password:" in Client().get("/admin/login/").content.decode()


@pytest.mark.django_db
def test_api_tokens_keep_working_when_staff_passwords_are_off(passwords: Any) -> None:
    passwords("off")
    agent = AgentFactory()
    token = api_token_create(actor=agent, name="script", scopes=["tickets:read"], expires_at=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.secret}")

    assert client.get("/api/tickets/").status_code == 200


@pytest.mark.django_db
def test_single_sign_on_pages_are_not_found_while_it_is_not_configured(settings: Settings) -> None:
    settings.OIDC_ENABLED = False

    assert Client().get("/sso/signin/").status_code == 404
    assert "sso-signin" not in Client().get("/admin/login/").content.decode()


@pytest.mark.django_db
def test_a_portal_sign_in_link_still_signs_in_while_single_sign_on_is_on(passwords: Any) -> None:
    # The link signs in with ModelBackend; a session names its backend, and a backend
    # missing from AUTHENTICATION_BACKENDS would leave the person signed out at once.
    passwords("off")
    requester = RequesterFactory()
    client = Client()

    client.post(access.link_path(user=requester, token=access.signin_tokens.make_token(requester)))

    assert client.session["_auth_user_id"] == str(requester.pk)
    assert client.get("/portal/settings/").status_code == 200


@pytest.mark.django_db
def test_a_mailed_sign_in_link_is_no_way_around_staff_passwords_switched_off(
    passwords: Any,
) -> None:
    passwords("off")
    agent = AgentFactory()
    link = access.link_path(user=agent, token=access.signin_tokens.make_token(agent))
    client = Client()

    response = client.post(link)

    assert response.status_code == access_views_status(access.LinkState.INVALID)
    assert "_auth_user_id" not in client.session
    assert access.send_signin_link.apply(args=[agent.email]).get() == "nobody to mail"
    # With staff passwords on, the same kind of link signs the agent in.
    passwords("on")
    fresh = access.link_path(user=agent, token=access.signin_tokens.make_token(agent))
    client.post(fresh)
    assert client.session["_auth_user_id"] == str(agent.pk)


def access_views_status(state: access.LinkState) -> int:
    from portal.account_views import LINK_STATUS

    return LINK_STATUS[state]
