"""The webhooks admin in chromium: an endpoint's page with its latest deliveries, and the
delivery log. Screenshots at 1440 and 375 px go to ``var/screenshots/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By

from eventlog import outbox
from nixflow.models import User
from tests.factories import AdminFactory
from tests.support.browser import browser, login
from tests.webhooks.conftest import Receiver, record
from webhooks import services

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def shoot(driver: WebDriver, name: str, width: int) -> Path:
    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(width, 1000)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 140, 6000))
    path = folder / f"{name}-{width}.png"
    driver.save_screenshot(str(path))
    return path


def test_an_admin_reads_an_endpoints_deliveries(
    browser: WebDriver, live_server: object, receiver: Receiver
) -> None:
    admin: User = AdminFactory.create(username="boss")
    endpoint, _ = services.endpoint_create(
        actor=admin,
        data={"name": "CRM", "url": receiver.url, "event_types": ["ticket.*", "demo.*"]},
    )
    receiver.reply = lambda n: (500, {}, b"upstream error") if n % 3 == 0 else (200, {}, b"ok")
    for n in range(6):
        record("demo.step", admin, ticket_key=f"NF-{n}", step=n)
    outbox.run_inline()
    base = live_server.url  # type: ignore[attr-defined]
    login(browser, base, admin.username, PASSWORD)

    browser.get(f"{base}/admin/webhooks/endpoint/{endpoint.pk}/change/")
    table = browser.find_element(By.CSS_SELECTOR, ".webhook-log table").text
    assert "Delivered" in table
    assert "demo.step" in table
    for width in (1440, 375):
        shoot(browser, "webhooks-endpoint", width)

    browser.get(f"{base}/admin/webhooks/delivery/?endpoint__id__exact={endpoint.pk}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 6
    for width in (1440, 375):
        shoot(browser, "webhooks-deliveries", width)
