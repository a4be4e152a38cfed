"""Polling a real Dovecot on loopback: IMAP by UID and POP3, store first, never lose mail."""

from __future__ import annotations

import imaplib
from pathlib import Path

import pytest
from django.core.management import call_command

from email_integration import fetchers
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus
from nixflow.models import Ticket
from tests.email_integration.messages import mail
from tests.email_integration.servers import PASSWORD, Dovecot

pytestmark = pytest.mark.django_db


class SimulatedCrashError(Exception):
    """A process dying right after a message was stored, before the server knew."""


def seen_flags(dovecot: Dovecot, account: EmailAccount) -> list[bool]:
    client = imaplib.IMAP4("127.0.0.1", dovecot.imap_port)
    client.login(account.username, PASSWORD)
    client.select("INBOX", readonly=True)
    _, data = client.uid("SEARCH", None, "ALL")
    flags = []
    for uid in (data[0] or b"").split():
        _, fetched = client.uid("FETCH", uid, "(FLAGS)")
        flags.append(b"\\Seen" in fetched[0])
    client.logout()
    return flags


def test_imap_poll_opens_tickets_and_marks_messages_seen(
    dovecot: Dovecot, imap_account: EmailAccount
) -> None:
    dovecot.deliver(imap_account.username, mail(subject="First"))
    dovecot.deliver(imap_account.username, mail(subject="Second", sender="dave@example.com"))

    result = fetchers.poll_account(imap_account)

    assert (result.fetched, result.stored, result.failed) == (2, 2, 0)
    assert sorted(Ticket.objects.values_list("title", flat=True)) == ["First", "Second"]
    assert seen_flags(dovecot, imap_account) == [True, True]
    imap_account.refresh_from_db()
    assert imap_account.imap_last_uid == 2
    assert imap_account.imap_uidvalidity is not None
    assert imap_account.last_polled_at is not None
    assert imap_account.last_error == ""

    assert fetchers.poll_account(imap_account).fetched == 0  # nothing new
    dovecot.deliver(imap_account.username, mail(subject="Third"))
    assert fetchers.poll_account(imap_account).fetched == 1
    assert Ticket.objects.count() == 3


def test_a_crash_between_storing_and_flagging_loses_nothing_and_duplicates_nothing(
    dovecot: Dovecot, imap_account: EmailAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        dovecot.deliver(imap_account.username, mail(subject=f"Mail {n}"))
    stored: list[int] = []

    def crash_after_second(message_pk: int) -> None:
        stored.append(message_pk)
        if len(stored) == 2:
            raise SimulatedCrashError

    monkeypatch.setattr(fetchers, "after_store_hook", crash_after_second)
    with pytest.raises(SimulatedCrashError):
        fetchers.poll_account(imap_account)
    # Two stored and committed; the second was never flagged on the server.
    assert EmailMessage.objects.count() == 2
    assert seen_flags(dovecot, imap_account) == [True, False, False]

    monkeypatch.setattr(fetchers, "after_store_hook", None)
    result = fetchers.poll_account(imap_account)

    assert (result.fetched, result.stored) == (2, 1)  # mail 1 again (a no-op), then mail 2
    assert EmailMessage.objects.count() == 3
    assert sorted(Ticket.objects.values_list("title", flat=True)) == ["Mail 0", "Mail 1", "Mail 2"]
    assert seen_flags(dovecot, imap_account) == [True, True, True]
    imap_account.refresh_from_db()
    assert imap_account.last_error == ""  # cleared by the successful poll


def test_a_new_uidvalidity_starts_over_without_duplicates(
    dovecot: Dovecot, imap_account: EmailAccount
) -> None:
    dovecot.deliver(imap_account.username, mail(subject="Kept"))
    fetchers.poll_account(imap_account)
    # The mailbox was recreated on the server: its UIDs mean something else now.
    EmailAccount.objects.filter(pk=imap_account.pk).update(imap_uidvalidity=1, imap_last_uid=99)
    imap_account.refresh_from_db()

    result = fetchers.poll_account(imap_account)

    assert (result.fetched, result.stored) == (1, 0)
    assert Ticket.objects.count() == 1
    imap_account.refresh_from_db()
    assert imap_account.imap_uidvalidity != 1


def test_pop3_poll_stores_then_deletes_and_a_crash_keeps_the_mail_on_the_server(
    dovecot: Dovecot, pop3_account: EmailAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(2):
        dovecot.deliver(pop3_account.username, mail(subject=f"Pop {n}"))
    monkeypatch.setattr(
        fetchers, "after_store_hook", lambda pk: (_ for _ in ()).throw(SimulatedCrashError())
    )
    with pytest.raises(SimulatedCrashError):
        fetchers.poll_account(pop3_account)
    maildir = Path(dovecot.root / "home" / pop3_account.username / "Maildir")
    assert len(list((maildir / "cur").iterdir()) + list((maildir / "new").iterdir())) == 2

    monkeypatch.setattr(fetchers, "after_store_hook", None)
    result = fetchers.poll_account(pop3_account)

    assert (result.fetched, result.stored) == (2, 1)
    assert sorted(Ticket.objects.values_list("title", flat=True)) == ["Pop 0", "Pop 1"]
    assert list((maildir / "cur").iterdir()) + list((maildir / "new").iterdir()) == []


def test_a_wrong_password_is_recorded_on_the_account(
    dovecot: Dovecot, imap_account: EmailAccount
) -> None:
    EmailAccount.objects.filter(pk=imap_account.pk).update(password="wrong")
    imap_account.refresh_from_db()
    with pytest.raises(imaplib.IMAP4.error):
        fetchers.poll_account(imap_account)
    imap_account.refresh_from_db()
    assert imap_account.last_error.startswith("error: ")
    assert "AUTHENTICATIONFAILED" in imap_account.last_error


def test_fetch_email_command_polls_active_accounts(
    dovecot: Dovecot, imap_account: EmailAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    dovecot.deliver(imap_account.username, mail(subject="Via command"))
    call_command("fetch_email", "--account", imap_account.name)
    assert f"{imap_account.name}: 1 fetched, 1 new, 0 failed" in capsys.readouterr().out
    assert Ticket.objects.get().title == "Via command"
    assert EmailMessage.objects.get().status == EmailMessageStatus.PROCESSED
