"""`ingest_email --workers N`: parallel intake that keeps conversations and senders in
order, so that replies still join their tickets."""

from __future__ import annotations

import io
import mailbox
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from email_integration import services
from email_integration.management.commands.ingest_email import Stored, partition, sources
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus
from nixflow import services as core_services
from nixflow.models import Ticket, User, Workflow
from tests.email_integration.messages import mail

SENDERS = ["alice", "bob", "carol", "dave", "erin", "frank"]


def _conversations(maildir: mailbox.Maildir) -> dict[str, list[str]]:
    """Per sender: an original, a reply to it, a reply to the reply that names only
    its parent, and one with References only; message ids in writing order."""
    threads = {}
    for name in SENDERS:
        sender = f"{name}@example.com"
        first = f"<{name}.1@example.com>"
        second = f"<{name}.2@example.com>"
        third = f"<{name}.3@example.com>"
        fourth = f"<{name}.4@example.com>"
        maildir.add(mail(sender=sender, subject=f"Help {name}", message_id=first))
        maildir.add(mail(sender=sender, message_id=second, in_reply_to=first, references=[first]))
        maildir.add(mail(sender=sender, message_id=third, in_reply_to=second))
        maildir.add(mail(sender=sender, message_id=fourth, references=[first, third]))
        threads[name] = [i.strip("<>") for i in (first, second, third, fourth)]
    return threads


@pytest.mark.django_db(transaction=True)
def test_parallel_ingest_threads_every_reply_into_its_ticket(tmp_path: Path) -> None:
    account = EmailAccount.objects.create(name="Help", address="help@desk.test", protocol="NONE")
    threads = _conversations(mailbox.Maildir(tmp_path / "Maildir", create=True))
    out = io.StringIO()

    call_command(
        "ingest_email", "--account", account.name, "--workers", "2", "--batch-size", "3",
        "-v", "2", str(tmp_path / "Maildir"), stdout=out,
    )  # fmt: skip

    assert "in 2 shares" in out.getvalue()  # it did run in two workers
    assert f"{4 * len(SENDERS)} messages ({4 * len(SENDERS)} processed)" in out.getvalue()
    assert Ticket.objects.count() == len(SENDERS)
    for name, ids in threads.items():
        messages = [EmailMessage.objects.get(message_id=i) for i in ids]
        assert {m.ticket_id for m in messages} == {messages[0].ticket_id}, name
        assert messages[0].ticket.title == f"Help {name}"
        assert messages[0].ticket.comments.count() == 3
        assert User.objects.filter(email=f"{name}@example.com").count() == 1

    # Replies by subject token only, in a second run: they join the tickets too.
    replies = mailbox.Maildir(tmp_path / "Replies", create=True)
    for ticket in Ticket.objects.select_related("requester"):
        replies.add(mail(sender=ticket.requester.email, subject=f"Re: [{ticket.key}] more"))
    call_command(
        "ingest_email", "--account", account.name, "--workers", "2", "--batch-size", "2",
        str(tmp_path / "Replies"), stdout=io.StringIO(),
    )  # fmt: skip
    assert Ticket.objects.count() == len(SENDERS)
    assert not EmailMessage.objects.exclude(status=EmailMessageStatus.PROCESSED).exists()
    for ticket in Ticket.objects.all():
        assert ticket.comments.count() == 4


def _lock_is_free(model: type[Ticket | Workflow], pk: int) -> bool:
    """Whether another connection can lock the row right now."""
    free: list[bool] = []

    def probe() -> None:
        try:
            with transaction.atomic():
                model.objects.select_for_update(nowait=True).get(pk=pk)
            free.append(True)
        except DatabaseError:
            free.append(False)
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return free[0]


@pytest.mark.django_db(transaction=True)
def test_a_comment_locks_its_ticket_but_not_the_workflow_every_ticket_shares() -> None:
    # Two workers queued on the default workflow's row: commenting locked it (FOR
    # UPDATE over the ticket joined with its stage and workflow) until the batch ended.
    account = EmailAccount.objects.create(name="Help", address="help@desk.test", protocol="NONE")
    ticket = services.message_ingest(account=account, raw=mail()).ticket
    with transaction.atomic():
        core_services.comment_create(ticket=ticket, author=ticket.requester, body="More")
        assert not _lock_is_free(Ticket, ticket.pk)
        assert _lock_is_free(Workflow, ticket.workflow_id)


def _stored(index: int, pk: int, *keys: str) -> Stored:
    return Stored(index, pk, "received", "", frozenset(keys))


def test_partition_keeps_conversations_and_senders_in_one_share_in_input_order() -> None:
    stored = [
        _stored(0, 10, "id:a", "from:x@e"),
        _stored(1, 11, "id:b", "from:y@e"),
        _stored(2, 12, "id:c", "id:a", "from:z@e"),  # replies to a
        _stored(3, 13, "id:d", "from:y@e"),  # same sender as b
        _stored(4, 14, "id:e", "from:w@e"),
        _stored(5, 15, "id:f", "id:c", "from:v@e"),  # replies to c, so to a
        _stored(6, 9, "id:g", "from:u@e"),  # stored earlier, read later
    ]
    shares = partition(stored, 2)

    together = [{10, 12, 15}, {11, 13}]
    for group in together:
        assert sum(bool(group & set(share)) for share in shares) == 1
    for share in shares:
        assert share == sorted(share, key=lambda pk: next(m.index for m in stored if m.pk == pk))
    assert sorted(len(share) for share in shares) == [3, 4]


def test_a_maildir_is_read_in_delivery_order(tmp_path: Path) -> None:
    mailbox.Maildir(tmp_path / "Maildir", create=True)
    names = ["1700000010.M5P1Q3.host", "1700000002.M900000P1Q2.host", "1700000002.M80P1Q1.host"]
    for name in names:  # microseconds are not zero-padded: sorting the names is not enough
        (tmp_path / "Maildir" / "new" / name).write_bytes(mail(subject=name))
    assert [s.key for s in sources(tmp_path / "Maildir")] == [
        "1700000002.M80P1Q1.host",
        "1700000002.M900000P1Q2.host",
        "1700000010.M5P1Q3.host",
    ]
