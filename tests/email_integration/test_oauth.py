"""OAuth2 mailboxes against real servers on loopback: a Dovecot whose only passdb is
``oauth2`` (it introspects every token at the test provider), aiosmtpd taking XOAUTH2 and
OAUTHBEARER with a live token only, and the provider (tests/email_integration/oauth_servers.py)
issuing, refreshing, expiring and revoking tokens."""

from __future__ import annotations

import hashlib
import imaplib
import smtplib
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from email_integration import accounts, fetchers, oauth, outbound, tasks
from email_integration.models import (
    AuthMethod,
    EmailAccount,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    InboundProtocol,
    OAuthProvider,
    SMTPSecurity,
)
from eventlog.models import EventLog
from nixflow.models import User
from tests.email_integration.messages import mail
from tests.email_integration.oauth_servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    TokenServer,
    start_oauth_dovecot,
    start_oauth_smtp,
    start_token_server,
)
from tests.email_integration.servers import PASSWORD, Dovecot, SMTPServer


@pytest.fixture(scope="session")
def provider() -> Iterator[TokenServer]:
    server = start_token_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oauth_dovecot(provider: TokenServer) -> Iterator[Dovecot]:
    server = start_oauth_dovecot(provider)
    yield server
    server.stop()


@pytest.fixture
def oauth_smtp(provider: TokenServer) -> Iterator[SMTPServer]:
    server = start_oauth_smtp(provider)
    yield server
    server.controller.stop()


def oauth_account(
    dovecot: Dovecot, provider: TokenServer, protocol: str = InboundProtocol.IMAP, **extra: object
) -> EmailAccount:
    """An account authorized at ``provider`` (as the consent flow leaves it)."""
    user = dovecot.new_user()
    refresh, access = provider.grant(user)
    port = dovecot.imap_port if protocol == InboundProtocol.IMAP else dovecot.pop3_port
    fields: dict[str, object] = {
        "name": f"OAuth {user}",
        "address": f"{user}@desk.test",
        "protocol": protocol,
        "host": "127.0.0.1",
        "port": port,
        "use_tls": False,
        "username": user,
        "auth_method": AuthMethod.OAUTH2,
        "oauth_provider": OAuthProvider.CUSTOM,
        "oauth_authorize_url": f"{provider.url}/authorize",
        "oauth_token_url": f"{provider.url}/token",
        "oauth_client_id": CLIENT_ID,
        "oauth_client_secret": CLIENT_SECRET,
        "oauth_refresh_token": refresh,
        "oauth_access_token": access,
        "oauth_expires_at": timezone.now() + timedelta(hours=1),
        "oauth_authorized_at": timezone.now(),
        **extra,
    }
    return EmailAccount.objects.create(**fields)


def stored_column(account: EmailAccount, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM email_integration_emailaccount WHERE id = %s", [account.pk]
        )
        return cursor.fetchone()[0]


@pytest.fixture(scope="session")
def bearer_dovecot(provider: TokenServer) -> Iterator[Dovecot]:
    """The same Dovecot offering OAUTHBEARER only (offered both, a client takes XOAUTH2)."""
    server = start_oauth_dovecot(provider, "oauthbearer")
    yield server
    server.stop()


@pytest.fixture(params=["XOAUTH2", "OAUTHBEARER"])
def mechanism(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def mech_dovecot(request: pytest.FixtureRequest, mechanism: str) -> Dovecot:
    """The Dovecot offering ``mechanism`` first: both (XOAUTH2 taken), or OAUTHBEARER only."""
    name = "oauth_dovecot" if mechanism == "XOAUTH2" else "bearer_dovecot"
    return request.getfixturevalue(name)


@pytest.fixture
def mechanisms_used(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SASL mechanism of each login attempt, as the client chose it."""
    used: list[str] = []
    real = oauth.initial_response

    def recording(account: EmailAccount, mech: str, token: str, host: str, port: int) -> str:
        used.append(mech)
        return real(account, mech, token, host, port)

    monkeypatch.setattr(oauth, "initial_response", recording)
    return used


@pytest.mark.django_db
def test_imap_poll_signs_in_with_the_access_token_where_a_password_is_refused(
    mech_dovecot: Dovecot, provider: TokenServer, mechanism: str, mechanisms_used: list[str]
) -> None:
    account = oauth_account(mech_dovecot, provider)
    mech_dovecot.deliver(account.username, mail(subject="Sent to an OAuth2 mailbox"))
    plain = imaplib.IMAP4("127.0.0.1", mech_dovecot.imap_port)
    with pytest.raises(imaplib.IMAP4.error):
        plain.login(account.username, PASSWORD)  # this Dovecot knows tokens only
    plain.logout()

    result = fetchers.poll_account(account)

    assert result is not None
    assert (result.fetched, result.stored) == (1, 1)
    assert EmailMessage.objects.get(account=account).subject == "Sent to an OAuth2 mailbox"
    assert mechanisms_used == [mechanism]
    account.refresh_from_db()
    assert account.last_error == ""


@pytest.mark.django_db
def test_pop3_poll_signs_in_with_auth_and_the_token(
    mech_dovecot: Dovecot, provider: TokenServer, mechanism: str, mechanisms_used: list[str]
) -> None:
    account = oauth_account(mech_dovecot, provider, InboundProtocol.POP3)
    mech_dovecot.deliver(account.username, mail(subject="By POP3"))

    result = fetchers.poll_account(account)

    assert result is not None
    assert result.stored == 1
    assert EmailMessage.objects.get(account=account).subject == "By POP3"
    assert mechanisms_used == [mechanism]


@pytest.mark.django_db
def test_a_token_expiring_within_the_margin_is_refreshed_before_signing_in(
    oauth_dovecot: Dovecot, provider: TokenServer
) -> None:
    account = oauth_account(oauth_dovecot, provider)
    old = account.oauth_access_token
    soon = timezone.now() + timedelta(seconds=120)  # inside the 300 s margin
    EmailAccount.objects.filter(pk=account.pk).update(oauth_expires_at=soon)
    account.refresh_from_db()
    provider.expire(old)  # the server would refuse it anyway
    before = provider.refreshes

    fetchers.poll_account(account)

    assert provider.refreshes == before + 1
    account.refresh_from_db()
    assert account.oauth_access_token not in ("", old)
    assert account.oauth_expires_at is not None
    assert account.oauth_expires_at > soon
    assert account.last_error == ""
    # Encrypted at rest: the column holds a Fernet token, never the access token.
    raw = stored_column(account, "oauth_access_token")
    assert raw.startswith("gAAAAA")
    assert account.oauth_access_token not in raw
    assert fetchers.poll_account(account) is not None
    assert provider.refreshes == before + 1  # fresh now: no second refresh


@pytest.mark.django_db
@pytest.mark.parametrize("protocol", [InboundProtocol.IMAP, InboundProtocol.POP3])
def test_a_token_the_server_refuses_early_is_refreshed_once_and_the_login_retried(
    mech_dovecot: Dovecot,
    provider: TokenServer,
    protocol: str,
    mechanism: str,
    mechanisms_used: list[str],
) -> None:
    # The refusal comes as the error challenge (OAUTHBEARER) or a plain NO / -ERR after
    # it; either way the same connection takes the second attempt.
    account = oauth_account(mech_dovecot, provider, protocol)
    provider.expire(account.oauth_access_token)  # revoked early: our expiry still says fresh
    mech_dovecot.deliver(account.username, mail(subject="After the retry"))
    before = provider.refreshes

    result = fetchers.poll_account(account)

    assert result is not None
    assert result.stored == 1
    assert provider.refreshes == before + 1
    assert mechanisms_used == [mechanism, mechanism]


@pytest.mark.django_db
def test_a_revoked_refresh_token_is_recorded_once_and_the_provider_not_asked_again(
    oauth_dovecot: Dovecot, provider: TokenServer
) -> None:
    account = oauth_account(oauth_dovecot, provider)
    provider.revoke(account.oauth_refresh_token)
    provider.expire(account.oauth_access_token)
    EmailAccount.objects.filter(pk=account.pk).update(oauth_expires_at=timezone.now())
    account.refresh_from_db()
    before = provider.refreshes

    with pytest.raises(oauth.OAuthRefused, match="invalid_grant: The token was revoked"):
        fetchers.poll_account(account)

    account.refresh_from_db()
    assert provider.refreshes == before + 1
    assert "invalid_grant" in account.oauth_error
    assert "re-authorize" in account.last_error
    failed = EventLog.objects.filter(type="email.account.oauth_failed", subject_id=account.pk)
    assert [e.payload["reason"] for e in failed] == [account.oauth_error]

    for _ in range(3):  # polls go on failing at once, without a storm at the provider
        with pytest.raises(oauth.OAuthRefused):
            fetchers.poll_account(account)
    assert provider.refreshes == before + 1
    assert failed.count() == 1
    account.refresh_from_db()
    assert "re-authorize" in account.last_error

    # An admin fixing the client settings lets the next poll ask the provider again.
    admin = User.objects.create_superuser("fixer", "fixer@desk.test", "x")
    accounts.email_account_update(actor=admin, account=account, data={"oauth_scope": "mail"})
    account.refresh_from_db()
    assert account.oauth_error == ""
    with pytest.raises(oauth.OAuthRefused):
        fetchers.poll_account(account)
    assert provider.refreshes == before + 2


def queued_polls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The accounts ``poll_due_accounts`` queues a poll for (instead of the broker)."""
    queued: list[int] = []
    monkeypatch.setattr(tasks.poll_account, "delay", queued.append)
    return queued


@pytest.mark.django_db
def test_a_refused_grant_pauses_polling_until_an_admin_authorizes_it_again(
    client: Client,
    admin_user: User,
    oauth_dovecot: Dovecot,
    provider: TokenServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    healthy = oauth_account(oauth_dovecot, provider)
    account = oauth_account(oauth_dovecot, provider)
    unauthorized = oauth_account(oauth_dovecot, provider, oauth_refresh_token="")
    password = EmailAccount.objects.create(
        name="Password", address="pw@desk.test", host="127.0.0.1", username="pw"
    )
    provider.revoke(account.oauth_refresh_token)
    provider.expire(account.oauth_access_token)
    EmailAccount.objects.filter(pk=account.pk).update(oauth_expires_at=timezone.now())
    account.refresh_from_db()
    with pytest.raises(oauth.OAuthRefused):
        fetchers.poll_account(account)  # the refusal is recorded
    long_ago = timezone.now() - timedelta(days=1)
    EmailAccount.objects.update(last_polled_at=long_ago)  # every account is due
    oauth_dovecot.deliver(account.username, mail(subject="Waiting for the admin"))
    queued = queued_polls(monkeypatch)
    before = provider.refreshes

    assert tasks.poll_due_accounts() == 2
    assert sorted(queued) == [healthy.pk, password.pk]
    # A poll queued before the refusal is dropped too: nothing asked, nothing recorded.
    assert tasks.poll_account(account.pk) == {}
    assert tasks.poll_account(unauthorized.pk) == {}
    assert provider.refreshes == before
    account.refresh_from_db()
    assert account.last_polled_at == long_ago
    assert "re-authorize" in account.last_error
    client.force_login(admin_user)
    listed = client.get("/admin/email_integration/emailaccount/").content.decode()
    assert listed.count("Paused: the provider refused the OAuth2 grant; re-authorize.") == 1
    assert listed.count("Paused: not authorized yet.") == 1

    # The admin authorizes it again: the next round polls it, and it fetches.
    start = client.get(f"/admin/email_integration/emailaccount/{account.pk}/oauth/authorize/")
    back = urllib.parse.urlsplit(follow_provider(start["Location"]))
    client.get(f"{back.path}?{back.query}")
    queued.clear()

    assert tasks.poll_due_accounts() == 3
    assert sorted(queued) == [healthy.pk, account.pk, password.pk]
    assert tasks.poll_account(account.pk) == {"fetched": 1, "stored": 1, "failed": 0}
    account.refresh_from_db()
    assert (account.oauth_error, account.last_error) == ("", "")
    listed = client.get("/admin/email_integration/emailaccount/").content.decode()
    assert "Paused: the provider refused" not in listed


@pytest.mark.django_db(transaction=True)
def test_two_workers_needing_a_token_at_once_refresh_it_once(
    oauth_dovecot: Dovecot, provider: TokenServer
) -> None:
    account = oauth_account(oauth_dovecot, provider)
    EmailAccount.objects.filter(pk=account.pk).update(oauth_expires_at=timezone.now())
    before = provider.refreshes
    tokens: list[str] = []
    start = threading.Barrier(2)
    provider.refresh_delay = 0.5  # both are waiting for a token before the first gets one

    def worker() -> None:
        try:
            copy = EmailAccount.objects.get(pk=account.pk)
            start.wait()
            tokens.append(oauth.access_token(copy))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    provider.refresh_delay = 0.0

    assert provider.refreshes == before + 1
    assert len(tokens) == 2
    assert tokens[0] == tokens[1]


@pytest.mark.django_db
@pytest.mark.parametrize("offered", ["XOAUTH2", "OAUTHBEARER"])
def test_outbound_mail_goes_through_the_accounts_smtp_server_with_its_token(
    oauth_dovecot: Dovecot, provider: TokenServer, offered: str
) -> None:
    other = "OAUTHBEARER" if offered == "XOAUTH2" else "XOAUTH2"
    smtp = start_oauth_smtp(provider, exclude=[other])
    try:
        account = oauth_account(
            oauth_dovecot,
            provider,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_security=SMTPSecurity.NONE,
        )
        provider.expire(account.oauth_access_token)  # refused first: refreshed and retried
        raw = (
            f"From: {account.address}\r\nTo: alice@example.com\r\nSubject: Hello\r\n"
            "Message-ID: <oauth-out@desk.test>\r\n\r\nSent with a bearer token.\r\n"
        ).encode()
        message = EmailMessage.objects.create(
            account=account,
            message_type=EmailMessageType.OUTBOUND,
            status=EmailMessageStatus.SENDING,
            from_address=account.address,
            to_addresses=["alice@example.com"],
            raw=raw,
            raw_sha256=hashlib.sha256(raw).hexdigest(),
        )

        outbound.send_message(message)

        assert [(sender, rcpts) for sender, rcpts, _ in smtp.messages] == [
            (account.address, ["alice@example.com"])
        ]
        assert smtp.messages[0][2]["Subject"] == "Hello"
    finally:
        smtp.controller.stop()


@pytest.mark.django_db
def test_smtp_refusing_every_token_fails_the_send_with_the_servers_answer(
    oauth_dovecot: Dovecot, provider: TokenServer, oauth_smtp: SMTPServer
) -> None:
    account = oauth_account(
        oauth_dovecot,
        provider,
        smtp_host=oauth_smtp.host,
        smtp_port=oauth_smtp.port,
        smtp_security=SMTPSecurity.NONE,
        username="someone-else",  # tokens are the mailbox user's: never this one's
    )
    backend = oauth.AccountSMTPBackend(account)
    with pytest.raises(smtplib.SMTPAuthenticationError, match="refused the OAuth2 token"):
        backend.open()
    assert oauth_smtp.messages == []


# The consent flow ----------------------------------------------------------------------


def follow_provider(location: str) -> str:
    """Open the provider's authorization URL as the admin's browser would; where it
    sends the browser back to (the provider consents at once)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(location, timeout=10)
    assert answer.value.code == 302
    return str(answer.value.headers["Location"])


@pytest.mark.django_db
def test_an_admin_authorizes_an_account_through_the_providers_consent_flow(
    client: Client, admin_user: User, oauth_dovecot: Dovecot, provider: TokenServer
) -> None:
    account = oauth_account(
        oauth_dovecot,
        provider,
        oauth_refresh_token="",
        oauth_access_token="",
        oauth_expires_at=None,
    )
    oauth_dovecot.deliver(account.username, mail(subject="After consent"))
    client.force_login(admin_user)
    page = client.get(f"/admin/email_integration/emailaccount/{account.pk}/change/")
    assert "Not authorized yet." in page.content.decode()

    start = client.get(f"/admin/email_integration/emailaccount/{account.pk}/oauth/authorize/")

    assert start.status_code == 302
    sent_to = urllib.parse.urlsplit(start["Location"])
    query = dict(urllib.parse.parse_qsl(sent_to.query))
    assert f"{sent_to.scheme}://{sent_to.netloc}{sent_to.path}" == f"{provider.url}/authorize"
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) > 30
    assert query["client_id"] == CLIENT_ID
    back = urllib.parse.urlsplit(follow_provider(start["Location"]))
    assert back.path == "/admin/email_integration/emailaccount/oauth/callback/"

    done = client.get(f"{back.path}?{back.query}", follow=True)

    assert f"{account.name} is authorized" in done.content.decode()
    account.refresh_from_db()
    assert account.oauth_refresh_token.startswith("rt-")
    assert account.oauth_authorized_at is not None
    event = EventLog.objects.get(type="email.account.oauth_authorized", subject_id=account.pk)
    assert event.actor_id == admin_user.pk
    assert account.oauth_refresh_token not in str(event.payload)
    assert fetchers.poll_account(account).stored == 1  # type: ignore[union-attr]
    # The state is spent: the same answer again is refused.
    again = client.get(f"{back.path}?{back.query}", follow=True)
    assert "does not match one started here" in again.content.decode()


@pytest.mark.django_db
def test_a_callback_with_a_state_not_started_here_is_refused_and_stores_nothing(
    client: Client, admin_user: User, oauth_dovecot: Dovecot, provider: TokenServer
) -> None:
    account = oauth_account(oauth_dovecot, provider, oauth_refresh_token="")
    client.force_login(admin_user)
    client.get(f"/admin/email_integration/emailaccount/{account.pk}/oauth/authorize/")
    _refresh, _ = provider.grant(account.username)

    response = client.get(
        "/admin/email_integration/emailaccount/oauth/callback/",
        {"state": "forged", "code": "stolen-code"},
        follow=True,
    )

    assert "does not match one started here" in response.content.decode()
    account.refresh_from_db()
    assert account.oauth_refresh_token == ""
    assert not EventLog.objects.filter(type="email.account.oauth_authorized").exists()


@pytest.mark.django_db
def test_the_providers_refusal_is_shown_on_the_accounts_page(
    client: Client, admin_user: User, oauth_dovecot: Dovecot, provider: TokenServer
) -> None:
    account = oauth_account(oauth_dovecot, provider, oauth_refresh_token="")
    client.force_login(admin_user)
    start = client.get(f"/admin/email_integration/emailaccount/{account.pk}/oauth/authorize/")
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start["Location"]).query))["state"]

    response = client.get(
        "/admin/email_integration/emailaccount/oauth/callback/",
        {"state": state, "error": "access_denied", "error_description": "The user declined."},
    )

    assert response["Location"] == f"/admin/email_integration/emailaccount/{account.pk}/change/"
    page = client.get(response["Location"]).content.decode()
    assert "access_denied: The user declined." in page
    account.refresh_from_db()
    assert account.oauth_refresh_token == ""


@pytest.mark.django_db
def test_only_admins_start_the_consent_flow_and_secrets_never_show(
    client: Client, agent: User, admin_user: User, oauth_dovecot: Dovecot, provider: TokenServer
) -> None:
    account = oauth_account(oauth_dovecot, provider)
    client.force_login(agent)
    assert (
        client.get(
            f"/admin/email_integration/emailaccount/{account.pk}/oauth/authorize/"
        ).status_code
        == 403
    )
    client.force_login(admin_user)
    page = client.get(f"/admin/email_integration/emailaccount/{account.pk}/change/")
    text = page.content.decode()
    for secret in (CLIENT_SECRET, account.oauth_refresh_token, account.oauth_access_token):
        assert secret not in text
    # Saving the form with the secret left blank keeps it.
    accounts.email_account_update(
        actor=admin_user, account=account, data={"oauth_client_secret": "", "oauth_scope": "x"}
    )
    account.refresh_from_db()
    assert account.oauth_client_secret == CLIENT_SECRET
    updated = EventLog.objects.get(type="email.account.updated", subject_id=account.pk)
    assert CLIENT_SECRET not in str(updated.payload)


@pytest.mark.django_db
def test_the_api_never_returns_oauth_secrets(
    admin_api: object, oauth_dovecot: Dovecot, provider: TokenServer
) -> None:
    account = oauth_account(oauth_dovecot, provider)
    body = admin_api.get(f"/api/email/accounts/{account.pk}/").json()  # type: ignore[attr-defined]
    assert body["auth_method"] == "oauth2"
    assert body["oauth_authorized"] is True
    assert body["has_oauth_client_secret"] is True
    for secret in (CLIENT_SECRET, account.oauth_refresh_token, account.oauth_access_token):
        assert secret not in str(body)


def test_oauthbearer_escapes_the_user_in_its_gs2_header() -> None:
    assert oauth.oauthbearer("a,b=c", "T", "h", 1) == (
        "n,a=a=2Cb=3Dc,\x01host=h\x01port=1\x01auth=Bearer T\x01\x01"
    )
    assert oauth.mechanism(["PLAIN", "OAUTHBEARER"]) == "OAUTHBEARER"
    assert oauth.mechanism(["XOAUTH2", "OAUTHBEARER"]) == "XOAUTH2"


def test_microsoft_preset_names_the_tenant_and_the_mail_scopes(settings: object) -> None:
    account = EmailAccount(
        auth_method=AuthMethod.OAUTH2,
        oauth_provider=OAuthProvider.MICROSOFT,
        oauth_tenant="contoso.onmicrosoft.com",
        oauth_client_id="app",
    )
    config = oauth.endpoints(account)
    assert config.token_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in config.scope
    assert "offline_access" in config.scope.split()


@pytest.mark.django_db
def test_an_oauth2_account_without_provider_or_custom_urls_is_refused_precisely(
    admin_api: object,
) -> None:
    base = {"name": "O", "address": "o@desk.test", "protocol": "NONE", "auth_method": "oauth2"}
    post = admin_api.post  # type: ignore[attr-defined]

    no_provider = post("/api/email/accounts/", base, format="json")
    custom = post("/api/email/accounts/", base | {"oauth_provider": "custom"}, format="json")

    assert no_provider.status_code == 400
    assert "An OAuth2 account needs a provider." in str(no_provider.json())
    assert custom.status_code == 400
    body = str(custom.json())
    assert "oauth_authorize_url" in body
    assert "oauth_token_url" in body
    assert "A custom provider needs this URL." in body
    assert not EmailAccount.objects.exists()


@pytest.mark.django_db
def test_the_admins_connection_test_signs_in_with_the_token(
    client: Client, admin_user: User, oauth_dovecot: Dovecot, provider: TokenServer
) -> None:
    account = oauth_account(oauth_dovecot, provider)
    client.force_login(admin_user)

    response = client.post(
        "/admin/email_integration/emailaccount/",
        {"action": "test_connection", "_selected_action": [account.pk]},
        follow=True,
    )

    assert "IMAP login and folder &#x27;INBOX&#x27;: OK" in response.content.decode()
