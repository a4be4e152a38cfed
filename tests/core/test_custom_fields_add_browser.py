"""The admin's add-ticket page in a real browser (headless chromium against a live
server): it shows the inputs of the chosen workflow's custom fields only (the others
hidden from everyone, screen readers included, and not sent), and the ticket is created
with the values of the inputs shown. Screenshots at 1440 px and 375 px go to
``var/screenshots/custom-fields-add-*.png`` for a person to look at."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from nixflow import services
from nixflow.models import FieldType, Role, Ticket, Workflow
from tests.factories import UserFactory, WorkflowFactory, default_workflow
from tests.support.axe import violations
from tests.support.browser import browser, login, message_containing, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def make_field(
    name: str, kind: str = FieldType.TEXT, *, workflows: list[Workflow], choices: list[str]
) -> None:
    label = name.replace("_", " ").capitalize()
    data = {"name": name, "label": label, "type": kind, "workflows": workflows}
    services.ticket_field_create(actor=None, data={**data, "choices": choices})


def shown(driver: WebDriver) -> list[str]:
    """The names of the custom field inputs on view (not hidden, not disabled)."""
    names = []
    # The rows of custom fields only (class field-cf_<name>): find_elements in a row
    # without a match would wait out the driver's implicit wait.
    for row in driver.find_elements(By.CSS_SELECTOR, ".form-row[class*='field-cf_']"):
        controls = row.find_elements(By.CSS_SELECTOR, "[name^=cf_]")
        if row.is_displayed():
            assert all(c.is_enabled() for c in controls), controls[0].get_attribute("name")
            names.append(str(controls[0].get_attribute("name")))
    return names


def hidden_and_disabled(driver: WebDriver, name: str) -> bool:
    control = driver.find_element(By.NAME, name)
    row = control.find_element(By.XPATH, "./ancestor::div[contains(@class, 'form-row')]")
    return row.get_attribute("hidden") is not None and not control.is_enabled()


def test_choosing_the_workflow_shows_its_fields_and_the_ticket_gets_the_shown_values(
    browser: WebDriver, live_server: object
) -> None:
    base = str(live_server)
    agent = UserFactory(username="ada", role=Role.AGENT)
    requester = UserFactory(username="rob", role=Role.REQUESTER)
    support = default_workflow()
    returns = WorkflowFactory(name="Returns", stages=["Received", "Refunded"])
    hardware = WorkflowFactory(name="Hardware", stages=["Booked", "Fixed"])
    make_field("order_number", workflows=[], choices=[])
    make_field("rma", workflows=[returns], choices=[])
    make_field("serial", workflows=[hardware, returns], choices=[])
    make_field("parts", FieldType.MULTIPLE_CHOICE, workflows=[hardware], choices=["Fan", "Disk"])
    make_field("sla_class", FieldType.CHOICE, workflows=[support], choices=["Gold", "Silver"])

    login(browser, base, agent.username, PASSWORD)
    browser.set_window_size(1440, 1000)
    # The requester's autocomplete is given by the address, as the admin allows.
    browser.get(f"{base}/admin/nixflow/ticket/add/?requester={requester.pk}")
    workflow = Select(browser.find_element(By.NAME, "workflow"))

    # "Default workflow" is chosen: its fields and every workflow's.
    assert shown(browser) == ["cf_order_number", "cf_sla_class"]
    assert hidden_and_disabled(browser, "cf_rma")
    assert hidden_and_disabled(browser, "cf_parts")

    workflow.select_by_visible_text("Hardware")
    assert shown(browser) == ["cf_order_number", "cf_parts", "cf_serial"]
    browser.find_element(By.NAME, "cf_serial").send_keys("SN-1")
    browser.find_element(By.CSS_SELECTOR, "input[name=cf_parts][value=Disk]").click()
    for width in (1440, 375):
        screenshot(browser, "custom-fields-add", width)
    browser.set_window_size(1440, 1000)
    assert violations(browser) == []  # axe-core, WCAG 2.1 AA, with rows hidden

    workflow.select_by_visible_text("Returns")
    assert shown(browser) == ["cf_order_number", "cf_rma", "cf_serial"]
    assert hidden_and_disabled(browser, "cf_parts")  # ticked, but not sent
    browser.find_element(By.NAME, "cf_rma").send_keys("R-7")
    browser.find_element(By.NAME, "cf_order_number").send_keys("A-17")

    # Back to "Default workflow" and to Returns: what was typed is kept.
    workflow.select_by_index(0)
    assert shown(browser) == ["cf_order_number", "cf_sla_class"]
    workflow.select_by_visible_text("Returns")
    assert browser.find_element(By.NAME, "cf_rma").get_attribute("value") == "R-7"

    browser.find_element(By.NAME, "title").send_keys("Broken fan, sent back")
    browser.find_element(By.NAME, "_save").click()

    message_containing(browser, "was added successfully")
    ticket = Ticket.objects.get(title="Broken fan, sent back")
    assert ticket.workflow == returns
    # The parts ticked under Hardware were hidden, so not sent: no "not a field of the
    # workflow" error, and no value.
    assert ticket.custom_fields == {"order_number": "A-17", "rma": "R-7", "serial": "SN-1"}


def test_the_custom_fields_section_is_hidden_when_the_workflow_has_none_of_them(
    browser: WebDriver, live_server: object
) -> None:
    base = str(live_server)
    agent = UserFactory(username="ada", role=Role.AGENT)
    returns = WorkflowFactory(name="Returns", stages=["Received", "Refunded"])
    make_field("rma", workflows=[returns], choices=[])
    default_workflow()

    login(browser, base, agent.username, PASSWORD)
    browser.set_window_size(1440, 1000)
    browser.get(f"{base}/admin/nixflow/ticket/add/")
    section = browser.find_element(By.NAME, "cf_rma").find_element(By.XPATH, "./ancestor::fieldset")

    assert section.get_attribute("hidden") is not None
    assert not section.is_displayed()
    Select(browser.find_element(By.NAME, "workflow")).select_by_visible_text("Returns")
    assert section.is_displayed()
    assert shown(browser) == ["cf_rma"]
