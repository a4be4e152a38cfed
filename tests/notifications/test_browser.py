"""An agent's notifications in real headless chromium against a live server: the list
shows their own, unread in bold; opening one lands on the ticket's admin page and the
notification is read when they come back."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from nixflow import services
from nixflow.models import User
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
