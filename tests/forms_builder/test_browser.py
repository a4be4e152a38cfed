"""A real headless browser (Debian's chromium) fills in a published form with a file,
sees the error for a bad value, fixes it, and the ticket appears for the desk."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from forms_builder.models import CustomForm, FormSubmission, FormSubmissionStatus
from nixflow.models import Attachment, Role, Ticket
from tests.factories import UserFactory
from tests.forms_builder.factories import PNG
from tests.support.browser import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def wait_for_title(driver: webdriver.Chrome, text: str) -> None:
    WebDriverWait(driver, 10).until(expected_conditions.title_contains(text))


def test_a_requester_submits_the_form_page_with_a_file_and_the_ticket_appears(
    live_server: LiveServer, browser: webdriver.Chrome, public_form: CustomForm, tmp_path: Path
) -> None:
    screenshot = tmp_path / "vpn-error.png"
    screenshot.write_bytes(PNG)
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/forms/{public_form.slug}/")
    assert browser.title == "Report an outage · NixFlow"

    # The conditional question appears only once "Everyone" is chosen (the page's script).
    affected = browser.find_element(By.ID, "field-affected")
    assert not affected.is_displayed()
    browser.find_element(By.ID, "id_submitter_email").send_keys("ann(at)example.com")
    Select(browser.find_element(By.ID, "id_service")).select_by_visible_text("VPN")
    browser.find_element(By.CSS_SELECTOR, "label[for=id_impact_1]").click()
    assert affected.is_displayed()
    browser.find_element(By.ID, "id_affected").send_keys("40")
    browser.find_element(By.ID, "id_details").send_keys("The VPN client times out.")
    browser.find_element(By.ID, "id_screenshot").send_keys(str(screenshot))
    browser.find_element(By.CSS_SELECTOR, "form[data-nf-form] button[type=submit]").click()

    # The server's message for the bad address, at the top and on the field.
    wait_for_title(browser, "Error:")
    summary = browser.find_element(By.ID, "error-summary")
    assert "Your e-mail address: Enter a valid e-mail address" in summary.text
    email = browser.find_element(By.ID, "id_submitter_email")
    assert email.get_attribute("aria-invalid") == "true"
    assert "id_submitter_email-error" in email.get_attribute("aria-describedby")
    assert browser.find_element(By.ID, "id_affected").get_attribute("value") == "40"
    assert not FormSubmission.objects.exists()

    email.clear()
    email.send_keys("ann@example.com")
    browser.find_element(By.ID, "id_screenshot").send_keys(str(screenshot))  # not kept
    browser.find_element(By.CSS_SELECTOR, "form[data-nf-form] button[type=submit]").click()

    wait_for_title(browser, "sent")
    ticket = Ticket.objects.get()
    reference = browser.find_element(By.CLASS_NAME, "ticket-key").text
    assert reference == ticket.key
    assert ticket.title == "Outage: VPN (Everyone)"
    assert ticket.requester.email == "ann@example.com"
    assert Attachment.objects.get(comment__ticket=ticket).filename == "vpn-error.png"
    submission = FormSubmission.objects.get()
    assert submission.status == FormSubmissionStatus.CONVERTED
    assert submission.data["affected"] == 40

    # The desk sees it: an agent finds the ticket in the admin.
    UserFactory(username="desk", role=Role.AGENT)
    login(browser, live_server.url, "desk", "correct horse battery staple")
    browser.get(f"{live_server.url}/admin/nixflow/ticket/")
    assert "Outage: VPN (Everyone)" in browser.find_element(By.ID, "result_list").text
