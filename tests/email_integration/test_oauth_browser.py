"""An admin finds a mail account whose OAuth2 grant the provider refused, in chromium:
the list says why and that it is not polled, the account's page says it again with the
button to re-authorize.
Screenshots of both at 1440 and 375 px go to ``var/screenshots/``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from email_integration.models import AuthMethod, EmailAccount, InboundProtocol, OAuthProvider
from nixflow.models import User
from tests.support.browser import browser, login, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "The provider refused: invalid_grant: AADSTS70008: The refresh token has expired."


def test_a_refused_grant_shows_on_the_list_and_the_accounts_page(
    browser: WebDriver, live_server: object, admin_user: User
) -> None:
    from django.utils import timezone

    account = EmailAccount.objects.create(
        name="Support (Microsoft 365)",
        address="support@contoso.test",
        protocol=InboundProtocol.IMAP,
        host="outlook.office365.com",
        port=993,
        username="support@contoso.test",
        auth_method=AuthMethod.OAUTH2,
        oauth_provider=OAuthProvider.MICROSOFT,
        oauth_tenant="contoso.onmicrosoft.com",
        oauth_client_id="00000000-aaaa-bbbb-cccc-000000000000",
        oauth_client_secret="client-secret-value",
        oauth_refresh_token="refresh-token-value",
        oauth_authorized_at=timezone.now() - timedelta(days=90),
        oauth_error=REASON,
        last_error=f"{REASON} — re-authorize the account in the admin.",
    )
    base = live_server.url  # type: ignore[attr-defined]
    login(browser, base, admin_user.username, "password")

    browser.get(f"{base}/admin/email_integration/emailaccount/")
    listed = browser.find_element(By.ID, "result_list").text
    assert "invalid_grant" in listed
    assert "Paused: the provider refused the OAuth2 grant; re-authorize." in listed
    for width in (1440, 375):
        screenshot(browser, "mail-oauth-account-list", width)

    browser.get(f"{base}/admin/email_integration/emailaccount/{account.pk}/change/")
    state = browser.find_element(By.CSS_SELECTOR, ".oauth-state").text
    assert state == REASON
    button = browser.find_element(By.LINK_TEXT, "Re-authorize")
    assert button.get_attribute("href").endswith(f"/emailaccount/{account.pk}/oauth/authorize/")
    page = browser.page_source
    for secret in ("client-secret-value", "refresh-token-value"):
        assert secret not in page
    for width in (1440, 375):
        screenshot(browser, "mail-oauth-account", width)
