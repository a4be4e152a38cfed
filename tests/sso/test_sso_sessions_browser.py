"""Where single sign-on sessions end, in chromium against the real test provider: the
admin's own "Log out" ends the provider's session too, and a session the provider no
longer vouches for ends at the next page after OIDC_SESSION_REFRESH_SECONDS."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from nixflow.models import User
from sso.models import Identity
from tests.sso.conftest import Provider, SsoSettings
from tests.support.axe import violations
from tests.support.browser import browser, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

REFRESH_SECONDS = 2
TICKETS = "/admin/nixflow/ticket/"


def _wait(driver: webdriver.Chrome, condition: Any, timeout: float = 20) -> Any:
    return WebDriverWait(driver, timeout).until(condition)


def _sign_in(
    driver: webdriver.Chrome, live_server: LiveServer, provider: Provider, login: str
) -> None:
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.get(f"{live_server.url}/admin/login/?next=/admin/")
    driver.find_element(By.ID, "sso-signin").click()
    _wait(driver, expected_conditions.url_contains(provider.issuer))
    driver.find_element(By.ID, "login").send_keys(login)
    driver.find_element(By.ID, "password").send_keys("provider-password")
    driver.find_element(By.ID, "submit").click()
    _wait(driver, expected_conditions.presence_of_element_located((By.ID, "user-tools")))


def _session(driver: webdriver.Chrome) -> SessionStore:
    cookies = driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
    key = next(
        c["value"] for c in cookies if c["name"] == "sessionid" and c["domain"] == "localhost"
    )
    return SessionStore(key)


def test_the_admins_log_out_ends_the_providers_session_too(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
) -> None:
    provider.account("lena", email="lena@example.org", groups=["desk-agents"])
    _sign_in(browser, live_server, provider, "lena")

    browser.find_element(By.CSS_SELECTOR, "#logout-form button").click()

    # The desk's session ends, then the provider asks whether to end its own.
    _wait(browser, expected_conditions.url_contains(f"{provider.issuer}/session/end"))
    browser.find_element(By.CSS_SELECTOR, "button[name=logout]").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "sso-signed-out")))
    assert browser.current_url == f"{live_server.url}/sso/signed-out/"
    browser.get(f"{live_server.url}/admin/")
    assert "/admin/login/" in browser.current_url
    # The next person at this computer is asked for a password, not let in as Lena.
    browser.find_element(By.ID, "sso-signin").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "login")))
    assert browser.current_url.startswith(provider.issuer)


def test_a_session_the_provider_still_vouches_for_is_renewed_without_a_page(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
    session_refresh: None,
) -> None:
    sso_settings(OIDC_SESSION_REFRESH_SECONDS=str(REFRESH_SECONDS))
    provider.account("mia", email="mia@example.org", groups=["desk-agents"])
    _sign_in(browser, live_server, provider, "mia")
    identity = Identity.objects.get(user__email="mia@example.org")
    first_expiry = _session(browser)["oidc_id_token_expiration"]
    time.sleep(REFRESH_SECONDS + 0.2)

    browser.get(f"{live_server.url}{TICKETS}?q=printer")

    # Through the provider (prompt=none) and back to the page asked for, signed in.
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "user-tools")))
    assert browser.current_url == f"{live_server.url}{TICKETS}?q=printer"
    session = _session(browser)
    assert session["oidc_id_token_expiration"] > first_expiry + REFRESH_SECONDS
    assert session["_auth_user_id"] == str(identity.user_id)
    identity.refresh_from_db()
    assert identity.last_signed_in is not None
    assert not session.get("oidc_states")


def test_a_person_disabled_at_the_provider_is_signed_out_at_the_next_page(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    provider: Provider,
    sso_settings: SsoSettings,
    session_refresh: None,
) -> None:
    sso_settings(OIDC_SESSION_REFRESH_SECONDS=str(REFRESH_SECONDS))
    provider.account("ned", email="ned@example.org", groups=["desk-agents"])
    _sign_in(browser, live_server, provider, "ned")
    # Within the refresh period nothing asks the provider.
    provider.disable("ned")
    browser.get(f"{live_server.url}{TICKETS}")
    assert browser.find_elements(By.ID, "user-tools")
    time.sleep(REFRESH_SECONDS + 0.2)

    browser.get(f"{live_server.url}{TICKETS}")

    refusal = _wait(
        browser, expected_conditions.presence_of_element_located((By.ID, "sso-refusal"))
    )
    assert refusal.text == (
        "Your session here has ended: Example ID no longer confirms that you are signed in "
        "there. Please sign in again."
    )
    assert browser.current_url.startswith(f"{live_server.url}/sso/callback/")
    assert browser.title.startswith("Error: Your session has ended")
    assert not violations(browser)
    screenshot(browser, "sso-session-ended", 1440)
    screenshot(browser, "sso-session-ended", 375)
    browser.set_window_size(1280, 1024)
    again = browser.find_element(By.LINK_TEXT, "Sign in again").get_attribute("href")
    assert again == f"{live_server.url}/sso/signin/?next=/admin/nixflow/ticket/"
    browser.get(f"{live_server.url}{TICKETS}")
    assert "/admin/login/" in browser.current_url
    # And signing in again is refused at the provider.
    browser.get(again or "")
    _wait(browser, expected_conditions.url_contains(provider.issuer))
    browser.find_element(By.ID, "login").send_keys("ned")
    browser.find_element(By.ID, "password").send_keys("provider-password")
    browser.find_element(By.ID, "submit").click()
    assert browser.find_element(By.ID, "error").text == "This account is disabled."
    assert User.objects.get(email="ned@example.org").is_active  # the desk's account stays
