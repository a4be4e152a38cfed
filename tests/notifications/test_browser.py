"""An agent's notifications in real headless chromium against a live server: the list
shows their own, unread in bold; opening one lands on the ticket's admin page and the
notification is read when they come back. And the agent's day as issue 17 asks: sign in
through the login page, see "My open tickets" on the desk with the database's count and
the unread count in the header, open the notifications from there, click one, land on
its ticket with the notification now read."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from nixflow import services
from nixflow.models import DONE_CATEGORIES, Stage, Ticket, User
from notifications.models import Kind, Notification
from notifications.selectors import unread_count
from tests.factories import TeamFactory
from tests.helpers import new_ticket
from tests.notifications.conftest import deliver
from tests.support.browser import browser, login

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
LIST = "/admin/notifications/notification/"


def test_an_agent_opens_a_notification_and_lands_on_the_ticket(
    browser: WebDriver, live_server: object, requester: User, alice: User, bob: User
) -> None:
    ticket = new_ticket(requester, title="Projector hums")
    services.ticket_assign(ticket=ticket, assignee=bob, actor=alice)
    services.comment_create(ticket=ticket, author=alice, body="@bob it is loud", is_internal=True)
    deliver()
    base = str(live_server)
    login(browser, base, "bob", PASSWORD)
    browser.get(base + LIST)
    unread = browser.find_elements(By.CSS_SELECTOR, "strong.nf-unread")
    assert [u.text for u in unread] == [
        f"alice mentioned you in an internal note on {ticket.key}",
        f"alice assigned {ticket.key} to you",
    ]
    browser.find_element(By.LINK_TEXT, f"alice assigned {ticket.key} to you").click()
    change = f"/admin/nixflow/ticket/{ticket.pk}/change/"
    WebDriverWait(browser, 15).until(expected_conditions.url_contains(change))
    assert "Projector hums" in browser.page_source
    browser.get(base + LIST)
    still_unread = browser.find_elements(By.CSS_SELECTOR, "strong.nf-unread")
    assert [u.text for u in still_unread] == [
        f"alice mentioned you in an internal note on {ticket.key}"
    ]


def _header_badge(driver: WebDriver) -> str:
    link = driver.find_element(By.CSS_SELECTOR, '#user-tools [data-testid="unread-notifications"]')
    badges = link.find_elements(By.CSS_SELECTOR, ".nf-badge")
    return badges[0].text if badges else ""


@pytest.fixture
def bobs_morning(requester: User, alice: User, bob: User, stages: dict[str, Stage]) -> Ticket:
    """Bob's desk when he signs in: in Support with alice, three tickets alice gave him
    (one resolved since), and a new unassigned ticket in Support, which it returns."""
    TeamFactory(name="Support", is_default=True, members=[alice, bob])
    assigned = [new_ticket(requester, title=f"Laptop {n}") for n in range(3)]
    for ticket in assigned:
        services.ticket_assign(ticket=ticket, assignee=bob, actor=alice)
    services.ticket_transition(ticket=assigned[0], to_stage=stages["Resolved"], actor=alice)
    waiting = new_ticket(requester, title="Badge reader broken")
    deliver()
    return waiting


def test_an_agent_starts_the_day_on_the_desk_and_follows_a_notification_to_its_ticket(
    browser: WebDriver, live_server: object, bob: User, bobs_morning: Ticket
) -> None:
    waiting = bobs_morning
    mine = Ticket.objects.filter(assignee=bob).exclude(stage__category__in=DONE_CATEGORIES)
    assert mine.count() == 2  # the scene: two open, one resolved
    unread = unread_count(user=bob)
    assert unread == 5  # three assignments, one resolved, the new ticket in his team

    base = str(live_server)
    login(browser, base, "bob", PASSWORD)

    # The desk: "My open tickets" with the database's count, the unread count in the header.
    assert browser.current_url == f"{base}/admin/"
    count = browser.find_element(By.CSS_SELECTOR, '[data-testid="queue-mine-count"]')
    assert count.get_attribute("data-count") == str(mine.count())
    assert count.text == str(mine.count())
    assert "My open tickets" in browser.find_element(By.CSS_SELECTOR, ".nf-queues").text
    assert _header_badge(browser) == str(unread)

    # The header's link opens the list, newest first; the team's notice is on top.
    browser.find_element(By.CSS_SELECTOR, '[data-testid="unread-notifications"]').click()
    WebDriverWait(browser, 15).until(expected_conditions.url_contains(LIST))
    notice = f"New ticket {waiting.key} in Support, unassigned"
    listed = [u.text for u in browser.find_elements(By.CSS_SELECTOR, "strong.nf-unread")]
    assert listed[0] == notice
    assert len(listed) == unread

    browser.find_element(By.LINK_TEXT, notice).click()
    WebDriverWait(browser, 15).until(
        expected_conditions.url_contains(f"/admin/nixflow/ticket/{waiting.pk}/change/")
    )
    assert "Badge reader broken" in browser.page_source
    opened = Notification.objects.get(recipient=bob, kind=Kind.TEAM_UNASSIGNED)
    assert opened.read_at is not None
    assert _header_badge(browser) == str(unread - 1) == str(unread_count(user=bob))
