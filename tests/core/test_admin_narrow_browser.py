"""The admin's forms on a narrow window, in chromium: no input is cut off at its right
edge. Django sizes a form row's contents by the viewport (``calc(100vw - 30px)``), which
counts a classic scrollbar; the rows hide their overflow, so a desktop window of phone
width lost the inputs' right edges and the related-object links. Screenshots at 375 px
go to ``var/screenshots/admin-form-*-375.png``."""

from __future__ import annotations

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from nixflow.models import Role
from tests.factories import TicketFactory, UserFactory
from tests.support.browser import browser, login, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's

# Every element inside a form row whose right edge passes the row's (the row clips it).
CLIPPED = """
const out = [];
for (const row of document.querySelectorAll('#content .aligned .form-row')) {
    const edge = row.getBoundingClientRect().right;
    for (const element of row.querySelectorAll('*')) {
        const box = element.getBoundingClientRect();
        if (box.width > 0 && box.right > edge + 1) {
            out.push(`${row.className}: ${element.tagName} ends at ${Math.round(box.right)}, `
                + `the row at ${Math.round(edge)}`);
        }
    }
}
return out;
"""


def test_the_ticket_forms_fit_a_phone_wide_window(browser: WebDriver, live_server: object) -> None:
    base = str(live_server)
    UserFactory(username="ada", role=Role.AGENT)
    ticket = TicketFactory()
    login(browser, base, "ada", PASSWORD)
    browser.set_window_size(375, 1000)
    for name, path in [
        ("add", "/admin/nixflow/ticket/add/"),
        ("change", f"/admin/nixflow/ticket/{ticket.pk}/change/"),
    ]:
        browser.get(base + path)
        clipped = browser.execute_script(CLIPPED)
        assert browser.execute_script("return document.querySelectorAll('.form-row').length")
        screenshot(browser, f"admin-form-{name}", 375)
        assert clipped == [], name
