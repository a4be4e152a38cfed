"""The rule page in chromium: rows added with the page's button, a condition's values
narrowed to its field, an action's parameters shown for its type only, a dry run of the
unsaved edit, then the save. Screenshots at 1440 and 375 px go to
``var/screenshots/automation-rule-*``."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from automation.models import Rule
from nixflow.models import Priority, Tag, TicketField, User
from tests.factories import AdminFactory, TeamFactory, TicketFactory
from tests.support.browser import browser, login, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def visible(driver: WebDriver, name: str) -> bool:
    return bool(driver.find_element(By.NAME, name).is_displayed())


def option_shown(driver: WebDriver, name: str, value: str) -> bool:
    select = driver.find_element(By.NAME, name)
    option = select.find_element(By.CSS_SELECTOR, f'option[value="{value}"]')
    return not option.get_attribute("hidden")


def test_an_admin_writes_dry_runs_and_saves_a_rule(browser: WebDriver, live_server: object) -> None:
    base = live_server.url  # type: ignore[attr-defined]
    admin: User = AdminFactory.create(username="boss")
    team = TeamFactory.create(name="Tier 2")
    Tag.objects.get_or_create(name="vip")
    TicketField.objects.create(
        name="order_type", label="Order type", type="choice", choices=["new", "return"]
    )
    TicketFactory.create(priority=Priority.HIGH, title="Checkout fails")
    TicketFactory.create(priority=Priority.LOW)
    login(browser, base, admin.username, PASSWORD)  # type: ignore[arg-type]

    for width in (1440, 375):
        browser.set_window_size(width, 1000)
        browser.get(f"{base}/admin/automation/rule/add/")
        browser.find_element(By.NAME, "name").send_keys(f"High to Tier 2 ({width})")
        Select(browser.find_element(By.NAME, "trigger")).select_by_value("ticket_created")

        # A condition: the values offered are the chosen field's.
        Select(browser.find_element(By.NAME, "conditions-0-field")).select_by_value("priority")
        assert option_shown(browser, "conditions-0-value_choice", "priority=HIGH")
        assert not option_shown(browser, "conditions-0-value_choice", "tags=vip")
        assert not visible(browser, "conditions-0-value")
        Select(browser.find_element(By.NAME, "conditions-0-value_choice")).select_by_value(
            "priority=HIGH"
        )
        # A second condition added with the button, on a free-text field.
        browser.find_element(By.CSS_SELECTOR, "[data-rows=conditions] .rule-add-row").click()
        Select(browser.find_element(By.NAME, "conditions-1-field")).select_by_value("title")
        Select(browser.find_element(By.NAME, "conditions-1-op")).select_by_value("contains")
        assert visible(browser, "conditions-1-value")
        assert not visible(browser, "conditions-1-value_choice")
        browser.find_element(By.NAME, "conditions-1-value").send_keys("checkout")

        # An action shows its own parameters only.
        assert not visible(browser, "actions-0-team")
        Select(browser.find_element(By.NAME, "actions-0-type")).select_by_value("set_team")
        assert visible(browser, "actions-0-team")
        assert not visible(browser, "actions-0-priority")
        assert not visible(browser, "actions-0-body")
        Select(browser.find_element(By.NAME, "actions-0-team")).select_by_value(str(team.pk))
        browser.find_element(By.CSS_SELECTOR, "[data-rows=actions] .rule-add-row").click()
        Select(browser.find_element(By.NAME, "actions-1-type")).select_by_value("add_note")
        assert visible(browser, "actions-1-body")
        browser.find_element(By.NAME, "actions-1-body").send_keys("Escalated: {{ ticket.key }}")

        browser.find_element(By.NAME, "_dry_run").click()
        result = browser.find_element(By.CSS_SELECTOR, ".rule-dry-run").text
        assert "Dry run: 1 of 2 tickets of the last 30 days would have matched." in result
        assert "Checkout fails" in result
        assert not Rule.objects.filter(name__endswith=f"({width})").exists()
        # The edit came back as it was, rows and their visibility included.
        assert browser.find_element(By.NAME, "conditions-1-value").get_attribute("value") == (
            "checkout"
        )
        assert visible(browser, "actions-0-team")
        screenshot(browser, "automation-rule-dry-run", width)  # type: ignore[arg-type]

        browser.find_element(By.NAME, "_save").click()
        browser.find_element(By.CSS_SELECTOR, "#result_list")
        rule = Rule.objects.get(name=f"High to Tier 2 ({width})")
        assert rule.conditions == [
            {"field": "priority", "op": "is", "value": "HIGH"},
            {"field": "title", "op": "contains", "value": "checkout"},
        ]
        assert rule.actions == [
            {"type": "set_team", "team": team.pk},
            {"type": "add_note", "body": "Escalated: {{ ticket.key }}"},
        ]
        screenshot(browser, "automation-rule-list", width)  # type: ignore[arg-type]
        browser.get(f"{base}/admin/automation/rule/{rule.pk}/change/")
        screenshot(browser, "automation-rule-change", width)  # type: ignore[arg-type]
