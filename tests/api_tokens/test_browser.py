"""An agent makes an integration token in the admin, in chromium: ticks scopes, saves,
copies the string from the next page, and finds the token in the list by its prefix.
Screenshots of the form, the one-time page and the list at 1440 and 375 px go to
``var/screenshots/``."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from api_tokens import keys
from api_tokens.models import ApiToken
from nixflow.models import User
from tests.api_tokens.conftest import MakeToken, bearer
from tests.support.browser import browser, login, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def test_an_agent_makes_a_token_and_copies_it_from_the_page(
    browser: WebDriver, live_server: object, agent: User, make_token: MakeToken
) -> None:
    make_token(agent, "tickets:read", "knowledge:read", name="Status page")
    revoked = make_token(agent, "admin:read", name="Old dashboard")
    ApiToken.objects.filter(pk=revoked.token.pk).update(revoked_at=revoked.token.created_at)
    base = live_server.url  # type: ignore[attr-defined]
    login(browser, base, agent.username, PASSWORD)
    browser.get(f"{base}/admin/api_tokens/apitoken/add/")
    for width in (1440, 375):
        screenshot(browser, "api-token-add", width)
    browser.find_element(By.NAME, "name").send_keys("CRM sync")
    for scope in ("tickets:write", "knowledge:read"):
        browser.find_element(By.CSS_SELECTOR, f'input[name="scopes"][value="{scope}"]').click()
    browser.find_element(By.NAME, "_save").click()

    shown = browser.find_element(By.ID, "api-token-secret").get_attribute("value") or ""
    assert keys.TOKEN_PATTERN.match(shown), shown
    for width in (1440, 375):
        screenshot(browser, "api-token-created", width)
    token = ApiToken.objects.get(user=agent, name="CRM sync")
    assert token.scopes == ["tickets:write", "knowledge:read"]
    assert bearer(shown).get("/api/tickets/").status_code == 200

    copy = browser.find_element(By.ID, "api-token-copy")
    assert copy.is_displayed()
    browser.find_element(By.LINK_TEXT, "Done").click()
    listed = browser.find_element(By.ID, "result_list").text
    assert f"nft_{token.prefix}_" in listed
    assert "Status page" in listed
    assert "Revoked" in listed
    assert shown not in browser.page_source
    for width in (1440, 375):
        screenshot(browser, "api-token-list", width)
