"""Headless Debian chromium through Selenium, for tests where a page's behaviour matters.

Both paths are set explicitly so that nothing tries to download a browser or a driver
(there is no internet here); `scripts/browser_deps.sh`, run by `make test`, installs
them. Root needs --no-sandbox.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail(
            "Debian's chromium and chromium-driver are needed for browser tests: "
            "run scripts/browser_deps.sh (make test does)."
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1024",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def login(driver: webdriver.Chrome, base_url: str, username: str, password: str) -> None:
    """Log in through the admin login page, as a person would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(f"{base_url}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # Wait for the logged-in page: the next get() would otherwise cancel the login POST.
    WebDriverWait(driver, 15).until(
        expected_conditions.presence_of_element_located((By.ID, "user-tools"))
    )


def screenshot(driver: webdriver.Chrome, name: str, width: int) -> str:
    """The whole page at ``width`` px into var/screenshots/{name}-{width}.png, for a
    person to look at (the tests assert on the page; the picture is for review)."""
    from pathlib import Path

    from django.conf import settings

    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(width, 1000)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 140, 6000))
    path = folder / f"{name}-{width}.png"
    driver.save_screenshot(str(path))
    return str(path)


def message_containing(driver: webdriver.Chrome, text: str, timeout: float = 15) -> str:
    """The admin's message list once it holds ``text``.

    After a click that posts a form, `find_element` may still answer from the page being
    left (its own message list, or an element that goes stale while read); waiting for
    the text rides out both."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def read(d: webdriver.Chrome) -> str | bool:
        try:
            shown = " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, ".messagelist"))
        except StaleElementReferenceException:
            return False
        return shown if text in shown else False

    return str(WebDriverWait(driver, timeout).until(read))


def page_containing(driver: webdriver.Chrome, text: str, timeout: float = 15) -> str:
    """The page's source once it holds ``text``: after a click that posts a form, the
    page being left may still be the one read."""
    from selenium.webdriver.support.ui import WebDriverWait

    def read(d: webdriver.Chrome) -> str | bool:
        source = d.page_source
        return source if text in source else False

    return str(WebDriverWait(driver, timeout).until(read))
