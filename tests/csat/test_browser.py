"""In Debian's chromium: the requester opens the good link of the mail, confirms with
the button, then comes back and adds a comment; every survey page has no axe-core
violations (WCAG 2.1 AA) at 375 and 1440 px. Screenshots in var/screenshots/csat-*."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from csat.models import Rating, Survey
from tests.support.axe import assert_accessible
from tests.support.browser import login, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def wait_for_title(driver: webdriver.Chrome, text: str) -> None:
    WebDriverWait(driver, 10).until(expected_conditions.title_contains(text))


def test_a_requester_rates_from_the_mail_and_adds_a_comment(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    mailed_survey: Survey,
    survey_links: Callable[[], dict[str, str]],
) -> None:
    good = live_server.url + survey_links()["good"]
    token = survey_links()["good"].split("/")[2]
    browser.delete_all_cookies()

    assert_accessible(browser, good)
    browser.set_window_size(1440, 900)
    browser.get(good)
    wait_for_title(browser, "How did we do?")
    assert browser.find_element(By.ID, "id_rating_0").is_selected()  # good, preselected
    assert not browser.find_element(By.ID, "id_rating_1").is_selected()
    assert not Rating.objects.exists()  # opening the link records nothing
    for width in (1440, 375):
        screenshot(browser, "csat-survey", width)

    browser.find_element(By.CSS_SELECTOR, ".survey-form button[type=submit]").click()
    wait_for_title(browser, "Thank you")
    assert "You rated the handling of" in browser.find_element(By.CSS_SELECTOR, "main").text
    assert Rating.objects.get().rating == "good"

    browser.find_element(By.LINK_TEXT, "Change your answer or add a comment").click()
    wait_for_title(browser, "How did we do?")
    assert "You answered" in browser.find_element(By.CSS_SELECTOR, "main").text
    browser.find_element(By.ID, "id_comment").send_keys("Quick and friendly, thank you.")
    browser.find_element(By.CSS_SELECTOR, ".survey-form button[type=submit]").click()
    wait_for_title(browser, "Thank you")
    assert "Quick and friendly" in browser.find_element(By.CSS_SELECTOR, "main").text
    rating = Rating.objects.get()
    assert (rating.rating, rating.comment) == ("good", "Quick and friendly, thank you.")
    for width in (1440, 375):
        screenshot(browser, "csat-thanks", width)

    thanks = f"{live_server.url}/satisfaction/{token}/thanks/"
    assert_accessible(browser, thanks)
    assert_accessible(browser, f"{live_server.url}/satisfaction/{token}/")


def test_the_invalid_link_page_is_accessible(
    live_server: LiveServer, browser: webdriver.Chrome, mailed_survey: Survey
) -> None:
    url = f"{live_server.url}/satisfaction/not-a-token/bad/"
    assert_accessible(browser, url)
    browser.set_window_size(375, 900)
    browser.get(url)
    assert "This link is not valid" in browser.title
    screenshot(browser, "csat-invalid", 375)


def test_the_form_with_an_error_is_accessible(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    mailed_survey: Survey,
    survey_links: Callable[[], dict[str, str]],
) -> None:
    # The page without a preselected answer, sent as is: the error summary and the form.
    browser.delete_all_cookies()
    token = survey_links()["good"].split("/")[2]
    browser.set_window_size(1440, 900)
    browser.get(f"{live_server.url}/satisfaction/{token}/")
    # The browser itself asks for a choice first (the radios are required); skip that
    # to see the server's answer, as a browser without that check would.
    browser.execute_script("document.querySelector('.survey-form').noValidate = true")
    browser.find_element(By.CSS_SELECTOR, ".survey-form button[type=submit]").click()
    WebDriverWait(browser, 10).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]"))
    )
    assert "Choose good or bad." in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    screenshot(browser, "csat-error", 375)
    from tests.support.axe import violations

    for width in (375, 1440):
        browser.set_window_size(width, 900)
        assert violations(browser) == []


def test_staff_see_the_rating_on_the_ticket_and_the_summary_in_the_admin(
    live_server: LiveServer,
    browser: webdriver.Chrome,
    mailed_survey: Survey,
    survey_links: Callable[[], dict[str, str]],
    agent: object,
) -> None:
    from django.test import Client

    token = survey_links()["bad"].split("/")[2]
    Client().post(f"/satisfaction/{token}/", {"rating": "bad", "comment": "Two days\nto answer."})
    login(browser, live_server.url, "agent", "correct horse battery staple")

    browser.get(f"{live_server.url}/admin/csat/rating/")
    summary = browser.find_element(By.ID, "csat-summary").text
    assert "1 rating, 0% good" in summary
    assert "agent" in summary
    assert "Service desk" in summary
    screenshot(browser, "csat-admin-ratings", 1440)

    browser.get(f"{live_server.url}/admin/nixflow/ticket/{mailed_survey.ticket_id}/change/")
    panel = browser.find_element(By.CSS_SELECTOR, ".nf-csat")
    assert panel.text.startswith("Bad")
    browser.execute_script("arguments[0].scrollIntoView()", panel)
    screenshot(browser, "csat-admin-panel", 1440)
