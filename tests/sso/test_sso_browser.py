"""Single sign-on in chromium against a real OpenID provider: the whole
authorization-code flow with PKCE, from the desk's "Sign in with …" button through the
provider's login form and back."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.sessions.backends.db import SessionStore
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from nixflow.models import Role, TeamMembership, User
from sso.models import Identity
from tests.factories import AgentFactory, RequesterFactory, TeamFactory
from tests.sso.conftest import Provider, SsoSettings
from tests.support.axe import assert_accessible, violations
from tests.support.browser import browser, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _fresh(driver: webdriver.Chrome) -> None:
    # Every host's cookies: the desk's and the provider's session both.
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})


def _wait(driver: webdriver.Chrome, condition: Any, timeout: float = 20) -> Any:
    return WebDriverWait(driver, timeout).until(condition)


def _provider_login(driver: webdriver.Chrome, provider: Provider, login: str) -> None:
    _wait(driver, expected_conditions.url_contains(provider.issuer))
    driver.find_element(By.ID, "login").send_keys(login)
    driver.find_element(By.ID, "password").send_keys("provider-password")
    driver.find_element(By.ID, "submit").click()


def _admin_sso(
    driver: webdriver.Chrome, live_server: LiveServer, provider: Provider, login: str
) -> None:
    _fresh(driver)
    driver.get(f"{live_server.url}/admin/login/?next=/admin/")
    driver.find_element(By.ID, "sso-signin").click()
    _provider_login(driver, provider, login)


def test_agent_signs_in_through_the_provider_and_lands_in_the_admin_with_the_role_of_their_claims(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    first_line = TeamFactory(name="First line")
    TeamFactory(name="Billing")
    provider.account(
        "alice",
        email="Alice@Example.org",
        name="Alice Adler",
        groups=["desk-agents", "support-first-line", "unrelated"],
    )
    _fresh(browser)
    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    button = browser.find_element(By.ID, "sso-signin")
    assert button.text == "Sign in with Example ID"
    screenshot(browser, "sso-admin-login", 1440)
    screenshot(browser, "sso-admin-login", 375)
    button.click()

    _provider_login(browser, provider, "alice")

    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    assert browser.current_url == f"{live_server.url}/admin/"
    user = User.objects.get(email__iexact="alice@example.org")
    assert (user.role, user.is_staff, user.is_superuser) == (Role.AGENT, True, False)
    assert (user.first_name, user.last_name) == ("Alice", "Adler")
    assert list(TeamMembership.objects.filter(user=user).values_list("team", flat=True)) == [
        first_line.pk
    ]
    identity = Identity.objects.get(user=user)
    assert identity.issuer == provider.issuer
    assert identity.last_signed_in is not None
    assert "WELCOME, ALICE." in browser.find_element(By.ID, "user-tools").text.upper()


def test_requester_signs_in_from_the_portal_and_lands_in_the_portal(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    provider.account("bob", email="bob@example.org", name="Bob Berg", groups=["customers"])
    _fresh(browser)
    browser.get(f"{live_server.url}/portal/signin/")
    screenshot(browser, "sso-portal-signin", 1440)
    screenshot(browser, "sso-portal-signin", 375)
    browser.set_window_size(1280, 1024)
    browser.find_element(By.ID, "sso-signin").click()

    _provider_login(browser, provider, "bob")

    _wait(browser, expected_conditions.url_to_be(f"{live_server.url}/portal/"))
    user = User.objects.get(email="bob@example.org")
    assert (user.role, user.is_staff) == (Role.REQUESTER, False)
    assert "Signed in as Bob Berg" in browser.find_element(By.CLASS_NAME, "site-account").text

    # The header's "Sign out" ends the provider's session too.
    browser.find_element(By.CSS_SELECTOR, ".site-account button").click()
    _wait(browser, expected_conditions.url_contains(f"{provider.issuer}/session/end"))


def test_requester_who_starts_from_the_admin_lands_in_the_portal_not_the_admin(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    provider.account("carla", email="carla@example.org", groups=[])

    _admin_sso(browser, live_server, provider, "carla")

    _wait(browser, expected_conditions.url_to_be(f"{live_server.url}/portal/"))


def test_an_existing_account_is_linked_by_its_verified_address_and_keeps_its_history(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    agent = AgentFactory(username="dora", email="dora@example.org")
    provider.account("dora-at-idp", email="DORA@example.org", groups=["desk-agents"])

    _admin_sso(browser, live_server, provider, "dora-at-idp")

    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    assert Identity.objects.get().user == agent
    assert User.objects.filter(email__iexact="dora@example.org").count() == 1


def test_an_unverified_address_gets_a_page_saying_so_and_no_account(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    RequesterFactory(username="erin", email="erin@example.org")
    provider.account("erin", email="erin@example.org", verified=False, groups=["desk-admins"])

    _admin_sso(browser, live_server, provider, "erin")

    refusal = _wait(
        browser, expected_conditions.presence_of_element_located((By.ID, "sso-refusal"))
    )
    assert refusal.text == (
        "The sign-in service has not verified your e-mail address erin@example.org. "
        "Verify it there, then sign in again."
    )
    assert browser.title.startswith("Error: Sign-in failed")
    assert not violations(browser)
    screenshot(browser, "sso-refused", 1440)
    screenshot(browser, "sso-refused", 375)
    browser.set_window_size(1280, 1024)
    assert not Identity.objects.exists()
    assert User.objects.get(email="erin@example.org").role == Role.REQUESTER
    browser.get(f"{live_server.url}/admin/")
    assert "/admin/login/" in browser.current_url


def test_refused_sign_ins_do_not_count_as_password_failures_that_lock_an_address_out(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
    settings: Settings,
) -> None:
    # django-axes locks a username and address out after AXES_FAILURE_LIMIT failures; a
    # refused single sign-on has no username, and many people share an office address.
    settings.AXES_FAILURE_LIMIT = 1
    provider.account("lou", email="lou@example.org", verified=False)
    provider.account("max", email="max@example.org", groups=["desk-agents"])
    _admin_sso(browser, live_server, provider, "lou")
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "sso-refusal")))

    _admin_sso(browser, live_server, provider, "max")

    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    assert not AccessAttempt.objects.exists()


def test_an_address_linked_to_another_person_at_the_provider_is_refused(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    provider.account("fay", email="fay@example.org", sub="fay-original")
    provider.account("fay-impostor", email="fay@example.org", sub="someone-else")
    _admin_sso(browser, live_server, provider, "fay")
    _wait(browser, expected_conditions.url_to_be(f"{live_server.url}/portal/"))

    _admin_sso(browser, live_server, provider, "fay-impostor")

    refusal = _wait(
        browser, expected_conditions.presence_of_element_located((By.ID, "sso-refusal"))
    )
    assert "already linked to another person" in refusal.text
    assert list(Identity.objects.values_list("subject", flat=True)) == ["fay-original"]


def test_a_changed_claim_changes_the_role_and_teams_at_the_next_sign_in(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    first_line = TeamFactory(name="First line")
    billing = TeamFactory(name="Billing")
    provider.account("gus", email="gus@example.org", groups=["desk-agents", "support-first-line"])
    _admin_sso(browser, live_server, provider, "gus")
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    gus = User.objects.get(email="gus@example.org")
    assert (gus.role, gus.is_superuser) == (Role.AGENT, False)

    provider.set_groups("gus", ["desk-admins", "support-billing"])
    _admin_sso(browser, live_server, provider, "gus")
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    gus.refresh_from_db()
    assert (gus.role, gus.is_staff, gus.is_superuser) == (Role.ADMIN, True, True)
    assert list(gus.teams.all()) == [billing]

    provider.set_groups("gus", [])
    _admin_sso(browser, live_server, provider, "gus")
    _wait(browser, expected_conditions.url_to_be(f"{live_server.url}/portal/"))
    gus.refresh_from_db()
    assert (gus.role, gus.is_staff, gus.is_superuser) == (Role.REQUESTER, False, False)
    assert not gus.teams.exists()
    assert not first_line.members.exists()


def test_a_callback_whose_state_this_browser_did_not_start_gets_a_clear_error(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    provider.account("hal", email="hal@example.org", groups=["desk-agents"])
    _fresh(browser)
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.ID, "sso-signin").click()
    _wait(browser, expected_conditions.url_contains(provider.issuer))

    browser.get(f"{live_server.url}/sso/callback/?code=stolen-code&state=forged-state")

    refusal = browser.find_element(By.ID, "sso-refusal")
    assert refusal.text.startswith("This sign-in could not be checked")
    assert not User.objects.filter(email="hal@example.org").exists()


def test_an_id_token_whose_nonce_does_not_match_the_session_is_refused(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    provider.account("ivy", email="ivy@example.org", groups=["desk-agents"])
    _fresh(browser)
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.ID, "sso-signin").click()
    _wait(browser, expected_conditions.url_contains(provider.issuer))
    # The provider signs the nonce the authorization request carried; the session now
    # expects another, as if the response had been replayed into this sign-in.
    session = SessionStore(_session_key(browser))
    states = session["oidc_states"]
    for state in states.values():
        state["nonce"] = "another-nonce"
    session["oidc_states"] = states
    session.save()

    _provider_login(browser, provider, "ivy")

    refusal = _wait(
        browser, expected_conditions.presence_of_element_located((By.ID, "sso-refusal"))
    )
    assert refusal.text.startswith("This sign-in could not be checked")
    assert not User.objects.filter(email="ivy@example.org").exists()


def _session_key(driver: webdriver.Chrome) -> str:
    cookies = driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
    return next(
        c["value"] for c in cookies if c["name"] == "sessionid" and c["domain"] == "localhost"
    )


def test_staff_passwords_switched_off_leave_the_admin_pointing_to_single_sign_on(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    sso_settings(OIDC_STAFF_PASSWORDS="off")
    AgentFactory(username="jack", email="jack@example.org")
    _fresh(browser)
    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    note = browser.find_element(By.ID, "sso-staff-note")
    assert note.text == (
        "Agents and administrators sign in with Example ID: their passwords here are switched off."
    )
    screenshot(browser, "sso-admin-login-staff-passwords-off", 1440)
    screenshot(browser, "sso-admin-login-staff-passwords-off", 375)
    browser.set_window_size(1280, 1024)
    browser.find_element(By.NAME, "username").send_keys("jack")
    browser.find_element(By.NAME, "password").send_keys("correct horse battery staple")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

    error = _wait(
        browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".errornote"))
    )
    assert "Please enter the correct username and password" in error.text
    assert browser.find_element(By.ID, "sso-staff-note").is_displayed()
    assert not browser.find_elements(By.ID, "user-tools")


def test_signing_out_ends_the_session_here_and_at_the_provider(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    provider.account("kim", email="kim@example.org", groups=["desk-agents"])
    _admin_sso(browser, live_server, provider, "kim")
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))

    browser.get(f"{live_server.url}/sso/signout/")
    browser.find_element(By.ID, "sso-signout").click()
    # The provider asks whether to end its session too (RP-initiated logout).
    _wait(browser, expected_conditions.url_contains(f"{provider.issuer}/session/end"))
    browser.find_element(By.CSS_SELECTOR, "button[name=logout]").click()

    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "sso-signed-out")))
    assert browser.current_url == f"{live_server.url}/sso/signed-out/"
    browser.get(f"{live_server.url}/admin/")
    assert "/admin/login/" in browser.current_url
    # The provider's session is over too: signing in again asks for the password.
    browser.find_element(By.ID, "sso-signin").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "login")))


def test_the_sign_in_pages_with_the_button_are_accessible(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    _fresh(browser)
    assert_accessible(browser, f"{live_server.url}/portal/signin/")
    sso_settings(OIDC_STAFF_PASSWORDS="off")
    assert_accessible(browser, f"{live_server.url}/admin/login/")
