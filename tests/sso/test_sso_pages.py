"""The single sign-on pages when things go wrong or the provider offers less: a precise
page, never a 500."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings

from tests.factories import AdminFactory, AgentFactory
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def sso_on(settings: Settings) -> Settings:
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Example ID"
    settings.OIDC_RP_CLIENT_ID = "desk"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_ISSUER = f"http://127.0.0.1:{free_port()}"  # nobody listens
    settings.OIDC_TIMEOUT = 2
    settings.OIDC_USE_PKCE = True
    settings.OIDC_AUTHENTICATION_CALLBACK_URL = "sso:callback"
    cache.clear()
    return settings


def test_a_provider_that_cannot_be_reached_gets_a_page_saying_so(sso_on: Settings) -> None:
    response = Client().get("/sso/signin/")

    assert response.status_code == 502
    assert "The sign-in service could not be reached" in response.content.decode()


def test_a_callback_without_a_started_sign_in_says_to_sign_in_again(sso_on: Settings) -> None:
    response = Client().get("/sso/callback/?code=abc&state=xyz")

    assert response.status_code == 400
    assert "The sign-in did not complete" in response.content.decode()


def test_the_providers_own_refusal_is_shown(sso_on: Settings) -> None:
    response = Client().get(
        "/sso/callback/?error=access_denied&error_description=Not+in+this+app&state=xyz"
    )

    assert response.status_code == 403
    assert "The sign-in service did not sign you in: Not in this app" in response.content.decode()


def test_signing_out_without_an_end_session_endpoint_ends_the_desks_session(
    sso_on: Settings,
) -> None:
    sso_on.OIDC_OP_ISSUER = ""
    sso_on.OIDC_OP_LOGOUT_ENDPOINT = ""
    client = Client()
    client.force_login(AgentFactory())

    response = client.post("/sso/signout/")

    assert response.status_code == 302
    assert response["Location"] == "/sso/signed-out/"
    assert "_auth_user_id" not in client.session
    assert "You are signed out." in client.get("/sso/signed-out/").content.decode()


def test_signing_out_by_get_only_shows_the_button(sso_on: Settings) -> None:
    client = Client()
    agent = AgentFactory()
    client.force_login(agent)

    response = client.get("/sso/signout/")

    assert response.status_code == 200
    assert 'id="sso-signout"' in response.content.decode()
    assert client.session["_auth_user_id"] == str(agent.pk)


def test_the_sign_in_sends_a_pkce_challenge_state_and_nonce_and_keeps_only_a_local_next(
    sso_on: Settings,
) -> None:
    sso_on.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://id.example.org/authorize"
    client = Client()

    response = client.get("/sso/signin/?next=https://evil.example/")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://id.example.org/authorize"
    )
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://testserver/sso/callback/"]
    flow = client.session["oidc_states"][query["state"][0]]
    assert flow["nonce"] == query["nonce"][0]
    assert len(flow["code_verifier"]) >= 43
    assert client.session["oidc_login_next"] is None

    client.get("/sso/signin/?next=/admin/nixflow/ticket/")
    assert client.session["oidc_login_next"] == "/admin/nixflow/ticket/"


def test_admins_see_the_identities_read_only(sso_on: Settings) -> None:
    client = Client()
    client.force_login(AdminFactory(is_superuser=True))

    assert client.get("/admin/sso/identity/").status_code == 200
    assert client.get("/admin/sso/identity/add/").status_code == 403
