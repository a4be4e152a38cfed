"""Polling mail servers: IMAP by UID (honouring UIDVALIDITY) and POP3 by UIDL.

Each message is stored (and committed) before the server is told anything: only then
is it flagged \\Seen (IMAP) or deleted (POP3). A crash anywhere in between means the
message is fetched again next time, and storing it again is a no-op; nothing is lost
and nothing is duplicated. Processing follows storing, message by message; a message
that fails to process is kept as failed and the batch goes on.
"""

from __future__ import annotations

import contextlib
import imaplib
import poplib
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from email_integration import oauth, services
from email_integration.models import EmailAccount, EmailMessageStatus, InboundProtocol

TIMEOUT = 30
POLL_LOCK = 0x4E46  # with the account id: the advisory lock of one account's poll


@dataclass
class PollResult:
    fetched: int = 0
    stored: int = 0
    failed: int = 0


# A test can set this to simulate a crash right after a message was stored.
after_store_hook: Callable[[int], None] | None = None


def _handle(account: EmailAccount, raw: bytes, result: PollResult) -> None:
    message, created = services.message_store(account=account, raw=raw)
    result.fetched += 1
    result.stored += int(created)
    if after_store_hook is not None:
        after_store_hook(message.pk)
    if message.status == EmailMessageStatus.RECEIVED:
        processed = services.message_process(message=message)
        result.failed += int(processed.status == EmailMessageStatus.FAILED)


def poll_imap(account: EmailAccount) -> PollResult:
    result = PollResult()
    cls = imaplib.IMAP4_SSL if account.use_tls else imaplib.IMAP4
    client = cls(account.host, account.port or (993 if account.use_tls else 143), timeout=TIMEOUT)
    try:
        oauth.imap_login(client, account)
        status, data = client.select(account.folder)
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot select folder {account.folder!r}: {data}")
        uidvalidity = _uidvalidity(client)
        if account.imap_uidvalidity != uidvalidity:
            # New mailbox identity: old UIDs mean nothing. Start over; storing is
            # idempotent, so messages seen before are not duplicated.
            account.imap_uidvalidity, account.imap_last_uid = uidvalidity, 0
            account.save(update_fields=["imap_uidvalidity", "imap_last_uid"])
        status, data = client.uid("SEARCH", f"UID {account.imap_last_uid + 1}:*")
        uids = sorted(int(u) for u in (data[0] or b"").split())
        for uid in (u for u in uids if u > account.imap_last_uid):
            status, parts = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if status != "OK" or raw is None:
                continue
            _handle(account, raw, result)
            client.uid("STORE", str(uid), "+FLAGS", "(\\Seen)")
            account.imap_last_uid = uid
            account.save(update_fields=["imap_last_uid"])
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return result


def _uidvalidity(client: imaplib.IMAP4) -> int | None:
    """UIDVALIDITY from the untagged responses of the SELECT just issued."""
    _, values = client.response("UIDVALIDITY")
    if values and values[0]:
        return int(values[0])
    return None


def poll_pop3(account: EmailAccount) -> PollResult:
    result = PollResult()
    cls = poplib.POP3_SSL if account.use_tls else poplib.POP3
    client = cls(account.host, account.port or (995 if account.use_tls else 110), timeout=TIMEOUT)
    try:
        oauth.pop3_login(client, account)
        _, listing, _ = client.list()
        for line in listing:
            number = line.split()[0].decode()
            _, lines, _ = client.retr(number)
            _handle(account, b"\r\n".join(lines) + b"\r\n", result)
            client.dele(number)  # applied at QUIT, after everything was stored
        client.quit()
    except Exception:
        try:
            client.rset()  # keep the messages on the server; they'll be fetched again
            client.quit()
        except (poplib.error_proto, OSError):
            pass
        raise
    return result


# Keyed by str: ``EmailAccount.protocol`` holds the choice's value.
POLLERS: dict[str, Callable[[EmailAccount], PollResult]] = {
    InboundProtocol.IMAP: poll_imap,
    InboundProtocol.POP3: poll_pop3,
}


def poll_account(account: EmailAccount) -> PollResult | None:
    """Poll one account unless another process is polling it (advisory lock)."""
    poller = POLLERS.get(account.protocol)
    if poller is None:
        return None
    # A session lock (not a transaction one): polling commits message by message.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s::int, %s::int)", [POLL_LOCK, account.pk])
        if not cursor.fetchone()[0]:
            return None
    try:
        result = poller(account)
    except Exception as error:
        EmailAccount.objects.filter(pk=account.pk).update(
            last_polled_at=timezone.now(), last_error=f"{type(error).__name__}: {error}"[:2000]
        )
        raise
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s::int, %s::int)", [POLL_LOCK, account.pk])
    EmailAccount.objects.filter(pk=account.pk).update(last_polled_at=timezone.now(), last_error="")
    return result
