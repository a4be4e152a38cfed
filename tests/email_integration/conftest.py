from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from email_integration import authentication
from email_integration.models import EmailAccount, InboundProtocol
from tests.email_integration.dkim_support import Resolver
from tests.email_integration.servers import (
    PASSWORD,
    Dovecot,
    SMTPServer,
    running_dovecot,
    start_smtp,
)


@pytest.fixture(autouse=True)
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    """DNS for sender authentication, served from a dict: no test asks the real DNS.
    Tests publish DKIM keys and DMARC records into it (``dkim_support.publish``)."""
    fake = Resolver()
    monkeypatch.setattr(authentication, "txt_lookup", fake)
    return fake


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One private Dovecot per test session (each test gets its own mail user)."""
    yield from running_dovecot()


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SMTPServer]:
    """A real SMTP server on loopback, and Django's SMTP backend pointed at it."""
    server = start_smtp()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.controller.stop()


@pytest.fixture
def account(db: None) -> EmailAccount:
    """A desk address that takes posted and ingested mail (no server)."""
    return EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )


@pytest.fixture
def imap_account(db: None, dovecot: Dovecot) -> EmailAccount:
    user = dovecot.new_user()
    return EmailAccount.objects.create(
        name=f"IMAP {user}",
        address=f"{user}@desk.test",
        protocol=InboundProtocol.IMAP,
        host="127.0.0.1",
        port=dovecot.imap_port,
        use_tls=False,
        username=user,
        password=PASSWORD,
    )


@pytest.fixture
def pop3_account(db: None, dovecot: Dovecot) -> EmailAccount:
    user = dovecot.new_user()
    return EmailAccount.objects.create(
        name=f"POP3 {user}",
        address=f"{user}@desk.test",
        protocol=InboundProtocol.POP3,
        host="127.0.0.1",
        port=dovecot.pop3_port,
        use_tls=False,
        username=user,
        password=PASSWORD,
    )
