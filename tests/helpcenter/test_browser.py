"""Debian's chromium reads the help center as an anonymous visitor: home, a category,
an article, a search, at 1440 and 375 px wide (screenshots under var/screenshots/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from knowledge.models import KnowledgeArticle, KnowledgeArticleRating
from nixflow.models import Role
from tests.factories import UserFactory
from tests.helpcenter.conftest import INTERNAL_MARKER
from tests.support.axe import assert_accessible
from tests.support.browser import browser, login, screenshot
from tests.test_security import console_after, logging_browser

__all__ = ["browser", "logging_browser"]  # the shared fixtures, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shoot(driver: WebDriver, name: str, width: int) -> Path:
    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(width, 1000)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 140, 6000))
    path = folder / f"helpcenter-{name}-{width}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for_title(driver: WebDriver, title: str) -> None:
    """The next page has loaded (a click or Enter returns before it has)."""
    WebDriverWait(driver, 10).until(expected_conditions.title_is(title))


def no_horizontal_scroll(driver: WebDriver) -> bool:
    return bool(
        driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    )


@pytest.mark.parametrize("width", [1440, 375])
def test_a_visitor_goes_from_home_to_a_category_an_article_and_a_search(
    live_server: LiveServer,
    browser: WebDriver,
    scene: None,
    public_article: KnowledgeArticle,
    width: int,
) -> None:
    browser.delete_all_cookies()
    browser.set_window_size(width, 1000)
    browser.get(f"{live_server.url}/help/")
    wait_for_title(browser, "Help center · NixFlow")
    assert no_horizontal_scroll(browser)
    shoot(browser, "home", width)

    browser.find_element(By.LINK_TEXT, "Network").click()
    wait_for_title(browser, "Network · NixFlow")
    shoot(browser, "category", width)

    browser.find_element(By.LINK_TEXT, "Connect to the VPN").click()
    wait_for_title(browser, "Connect to the VPN · NixFlow")
    body = browser.find_element(By.CLASS_NAME, "article-body")
    assert body.find_element(By.TAG_NAME, "strong").text == "VPN client"
    assert no_horizontal_scroll(browser)
    shoot(browser, "article", width)

    box = browser.find_element(By.ID, "site-search-q")
    box.send_keys("vpn", Keys.ENTER)
    wait_for_title(browser, "Search: vpn · NixFlow")
    results = browser.find_element(By.CLASS_NAME, "results")
    assert "Connect to the VPN" in results.text
    assert INTERNAL_MARKER not in browser.page_source
    shoot(browser, "search", width)
    results.find_element(By.PARTIAL_LINK_TEXT, "Connect to the").click()
    wait_for_title(browser, "Connect to the VPN · NixFlow")
    assert browser.current_url == f"{live_server.url}/help/articles/connect-to-the-vpn/"

    browser.get(f"{live_server.url}/help/articles/no-such-article/")
    wait_for_title(browser, "Page not found · NixFlow")
    shoot(browser, "not-found", width)


@pytest.mark.parametrize("width", [1440, 375])
def test_an_agent_reads_an_internal_article_and_answers_was_it_helpful(
    live_server: LiveServer,
    browser: WebDriver,
    scene: None,
    internal_article: KnowledgeArticle,
    width: int,
) -> None:
    UserFactory(username="desk", role=Role.AGENT)
    login(browser, live_server.url, "desk", "correct horse battery staple")
    browser.set_window_size(width, 1000)
    browser.get(f"{live_server.url}/help/articles/{internal_article.slug}/")
    assert browser.find_element(By.CLASS_NAME, "badge").text == "Internal"
    assert INTERNAL_MARKER in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.CSS_SELECTOR, "button[value=yes]").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("thanks=1"))
    status = browser.find_element(By.CSS_SELECTOR, "[role=status]")
    assert status.text == "Thank you for your answer."
    pressed = browser.find_element(By.CSS_SELECTOR, "button[value=yes]")
    assert pressed.get_attribute("aria-pressed") == "true"
    assert KnowledgeArticleRating.objects.get().helpful is True
    shoot(browser, "article-agent", width)


def test_the_help_pages_load_with_no_csp_violation_or_console_error(
    live_server: LiveServer, logging_browser: WebDriver, scene: None
) -> None:
    logging_browser.delete_all_cookies()
    pages = [
        "/help/",
        "/help/network/",
        "/help/articles/connect-to-the-vpn/",
        "/help/search/?q=vpn",
    ]
    for page in pages:
        messages = console_after(logging_browser, f"{live_server.url}{page}", (By.TAG_NAME, "h1"))
        assert messages == [], page  # no CSP violation, no missing stylesheet, nothing
        # Our stylesheet applied (a static file, not an inline block): the header's colour.
        header = logging_browser.find_element(By.CLASS_NAME, "site-header")
        assert header.value_of_css_property("background-color") == "rgba(22, 58, 122, 1)"


# --- accessibility: axe-core, WCAG 2.1 AA, at 375 and 1440 px -------------------------
HELP_PAGES = {
    "home": "/help/",
    "category": "/help/network/",
    "article": "/help/articles/connect-to-the-vpn/",
    "article-thanks": "/help/articles/connect-to-the-vpn/?thanks=2",
    "search": "/help/search/?q=vpn",
    "search-typo": "/help/search/?q=connecct&category=network&kind=NOPE",
    "search-empty": "/help/search/",
    "not-found": "/help/no/such/page/",
}


@pytest.mark.parametrize("name", sorted(HELP_PAGES))
def test_each_help_page_has_no_accessibility_violation(
    live_server: LiveServer, browser: WebDriver, scene: None, name: str
) -> None:
    browser.delete_all_cookies()
    url = f"{live_server.url}{HELP_PAGES[name]}"
    assert_accessible(browser, url)
    for width in (375, 1440):
        browser.set_window_size(width, 900)
        browser.get(url)
        assert no_horizontal_scroll(browser), f"{name} scrolls sideways at {width} px"
        screenshot(browser, f"helpcenter-a11y-{name}", width)


def test_the_agents_internal_article_and_german_pages_have_no_violation(
    live_server: LiveServer, browser: WebDriver, scene: None, internal_article: KnowledgeArticle
) -> None:
    UserFactory(username="desk2", role=Role.AGENT)
    login(browser, live_server.url, "desk2", "correct horse battery staple")
    assert_accessible(browser, f"{live_server.url}/help/articles/{internal_article.slug}/")
    assert_accessible(browser, f"{live_server.url}/help/search/?q=vpn")
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/language/?language=de&next=/help/")
    assert_accessible(browser, f"{live_server.url}/help/articles/connect-to-the-vpn/")
    assert "War dieser Artikel hilfreich?" in browser.page_source
    screenshot(browser, "helpcenter-a11y-article-de", 375)
