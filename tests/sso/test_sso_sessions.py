"""Where single sign-on sessions end, without a browser: the admin's "Log out", the
sign-out pages while single sign-on is off, and which requests the session refresh
(sso.middleware.SessionRefresh) sends to the provider."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import environ
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings

from nixflow.models import User
from sso import conf
from tests.factories import AdminFactory, AgentFactory, RequesterFactory
from tests.sso.conftest import (
    AUTHENTICATION_MIDDLEWARE,
    SESSION_REFRESH,
    with_session_refresh,
)
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db

AUTHORIZE = "https://id.example.org/authorize"
PAGE = "/admin/nixflow/ticket/?q=printer"


@pytest.fixture
def sso_on(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Single sign-on configured through the environment, the endpoints given one by one
    (nothing is asked of a provider), and the session refresh in the middleware."""
    for name, value in {
        "OIDC_CLIENT_ID": "desk",
        "OIDC_CLIENT_SECRET": "secret",
        "OIDC_OP_AUTHORIZATION_ENDPOINT": AUTHORIZE,
        "OIDC_OP_TOKEN_ENDPOINT": "https://id.example.org/token",
        "OIDC_OP_USER_ENDPOINT": "https://id.example.org/userinfo",
        "OIDC_OP_JWKS_ENDPOINT": "https://id.example.org/jwks",
        "OIDC_PROVIDER_NAME": "Example ID",
    }.items():
        monkeypatch.setenv(name, value)
    backends = list(settings.AUTHENTICATION_BACKENDS)
    for name, value in conf.settings_from_env(
        environ.Env(), authentication_backends=backends
    ).items():
        setattr(settings, name, value)
    settings.MIDDLEWARE = with_session_refresh(settings.MIDDLEWARE)
    cache.clear()
    return settings


def _signed_in_by_provider(user: User, *, expires_in: float = -1) -> Client:
    """A client whose session the provider's sign-in made, its ID token due
    ``expires_in`` seconds from now."""
    client = Client()
    client.force_login(user, backend=conf.SSO_BACKEND)
    session = client.session
    session["oidc_id_token"] = "id-token"
    session["oidc_id_token_expiration"] = time.time() + expires_in
    session.save()
    return client


# --- The admin's "Log out" -------------------------------------------------------------


def test_the_admins_log_out_goes_through_single_sign_on_while_it_is_on(sso_on: Settings) -> None:
    client = Client()
    client.force_login(AgentFactory(), backend=conf.PASSWORD_BACKEND)

    for page in ("/admin/", "/admin/password_change/"):
        html = client.get(page).content.decode()
        assert '<form id="logout-form" method="post" action="/sso/signout/">' in html, page
        assert 'action="/admin/logout/"' not in html, page
    # The core's and notifications' links are still there.
    assert 'data-testid="availability-link"' in client.get("/admin/").content.decode()


def test_a_desk_without_single_sign_on_keeps_the_admins_own_log_out(settings: Settings) -> None:
    assert not getattr(settings, "OIDC_ENABLED", False)
    client = Client()
    client.force_login(AgentFactory())

    for page in ("/admin/", "/admin/password_change/", "/admin/password_change/done/"):
        html = client.get(page).content.decode()
        assert '<form id="logout-form" method="post" action="/admin/logout/">' in html, page
        assert "/sso/signout/" not in html, page
    assert client.post("/admin/logout/").status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_password_session_logging_out_of_the_admin_is_signed_out_here(
    sso_on: Settings,
) -> None:
    client = Client()
    client.force_login(AdminFactory(is_superuser=True), backend=conf.PASSWORD_BACKEND)

    response = client.post("/sso/signout/")

    assert (response.status_code, response["Location"]) == (302, "/sso/signed-out/")
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_a_provider_session_logging_out_is_sent_on_to_the_providers_end_session(
    sso_on: Settings,
) -> None:
    sso_on.OIDC_OP_LOGOUT_ENDPOINT = "https://id.example.org/logout"
    client = _signed_in_by_provider(AgentFactory(), expires_in=600)

    response = client.post("/sso/signout/")

    assert response.status_code == 200
    target = response.context["target"]
    assert target.startswith("https://id.example.org/logout?")
    assert parse_qs(urlsplit(target).query)["id_token_hint"] == ["id-token"]
    assert "_auth_user_id" not in client.session


# --- Pages while single sign-on is off -------------------------------------------------


@pytest.mark.parametrize("page", ["/sso/signout/", "/sso/signed-out/"])
def test_the_sign_out_pages_are_not_there_while_single_sign_on_is_off(
    settings: Settings, page: str
) -> None:
    assert not getattr(settings, "OIDC_ENABLED", False)
    client = Client()
    assert client.get(page).status_code == 404
    client.force_login(RequesterFactory())
    assert client.get(page).status_code == 404
    assert client.post(page).status_code in (404, 405)
    assert "_auth_user_id" in client.session


# --- The session refresh ----------------------------------------------------------------


def test_the_session_refresh_is_in_the_middleware_after_authentication() -> None:
    middleware = list(django_settings.MIDDLEWARE)
    assert SESSION_REFRESH in middleware, "nixflow/settings.py: MIDDLEWARE lacks it"
    assert middleware.index(SESSION_REFRESH) > middleware.index(AUTHENTICATION_MIDDLEWARE)


def test_a_provider_session_past_its_time_goes_to_the_provider_without_a_page(
    sso_on: Settings,
) -> None:
    agent = AgentFactory()
    client = _signed_in_by_provider(agent)

    response = client.get(PAGE)

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == AUTHORIZE
    query = parse_qs(location.query)
    assert query["prompt"] == ["none"]
    assert query["client_id"] == ["desk"]
    assert query["redirect_uri"] == ["http://testserver/sso/callback/"]
    assert query["code_challenge_method"] == ["S256"]
    flow = client.session["oidc_states"][query["state"][0]]
    assert (flow["nonce"], flow["refresh"]) == (query["nonce"][0], True)
    assert client.session["oidc_login_next"] == PAGE
    # Still signed in until the provider answers.
    assert client.session["_auth_user_id"] == str(agent.pk)


def test_a_provider_session_within_its_time_is_not_asked_about(sso_on: Settings) -> None:
    client = _signed_in_by_provider(AgentFactory(), expires_in=600)

    assert client.get(PAGE).status_code == 200


def test_a_password_session_is_never_sent_to_the_provider(sso_on: Settings) -> None:
    client = Client()
    client.force_login(AgentFactory(), backend=conf.PASSWORD_BACKEND)
    session = client.session
    session["oidc_id_token_expiration"] = 0  # even were it there
    session.save()

    assert client.get(PAGE).status_code == 200
    assert "oidc_states" not in client.session


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("post", "/admin/nixflow/ticket/", {}),
        ("head", "/admin/", {}),
        ("get", "/api/tickets/", {}),
        ("get", "/api/schema/", {}),
        ("get", "/admin/", {"X-Requested-With": "XMLHttpRequest"}),
        ("get", "/admin/", {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}),
        ("get", "/admin/", {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}),
        ("get", "/sso/signout/", {}),
        ("get", "/sso/signed-out/", {}),
        ("get", "/portal/signout/", {}),
    ],
)
def test_only_page_loads_are_refreshed(
    sso_on: Settings, method: str, path: str, headers: dict[str, str]
) -> None:
    client = _signed_in_by_provider(AdminFactory(is_superuser=True))

    response = getattr(client, method)(path, headers=headers)

    assert not response.get("Location", "").startswith(AUTHORIZE)
    assert "oidc_states" not in client.session


def test_a_browsers_page_load_is_refreshed(sso_on: Settings) -> None:
    client = _signed_in_by_provider(AgentFactory())

    response = client.get(
        "/admin/", headers={"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    )

    assert response["Location"].startswith(AUTHORIZE)


def test_a_requesters_portal_page_is_refreshed_too(sso_on: Settings) -> None:
    client = _signed_in_by_provider(RequesterFactory())

    response = client.get("/portal/")

    assert response["Location"].startswith(AUTHORIZE)
    assert client.session["oidc_login_next"] == "/portal/"


def test_no_refresh_when_it_is_switched_off(sso_on: Settings) -> None:
    sso_on.OIDC_SESSION_REFRESH_SECONDS = 0
    client = _signed_in_by_provider(AgentFactory())

    assert client.get(PAGE).status_code == 200


def test_no_refresh_while_single_sign_on_is_off(sso_on: Settings) -> None:
    client = _signed_in_by_provider(AgentFactory())
    sso_on.OIDC_ENABLED = False

    assert client.get(PAGE).status_code == 200


def test_a_provider_that_cannot_be_reached_lets_the_page_through_and_is_asked_again_later(
    sso_on: Settings,
) -> None:
    del sso_on.OIDC_OP_AUTHORIZATION_ENDPOINT
    sso_on.OIDC_OP_ISSUER = f"http://127.0.0.1:{free_port()}"  # nobody listens
    sso_on.OIDC_TIMEOUT = 2
    client = _signed_in_by_provider(AgentFactory())

    response = client.get(PAGE)

    assert response.status_code == 200
    due = client.session["oidc_id_token_expiration"] - time.time()
    assert 55 < due <= 60
    assert client.get(PAGE).status_code == 200  # not asked again meanwhile


def test_the_providers_refusal_of_a_refresh_ends_the_session_with_a_page(
    sso_on: Settings,
) -> None:
    client = _signed_in_by_provider(AgentFactory())
    state = parse_qs(urlsplit(client.get(PAGE)["Location"]).query)["state"][0]

    response = client.get(
        f"/sso/callback/?error=login_required&error_description=End-User+authentication"
        f"+is+required&state={state}"
    )

    assert response.status_code == 403
    html = response.content.decode()
    assert (
        "Your session here has ended: Example ID no longer confirms that you are signed in "
        "there. Please sign in again."
    ) in html
    assert 'href="/sso/signin/?next=/admin/nixflow/ticket/%3Fq%3Dprinter"' in html
    assert "_auth_user_id" not in client.session
    assert client.get(PAGE).status_code == 302  # to the admin's login


def test_a_refresh_the_desk_refuses_ends_the_session_too(
    sso_on: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider vouches, but the sign-in no longer passes here (e.g. an address now
    # unverified): the reason's page, and signed out.
    from sso.backends import OidcBackend

    def refuse(self: OidcBackend, request: object, **kwargs: object) -> None:
        request.sso_refusal = "Refused for the test."  # type: ignore[attr-defined]

    monkeypatch.setattr(OidcBackend, "authenticate", refuse)
    client = _signed_in_by_provider(AgentFactory())
    state = parse_qs(urlsplit(client.get(PAGE)["Location"]).query)["state"][0]

    response = client.get(f"/sso/callback/?code=a-code&state={state}")

    assert response.status_code == 403
    assert "Refused for the test." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_deactivated_account_is_signed_out_of_its_provider_session(sso_on: Settings) -> None:
    requester = RequesterFactory()
    client = _signed_in_by_provider(requester, expires_in=600)
    assert client.get("/portal/").status_code == 200

    User.objects.filter(pk=requester.pk).update(is_active=False)

    response = client.get("/portal/")
    assert response.status_code == 302
    assert "/portal/signin/" in response["Location"]
