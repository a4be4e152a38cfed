"""Custom fields as an agent sees them in a real browser (headless chromium against a
live server): the ticket page's "Custom fields" section, filled in and saved, and the
ticket list filtered by a field. Screenshots at 1440 px and 375 px go to
``var/screenshots/custom-fields-*.png`` for a person to look at."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from nixflow import services
from nixflow.models import FieldType, Role, Ticket
from tests.factories import UserFactory
from tests.helpers import new_ticket
from tests.support.browser import browser, login, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def test_an_agent_fills_custom_fields_and_filters_the_list_by_one(
    browser: WebDriver, live_server: object
) -> None:
    base = str(live_server)
    agent = UserFactory(username="ada", role=Role.AGENT)
    requester = UserFactory(username="rob", role=Role.REQUESTER)
    for name, label, kind, choices in [
        ("root_cause", "Root cause", FieldType.CHOICE, ["Disk", "Network", "Power"]),
        ("order_number", "Order number", FieldType.TEXT, []),
        ("affected", "Affected systems", FieldType.MULTIPLE_CHOICE, ["Mail", "VPN", "Wiki"]),
        ("cost", "Cost", FieldType.DECIMAL, []),
        ("confirmed", "Customer confirmed", FieldType.CHECKBOX, []),
    ]:
        services.ticket_field_create(
            actor=None,
            data={"name": name, "label": label, "type": kind, "choices": choices},
        )
    ticket = new_ticket(requester, title="Mail is down for the whole floor")
    new_ticket(requester, title="Printer jam")

    login(browser, base, agent.username, PASSWORD)
    browser.get(f"{base}/admin/nixflow/ticket/{ticket.pk}/change/")
    Select(browser.find_element(By.NAME, "cf_root_cause")).select_by_visible_text("Disk")
    browser.find_element(By.NAME, "cf_order_number").send_keys("A-1042")
    browser.find_element(By.CSS_SELECTOR, "input[name=cf_affected][value=Mail]").click()
    browser.find_element(By.NAME, "cf_cost").send_keys("12.50")
    for width in (1440, 375):
        screenshot(browser, "custom-fields-ticket", width)
    browser.set_window_size(1440, 1000)
    browser.find_element(By.NAME, "_continue").click()

    assert "was changed successfully" in browser.find_element(By.CLASS_NAME, "messagelist").text
    ticket.refresh_from_db()
    assert ticket.custom_fields == {
        "root_cause": "Disk",
        "order_number": "A-1042",
        "affected": ["Mail"],
        "cost": "12.5",
    }

    browser.get(f"{base}/admin/nixflow/ticket/?field.root_cause=Disk")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    assert "Mail is down" in rows[0].text
    assert Ticket.objects.count() == 2
    for width in (1440, 375):
        screenshot(browser, "custom-fields-list", width)
