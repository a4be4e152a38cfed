"""The SLA dashboard as an agent sees it: real headless chromium against a live server.

The page must show the database's figures: each number on the page is compared with
``sla_summary`` read from the same database (and with the hand-counted value), the trend
chart must draw 30 bars, and acknowledging a breach must work in a real browser (CSRF
cookie, form, redirect, message). The ``browser`` fixture fails, never skips, when
chromium is missing: ``make test`` installs it (scripts/browser_deps.sh).
"""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
import time_machine
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from nixflow import services
from nixflow.models import Stage, Ticket, User
from sla import services as sla_services
from sla.dashboard import dashboard_context
from sla.models import SLABreach, SLAPolicy
from sla.selectors import sla_summary
from tests.sla.conftest import open_ticket
from tests.support.browser import browser, login

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
URL = "/admin/sla/dashboard/"


@pytest.fixture
def desk(
    policy: SLAPolicy, requester: User, agent: User, stages: dict[str, Stage]
) -> dict[str, Ticket]:
    """Two answered tickets (one late) and two at risk, relative to the real clock (the
    live server reads it): Standard is 24x7, first response 60 min, resolution 8 h."""
    now = timezone.now()

    def at(moment: object) -> time_machine.travel:
        return time_machine.travel(moment, tick=False)

    late, on_time = now - 3 * D, now - 2 * D
    with at(late):
        tickets = {"late": open_ticket(requester)}
    with at(late + 90 * M):  # first response breached
        services.comment_create(ticket=tickets["late"], author=agent, body="Sorry")
    with at(late + 2 * H):  # resolution met
        services.ticket_transition(ticket=tickets["late"], to_stage=stages["Resolved"], actor=agent)
    with at(on_time):
        tickets["on_time"] = open_ticket(requester)
    with at(on_time + 10 * M):
        services.comment_create(ticket=tickets["on_time"], author=agent, body="Done")
    with at(on_time + 1 * H):
        services.ticket_transition(
            ticket=tickets["on_time"], to_stage=stages["Resolved"], actor=agent
        )
    with at(now - 55 * M):
        tickets["five_left"] = open_ticket(requester)
    with at(now - 50 * M):
        tickets["ten_left"] = open_ticket(requester)
    sla_services.sla_scan(now=now)
    return tickets


def _log_in(driver: WebDriver, base_url: str, user: User) -> None:
    """Log in and wait for the logged-in page: a page requested before the login POST
    has finished would cancel it."""
    login(driver, base_url, user.username, PASSWORD)
    driver.find_element(By.ID, "user-tools")  # waits (the driver's implicit wait)


def _text(driver: WebDriver, testid: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text


def test_an_agent_reaches_the_dashboard_from_the_admin_index_and_sees_the_figures(
    browser: WebDriver,
    live_server: object,
    agent: User,
    policy: SLAPolicy,
    desk: dict[str, Ticket],
) -> None:
    _log_in(browser, live_server.url, agent)
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.CSS_SELECTOR, '[data-testid="sla-dashboard-link"]').click()

    assert browser.current_url == f"{live_server.url}{URL}"
    assert browser.find_element(By.TAG_NAME, "h1").text == "SLA dashboard"
    summary = sla_summary()
    expected = dashboard_context(summary)

    # Hand-counted: first response met once, breached once; resolution met twice.
    shown = {
        "compliance-overall-last_7_days": (expected["overall"][0]["percent"], "75.0%"),
        "compliance-overall-last_30_days": (expected["overall"][1]["percent"], "75.0%"),
        "compliance-metric-first_response-last_7_days": (
            expected["by_metric"][0]["windows"][0]["percent"],
            "50.0%",
        ),
        "compliance-metric-resolution-last_30_days": (
            expected["by_metric"][2]["windows"][1]["percent"],
            "100.0%",
        ),
        "compliance-metric-next_response-last_7_days": (
            expected["by_metric"][1]["windows"][0]["percent"],
            "—",
        ),
        f"compliance-policy-{policy.pk}-last_7_days": (
            expected["by_policy"][0]["windows"][0]["percent"],
            "75.0%",
        ),
        "unacknowledged-count": (str(expected["unacknowledged_count"]), "1"),
        "at-risk-count": (str(expected["at_risk_count"]), "2"),
        # First response 10 and 90 min; resolution 1 h and 2 h.
        "median-first-response": (expected["median_first_response"], "50 min"),
        "median-resolution": (expected["median_resolution"], "1 h 30 min"),
    }
    for testid, (from_database, by_hand) in shown.items():
        assert (testid, _text(browser, testid)) == (testid, from_database)
        assert (testid, from_database) == (testid, by_hand)

    at_risk = browser.find_elements(By.CSS_SELECTOR, '[data-testid="at-risk-row"]')
    assert [row.get_attribute("data-ticket") for row in at_risk] == [
        desk["five_left"].key,
        desk["ten_left"].key,
    ]
    assert [row.get_attribute("data-ticket") for row in at_risk] == [
        clock["ticket_key"] for clock in summary["at_risk"]["clocks"]
    ]

    bars = browser.find_elements(By.CSS_SELECTOR, '[data-testid="breach-trend"] .sla-bar')
    assert len(bars) == 30
    assert [int(bar.get_attribute("data-count")) for bar in bars] == [
        day["count"] for day in summary["breaches_per_day"]
    ]
    breach_day = (timezone.now() - 3 * D + 1 * H).astimezone(UTC).date()
    busy = [bar for bar in bars if bar.get_attribute("data-count") != "0"]
    assert [bar.get_attribute("data-date") for bar in busy] == [breach_day.isoformat()]
    assert busy[0].find_element(By.TAG_NAME, "title").get_attribute("textContent") == (
        f"{breach_day:%a %d %b %Y}: 1 breach"
    )
    # Drawn, not only present: the busiest day fills the plot, other days stay flat.
    fill = busy[0].find_element(By.CSS_SELECTOR, ".sla-bar-fill")
    assert fill.size["height"] > 50
    assert bars[0].find_element(By.CSS_SELECTOR, ".sla-bar-fill").size["height"] == 0


def test_an_agent_acknowledges_a_breach_in_the_browser(
    browser: WebDriver, live_server: object, agent: User, desk: dict[str, Ticket]
) -> None:
    breach = SLABreach.objects.get()
    _log_in(browser, live_server.url, agent)
    browser.get(f"{live_server.url}{URL}")

    row = browser.find_element(By.CSS_SELECTOR, f'[data-breach="{breach.pk}"]')
    row.find_element(By.NAME, "note").send_keys("Customer was told")
    row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    message = browser.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    assert message == f"Acknowledged the first response breach on {desk['late'].key}."
    assert _text(browser, "unacknowledged-count") == "0"
    breach.refresh_from_db()
    assert (breach.acknowledged_by, breach.acknowledgement_note) == (agent, "Customer was told")
