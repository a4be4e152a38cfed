"""The desk as an agent meets it: real headless chromium against a live server.

The agent signs in through the login page, lands on the desk (the admin's home page),
finds each queue's count equal to the database's, opens "My open tickets" and finds the
list's count and its first rows equal to the database's, in the list's order. The
``browser`` fixture fails, never skips, when chromium is missing (scripts/browser_deps.sh).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib import admin
from django.test import RequestFactory
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from nixflow import services
from nixflow.models import Priority, Role, Stage, Ticket, User
from nixflow.toolkit import queues
from sla import services as sla_services
from tests.factories import UserFactory
from tests.sla.factories import SLAPolicyFactory
from tests.support.browser import browser, login

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

M = timedelta(minutes=1)
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


@pytest.fixture
def desk(agent: User, requester: User, stages: dict[str, Stage]) -> dict[str, list[Ticket]]:
    """Relative to the real clock (the live server reads it), under a 24x7 policy
    (NORMAL: first response 60 min): seven open tickets of the agent and a resolved one,
    two of a colleague, three unassigned of which one at risk and one breached."""
    SLAPolicyFactory(name="Standard", targets={Priority.NORMAL: (60, 30, 480)})
    colleague = UserFactory(username="colleague", role=Role.AGENT)
    now = timezone.now()

    def opened(minutes_ago: int, assignee: User | None = None) -> Ticket:
        with time_machine.travel(now - minutes_ago * M, tick=False):
            return services.ticket_create(
                requester=requester,
                title=f"Opened {minutes_ago} minutes ago",
                actor=agent,
                assignee=assignee,
            )

    mine = [opened(minutes, agent) for minutes in (3, 7, 12, 20, 26, 31, 40)]
    resolved = opened(15, agent)
    services.ticket_transition(ticket=resolved, to_stage=stages["Resolved"], actor=agent)
    services.ticket_transition(ticket=mine[2], to_stage=stages["Open"], actor=agent)
    theirs = [opened(5, colleague), opened(9, colleague)]
    unassigned = [opened(8), opened(50), opened(120)]  # plain, at risk, breached
    sla_services.sla_scan(now=timezone.now())
    return {"mine": mine, "theirs": theirs, "unassigned": unassigned}


def _testid(driver: WebDriver, testid: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text


def _listed_count(driver: WebDriver) -> str:
    """The ticket list's count ("7 tickets", "10,000+ tickets"): its number."""
    text = driver.find_element(By.CSS_SELECTOR, ".paginator").text
    match = re.search(r"([\d,]+\+?) tickets?\b", text)
    assert match, text
    return match.group(1)


def test_an_agent_signs_in_to_the_desk_and_opens_my_open_tickets(
    browser: WebDriver, live_server: object, agent: User, desk: dict[str, list[Ticket]]
) -> None:
    login(browser, live_server.url, agent.username, PASSWORD)

    # Signing in lands on the desk.
    assert browser.current_url == f"{live_server.url}/admin/"
    assert browser.title == "Desk | NixFlow"
    assert browser.find_element(By.ID, "site-name").text.endswith("NixFlow")
    shown = {
        queue.slug: _testid(browser, f"queue-{queue.slug}-count")
        for queue in queues.queues_for(agent)
    }
    in_database = {
        queue.slug: str(queues.capped_count(queue.queryset(agent)))
        for queue in queues.queues_for(agent)
    }
    assert shown == in_database
    # And by hand, so that a queue that lost its tickets fails too.
    assert shown == {
        "mine": "7",
        "team-unassigned": "0",  # no teams here (tests/core/test_views.py has them)
        "team-open": "0",
        "waiting": "0",
        "requester-replied": "0",
        "unassigned": "3",
        "at-risk": "1",
        "breaching-soon": "7",  # the agent's seven: first responses due within the hour
        "breached": "1",
    }

    browser.find_element(By.CSS_SELECTOR, '[data-testid="queue-mine"]').click()

    assert browser.current_url == f"{live_server.url}/admin/nixflow/ticket/?queue=mine"
    assert _listed_count(browser) == shown["mine"]
    # The rows, in the list's own order (its ordering, then the primary key as Django's
    # changelist adds), against the database.
    request = RequestFactory().get("/admin/nixflow/ticket/")
    request.user = agent
    ordering = admin.site.get_model_admin(Ticket).get_ordering(request)
    queue = queues.get_queue("mine")
    assert queue is not None
    expected = [t.key for t in queue.queryset(agent).order_by(*ordering, "-pk")[:5]]
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    keys = [row.find_element(By.CSS_SELECTOR, "th a, td a").text for row in rows]
    assert keys[:5] == expected
    assert set(keys) == {ticket.key for ticket in desk["mine"]}
