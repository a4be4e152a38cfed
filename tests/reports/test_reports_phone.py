"""In Debian's chromium, on the demo desk (``seed_demo``): every report reads on a 375 px
phone without scrolling sideways, neither the page nor a table inside it: a table of
more than two columns shows each row as a block whose cells carry their column's label;
at 1440 px the tables are plain tables. In English and in German (the admin's two
languages, German's labels being the longer), with the headline figures written as
Django localizes them in that language. Screenshots in
var/screenshots/reports-phone-<language>-<name>-<width>.png.
"""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.formats import number_format
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By

from nixflow.models import User
from tests.reports.test_reports_browser import PASSWORD, REPORTS, demo_desk
from tests.support.browser import browser, login, screenshot

__all__ = ["browser", "demo_desk"]  # the shared fixtures, used by name below

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Each table: its testid, how much wider its content is than its box, whether its header
# row shows, and each data cell's label as drawn before it (CSS generated content).
TABLES = """
return Array.from(document.querySelectorAll('.rp-table table')).map(table => ({
  key: table.dataset.testid,
  columns: table.querySelectorAll('thead th').length,
  overflow: table.parentElement.scrollWidth - table.parentElement.clientWidth,
  header: table.querySelector('thead').getBoundingClientRect().height > 1,
  cells: Array.from(table.querySelectorAll('tbody td[data-label]')).map(td => ({
    label: td.dataset.label,
    before: getComputedStyle(td, '::before').content,
  })),
}));
"""
# The headline figures: what each shows, and its value as data-value carries it.
FIGURES = """
return Array.from(document.querySelectorAll('[data-testid^="figure-"]')).map(
  figure => [figure.dataset.testid, figure.textContent.trim(), figure.dataset.value]);
"""


def as_localized(value: str, language: str) -> str | None:
    """A count's data-value as Django writes it in ``language``, grouped by thousands;
    None for other figures (percentages, durations)."""
    if not value.isdigit():
        return None
    with translation.override(language):
        return number_format(int(value), force_grouping=True)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("language", ["en", "de"])
def test_every_report_reads_on_a_phone_without_scrolling_sideways(
    live_server: LiveServer, browser: webdriver.Chrome, demo_desk: User, language: str
) -> None:
    demo_desk.language = language
    demo_desk.save(update_fields=["language"])
    login(browser, live_server.url, demo_desk.username, PASSWORD)
    for name in REPORTS:
        for width in (375, 1440):
            browser.set_window_size(width, 1000)
            browser.get(f"{live_server.url}/admin/reports/{name}/")
            assert browser.find_element(By.CSS_SELECTOR, f'html[lang="{language}"]')
            page = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert page <= 0, f"{name} is {page} px too wide at {width} px"
            tables = browser.execute_script(TABLES)
            assert tables, name
            for table in tables:
                where = (name, table["key"], width)
                assert table["overflow"] <= 0, f"{where} scrolls {table['overflow']} px sideways"
                stacked = width == 375 and table["columns"] > 2
                assert table["header"] is not stacked, where
                for cell in table["cells"]:
                    # Chromium reports the content with its alternative text: '"Label" / ""'.
                    labelled = cell["before"].startswith(f'"{cell["label"]}"')
                    assert labelled is stacked, (where, cell)
            for key, text, value in browser.execute_script(FIGURES):
                expected = as_localized(value, language)
                if expected is not None:
                    assert text == expected, (name, key, text, value)
            screenshot(browser, f"reports-phone-{language}-{name}", width)
