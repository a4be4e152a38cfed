"""In Debian's headless chromium: a requester asks for a sign-in link, opens the link
from the mail, signs in with the button and sets a password; the sign-in, link and
settings pages have no axe-core violations (WCAG 2.1 AA) at 375 and 1440 px."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from eventlog import outbox
from nixflow.models import User
from nixflow.services import requester_get_or_create
from portal import access
from tests.support.axe import WIDTHS, assert_accessible, violations
from tests.support.browser import browser, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

LINK = re.compile(r"https?://[^/\s]+(/portal/signin/link/[^/\s]+/[^/\s]+/(?:\?next=\S+)?)")
NEW = "a much longer passphrase 2026"


def assert_shown_page_accessible(driver: webdriver.Chrome) -> None:
    """The page the driver shows now (a POST's answer, which a reload would lose)."""
    for width in WIDTHS:
        driver.set_window_size(width, 900)
        found = violations(driver)
        assert not found, f"{driver.current_url} at {width} px: {found}"


def wait_for_text(driver: webdriver.Chrome, text: str) -> None:
    """The page after a POST says ``text`` (its title is the same as before the POST, so
    waiting for the title could read the old page while the new one loads)."""
    WebDriverWait(driver, 15).until(
        expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "main"), text)
    )


def wait_for_title(driver: webdriver.Chrome, text: str) -> None:
    WebDriverWait(driver, 10).until(expected_conditions.title_contains(text))


def test_a_requester_signs_in_with_a_mailed_link_and_sets_a_password(
    live_server: LiveServer, browser: webdriver.Chrome
) -> None:
    nina, _ = requester_get_or_create(email="nina@example.com", name="Nina Neu")
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/portal/signin/")
    assert browser.title.startswith("Sign in")
    screenshot(browser, "portal-signin", 1440)
    screenshot(browser, "portal-signin", 375)

    browser.find_element(By.ID, "id_email").send_keys("nina@example.com")
    browser.find_element(By.CSS_SELECTOR, "input[value=link] ~ button").click()
    wait_for_title(browser, "Check your mail")
    assert "nina@example.com" in browser.find_element(By.TAG_NAME, "main").text
    screenshot(browser, "portal-link-sent", 375)

    outbox.run_inline()  # the relay and a worker: the mail goes out
    [message] = mail.outbox
    found = LINK.search(str(message.body))
    assert found is not None, message.body
    browser.get(live_server.url + found.group(1))
    assert "This link signs you in as Nina Neu." in browser.find_element(By.TAG_NAME, "main").text
    screenshot(browser, "portal-link", 1440)
    screenshot(browser, "portal-link", 375)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()

    # Lands on the requester's list, or on the settings until the portal has one.
    WebDriverWait(browser, 10).until(lambda d: "/signin/" not in d.current_url)
    assert browser.current_url.rstrip("/").endswith(("/portal", "/portal/settings"))
    nina.refresh_from_db()
    assert nina.last_login is not None

    browser.get(f"{live_server.url}/portal/settings/")
    wait_for_title(browser, "Your settings")
    Select(browser.find_element(By.ID, "id_time_zone")).select_by_value("Europe/Berlin")
    browser.find_element(By.CSS_SELECTOR, "input[value=profile] ~ button").click()
    wait_for_text(browser, "Your settings were saved.")
    browser.find_element(By.ID, "id_new_password1").send_keys(NEW)
    browser.find_element(By.ID, "id_new_password2").send_keys(NEW)
    browser.find_element(By.CSS_SELECTOR, "input[value=password] ~ button").click()
    wait_for_text(browser, "Your password was saved.")
    nina.refresh_from_db()
    assert nina.time_zone == "Europe/Berlin"
    assert nina.check_password(NEW)
    screenshot(browser, "portal-settings", 1440)
    screenshot(browser, "portal-settings", 375)


def test_the_account_pages_have_no_accessibility_violations(
    live_server: LiveServer, browser: webdriver.Chrome
) -> None:
    nina, _ = requester_get_or_create(email="nina@example.com", name="Nina Neu")
    base = live_server.url
    browser.delete_all_cookies()
    assert_accessible(browser, f"{base}/portal/signin/")

    # With the errors shown: a bad address and a wrong password.
    browser.get(f"{base}/portal/signin/")
    browser.find_element(By.ID, "id_email").send_keys("not an address")
    browser.find_element(By.CSS_SELECTOR, "input[value=link] ~ button").click()
    wait_for_title(browser, "Error:")
    assert_shown_page_accessible(browser)  # as the POST answered it, errors included
    screenshot(browser, "portal-signin-error", 375)

    link = access.link_path(user=nina, token=access.signin_tokens.make_token(nina))
    assert_accessible(browser, base + link)
    assert_accessible(browser, f"{base}/portal/signin/link/MQ/bad-token/")
    assert_accessible(browser, f"{base}/portal/signin/link/")

    browser.get(base + link)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "/signin/" not in d.current_url)
    assert_accessible(browser, f"{base}/portal/settings/")
    assert_accessible(browser, f"{base}/portal/signout/")
    assert User.objects.get(pk=nina.pk).last_login is not None
