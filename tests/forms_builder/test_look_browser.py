"""The form pages in the requester side's look (public/base.html and public.css), seen in
Debian's chromium: 0 axe-core violations (WCAG 2.1 AA) at 375 and 1440 px on the list of
forms, a form, the form with its errors, the sign-in page and the confirmation pages, in
English and in German. Screenshots go to var/screenshots/forms-*.png for a person to
look at."""

from __future__ import annotations

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from forms_builder import services
from forms_builder.models import CustomForm
from forms_builder.services.confirmation import confirmation_token
from nixflow.models import User
from tests.factories import UserFactory
from tests.support.axe import WIDTHS, assert_accessible, violations
from tests.support.browser import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

ANSWERS = {"service": "VPN", "impact": "Just me", "details": "No tunnel."}


def awaiting_token(form: CustomForm) -> str:
    """The confirmation link's token of an anonymous submission with an account's
    address (the page that asks its owner to confirm)."""
    owner: User = UserFactory(username="maria", email="maria@example.com")
    submission = services.submission_create(
        form=form, data=ANSWERS, submitter=None, submitter_email=owner.email, site=""
    )
    return confirmation_token(submission=submission, user=owner)


def test_the_form_pages_are_accessible_at_both_widths(
    live_server: LiveServer, browser: webdriver.Chrome, public_form: CustomForm
) -> None:
    base = live_server.url
    token = awaiting_token(public_form)
    browser.delete_all_cookies()
    pages = {
        "forms-index": f"{base}/forms/",
        "forms-page": f"{base}/forms/{public_form.slug}/",
        "forms-login": f"{base}/forms/login/",
        "forms-confirm": f"{base}/forms/confirm/{token}/",
        "forms-confirm-invalid": f"{base}/forms/confirm/not-a-token/",
        "forms-done": f"{base}/forms/{public_form.slug}/done/",
    }
    for name, url in pages.items():
        assert_accessible(browser, url)
        for width in WIDTHS:
            screenshot(browser, name, width)
    # The look is the public base's: its header, footer and the language chooser.
    browser.get(pages["forms-page"])
    assert browser.find_element(By.CSS_SELECTOR, "header.site-header .site-name").is_displayed()
    chooser = browser.find_element(By.CSS_SELECTOR, "footer nav.language-chooser")
    assert "Deutsch" in chooser.text


def test_the_form_with_its_errors_is_accessible_and_readable_at_375_px(
    live_server: LiveServer, browser: webdriver.Chrome, public_form: CustomForm
) -> None:
    browser.delete_all_cookies()
    for width in WIDTHS:
        browser.set_window_size(width, 900)
        browser.get(f"{live_server.url}/forms/{public_form.slug}/")
        browser.find_element(By.CSS_SELECTOR, "form[data-nf-form] button[type=submit]").click()
        WebDriverWait(browser, 10).until(expected_conditions.title_contains("Error:"))
        found = violations(browser)
        assert not found, found
        # Nothing wider than the window: no sideways scrolling on a phone.
        scroll = browser.execute_script("return document.documentElement.scrollWidth")
        assert scroll <= width
        screenshot(browser, "forms-errors", width)


def test_the_form_page_in_german(
    live_server: LiveServer, browser: webdriver.Chrome, public_form: CustomForm
) -> None:
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/forms/")
    browser.find_element(By.CSS_SELECTOR, "a[hreflang=de]").click()  # the chooser's link
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("Formulare"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
    assert_accessible(browser, f"{live_server.url}/forms/{public_form.slug}/")
    assert "Ihre E-Mail-Adresse" in browser.page_source
    for width in WIDTHS:
        screenshot(browser, "forms-page-de", width)
