"""The collision warning between two signed-in browsers (docs/collision.md): real
headless chromium, two sessions of two agents on the same ticket's page against a live
server. Ben sees Ana viewing, then writing a reply once she types in the composer, then
the warning that the ticket got a new public reply since his page was loaded; all with
the page's Content-Security-Policy (no inline script) and no console error."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from nixflow import services
from nixflow.models import Role, Ticket, User
from nixflow.services import presence
from tests.factories import UserFactory
from tests.support.browser import CHROMEDRIVER, CHROMIUM, browser, login

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
# Where the screenshots go (looked at when the page changes); a temporary directory
# unless NIXFLOW_SCREENSHOTS names one.
SCREENSHOTS = os.environ.get("NIXFLOW_SCREENSHOTS")


@pytest.fixture
def second_browser() -> Iterator[WebDriver]:
    """Another chromium with its own cookies: a second person's browser."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1440,1000")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def fast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    # The live server runs in this process: its pages tell presence.js to beat every
    # second, so that the test waits seconds, not tens of seconds.
    monkeypatch.setattr(presence, "HEARTBEAT_SECONDS", 1)


def _presence(driver: WebDriver) -> str:
    return driver.find_element(By.CSS_SELECTOR, '[data-testid="presence"]').text


def _wait_for_text(
    driver: WebDriver, text: str, selector: str = '[data-testid="presence"]'
) -> None:
    WebDriverWait(driver, 15).until(
        expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text)
    )


def _shoot(driver: WebDriver, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a page, not a blank
    return path


def test_two_agents_on_one_ticket_see_each_other_and_a_new_reply(
    browser: WebDriver,
    second_browser: WebDriver,
    live_server: object,
    requester: User,
    tmp_path: Path,
) -> None:
    ana = UserFactory(username="ana", first_name="Ana", last_name="Lima", role=Role.AGENT)
    UserFactory(username="ben", first_name="Ben", last_name="Ode", role=Role.AGENT)
    ticket: Ticket = services.ticket_create(
        requester=requester, title="VPN drops every hour", actor=requester
    )
    page = f"{live_server.url}/admin/nixflow/ticket/{ticket.pk}/change/"  # type: ignore[attr-defined]

    login(browser, live_server.url, "ana", PASSWORD)  # type: ignore[attr-defined]
    browser.get(page)
    assert "Nobody else has this ticket open." in _presence(browser)

    login(second_browser, live_server.url, "ben", PASSWORD)  # type: ignore[attr-defined]
    second_browser.get(page)
    # Rendered by the server: Ana's page load was her first beat.
    assert _presence(second_browser) == "Ana Lima is viewing"
    # And Ana's page learns of Ben at its next beat.
    _wait_for_text(browser, "Ben Ode is viewing")

    # Ana starts a reply: her page says so at once, Ben's shows it at its next beat.
    browser.find_element(By.CSS_SELECTOR, '#reply-composer textarea[name="reply_body"]').send_keys(
        "Hello, could you try"
    )
    _wait_for_text(second_browser, "Ana Lima is writing a reply")
    assert second_browser.find_element(By.CSS_SELECTOR, ".nf-presence-composing").text == (
        "Ana Lima is writing a reply"
    )
    warning = second_browser.find_element(By.CSS_SELECTOR, '[data-testid="presence-changed"]')
    assert not warning.is_displayed()

    # The requester answers meanwhile: both pages warn before anyone replies to old news.
    services.comment_create(ticket=ticket, author=requester, body="It works again, thanks")
    for driver in (browser, second_browser):
        _wait_for_text(
            driver,
            "This ticket has a new public reply since you opened it",
            '[data-testid="presence-changed"]',
        )
    assert ana.presence.get().composing  # her draft is still being written

    directory = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    for width in (1440, 375):
        second_browser.set_window_size(width, 1000)
        second_browser.execute_script(
            "document.querySelector('[data-panel=\"who-else-is-here\"]').scrollIntoView();"
            "window.scrollBy(0, -80);"
        )
        _shoot(second_browser, directory, f"presence-{width}")

    # Leaving the page takes Ana off Ben's list at once (not after the freshness window).
    browser.get(f"{live_server.url}/admin/")  # type: ignore[attr-defined]
    _wait_for_text(second_browser, "Nobody else has this ticket open.")

    # The script ran under the page's CSP without a violation or an error (the live
    # server has no favicon: the browser's own request for it is not the page's).
    errors = [
        entry["message"]
        for entry in second_browser.get_log("browser")
        if (entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"])
        and "favicon.ico" not in entry["message"]
    ]
    assert errors == []
