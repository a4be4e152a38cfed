"""In Debian's headless chromium: a signed-in requester opens their ticket from "My
requests", replies with a file and sees it in the conversation; the list, ticket and new
request pages have no axe-core violations (WCAG 2.1 AA) at 375 and 1440 px. Screenshots
under var/screenshots/portal-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from nixflow import services
from nixflow.models import Comment
from tests.portal.conftest import INTERNAL_MARKER
from tests.support.axe import assert_accessible
from tests.support.browser import browser, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def sign_in(driver: webdriver.Chrome, base_url: str, user: Any) -> None:
    """The person's session, made by the test client, in the browser's cookie jar (the
    sign-in pages have their own browser test)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    driver.delete_all_cookies()
    driver.get(f"{base_url}/static/portal/portal.css")  # any page of the origin first
    driver.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "path": "/"})


def test_a_requester_replies_with_a_file(
    live_server: LiveServer, browser: webdriver.Chrome, portal_scene: Any, tmp_path: Path
) -> None:
    ticket = portal_scene.ticket
    sign_in(browser, live_server.url, portal_scene.ana)
    browser.set_window_size(1440, 900)
    browser.get(f"{live_server.url}/portal/")
    assert browser.title.startswith("My requests")
    screenshot(browser, "portal-list", 1440)
    screenshot(browser, "portal-list", 375)
    browser.find_element(By.LINK_TEXT, ticket.title).click()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains(ticket.key))
    assert "manual feed tray" in browser.find_element(By.TAG_NAME, "main").text
    assert INTERNAL_MARKER not in browser.page_source

    log = tmp_path / "printer-log.txt"
    log.write_text("paper jam at tray 2\n")
    browser.find_element(By.ID, "reply-body").send_keys("Here is the printer's log.")
    browser.find_element(By.ID, "reply-files").send_keys(str(log))
    browser.find_element(By.CSS_SELECTOR, ".reply-form button[type=submit]").click()
    WebDriverWait(browser, 10).until(
        expected_conditions.text_to_be_present_in_element(
            (By.CSS_SELECTOR, ".portal-messages"), "Your reply was sent."
        )
    )
    assert "printer-log.txt" in browser.find_element(By.CSS_SELECTOR, ".conversation").text
    comment = Comment.objects.get(body="Here is the printer's log.")
    assert comment.attachments.get().filename == "printer-log.txt"
    screenshot(browser, "portal-ticket", 1440)
    screenshot(browser, "portal-ticket", 375)


def test_portal_pages_have_no_accessibility_violations(
    live_server: LiveServer, browser: webdriver.Chrome, portal_scene: Any
) -> None:
    sign_in(browser, live_server.url, portal_scene.ana)
    base = f"{live_server.url}/portal"
    assert_accessible(browser, f"{base}/")
    assert_accessible(browser, f"{base}/?status=all&q=feed")
    assert_accessible(browser, f"{base}/tickets/{portal_scene.ticket.key}/")
    assert_accessible(browser, f"{base}/new/")
    assert_accessible(browser, f"{base}/new/?subject=printer+jams")
    browser.get(f"{base}/new/")
    screenshot(browser, "portal-new", 1440)
    screenshot(browser, "portal-new", 375)
    # A resolved request, with its "Reopen" button, and a follower's view.
    ticket = portal_scene.ticket
    resolved = ticket.workflow.stages.get(category="RESOLVED")
    services.ticket_transition(ticket=ticket, to_stage=resolved, actor=portal_scene.ada)
    assert_accessible(browser, f"{base}/tickets/{ticket.key}/")
    screenshot(browser, "portal-ticket-resolved", 375)
    sign_in(browser, live_server.url, portal_scene.wes)
    assert_accessible(browser, f"{base}/?status=all")
    assert_accessible(browser, f"{base}/tickets/{ticket.key}/")


def test_suggestions_appear_as_the_requester_types(
    live_server: LiveServer, browser: webdriver.Chrome, portal_scene: Any
) -> None:
    from tests.knowledge.factories import ArticleFactory

    ArticleFactory(
        title="Clear a printer paper jam",
        slug="printer-paper-jam",
        body="When the printer jams, open tray two and remove the paper.",
    )
    sign_in(browser, live_server.url, portal_scene.ana)
    browser.set_window_size(375, 900)
    browser.get(f"{live_server.url}/portal/new/")
    assert not browser.find_element(By.CSS_SELECTOR, ".find-answers").is_displayed()
    browser.find_element(By.ID, "new-subject").send_keys("printer jam")
    WebDriverWait(browser, 10).until(
        expected_conditions.text_to_be_present_in_element(
            (By.ID, "suggestions"), "Clear a printer paper jam"
        )
    )
    screenshot(browser, "portal-new-suggestions", 375)
    browser.find_element(By.LINK_TEXT, "Clear a printer paper jam").click()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("printer paper jam"))
    from portal.models import DeflectionAttempt

    assert DeflectionAttempt.objects.get().first_opened_at is not None
