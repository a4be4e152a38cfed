"""The sign-in page's spacing in Debian's headless chromium, measured rather than only
looked at: a card's heading starts at the card's padding, the two cards keep a gap when
they stack on a phone, and the note under the link card's heading keeps a line's
distance from the label below it. In German, where the words are longest."""

from __future__ import annotations

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver

from tests.support.browser import browser, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

MEASURE = """
const rect = (el) => el.getBoundingClientRect();
const cards = [...document.querySelectorAll('.columns > .card')];
const note = cards[0].querySelector(':scope > p');
const label = cards[0].querySelector('form label');
const padding = parseFloat(getComputedStyle(cards[0]).paddingTop);
return {
  headingGap: rect(cards[0].querySelector('h2')).top - rect(cards[0]).top - padding,
  cardsGap: rect(cards[1]).top - rect(cards[0]).bottom,
  sideBySide: rect(cards[1]).top === rect(cards[0]).top,
  noteToLabel: rect(label).top - rect(note).bottom,
};
"""


def measure(driver: webdriver.Chrome, width: int) -> dict[str, float]:
    driver.set_window_size(width, 900)
    return driver.execute_script(MEASURE)  # type: ignore[no-any-return]


@pytest.mark.parametrize("width", [375, 1440])
def test_the_sign_in_cards_are_spaced_at_every_width(
    live_server: LiveServer, browser: webdriver.Chrome, width: int
) -> None:
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/portal/signin/")
    browser.add_cookie({"name": "django_language", "value": "de"})
    browser.get(f"{live_server.url}/portal/signin/")
    assert browser.title.startswith("Anmelden")

    found = measure(browser, width)

    assert abs(found["headingGap"]) <= 2, found  # no empty band above the heading
    assert found["noteToLabel"] >= 12, found  # the note doesn't sit on the label
    if width == 375:
        assert not found["sideBySide"], found
        assert found["cardsGap"] >= 16, found  # stacked cards don't touch
    else:
        assert found["sideBySide"], found
    screenshot(browser, "portal-signin-de", width)
