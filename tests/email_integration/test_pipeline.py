"""Inbound mail through the pipeline: tickets, threading, idempotency, loops, attachments."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from pytest_django.fixtures import Settings

from email_integration import services
from email_integration.models import (
    EmailAccount,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    InboundProtocol,
)
from eventlog.models import EventLog
from nixflow import services as core_services
from nixflow.models import Comment, Role, Source, Ticket, User
from tests.email_integration.dkim_support import Resolver, dkim_sign, publish, rsa_key
from tests.email_integration.messages import mail, message_id_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def ingest(account: EmailAccount, raw: bytes) -> EmailMessage:
    return services.message_ingest(account=account, raw=raw)


def test_a_new_message_opens_a_ticket_for_a_new_requester(account: EmailAccount) -> None:
    raw = mail(body="It smokes since this morning.\n\n-- \nCarol\nAcme Corp")
    message = ingest(account, raw)

    assert message.status == EmailMessageStatus.PROCESSED
    ticket = message.ticket
    assert (ticket.title, ticket.source) == ("Printer on fire", Source.EMAIL)
    assert ticket.description == "It smokes since this morning."
    requester = ticket.requester
    assert (requester.email, requester.role, requester.first_name) == (
        "carol@example.com",
        Role.REQUESTER,
        "Carol",
    )
    assert not requester.has_usable_password()
    assert message.thread.root_message_id == message_id_of(raw).strip("<>")
    assert "Acme Corp" in message.text_body  # the full text is kept
    assert EventLog.objects.filter(type="email.received", ticket_key=ticket.key).exists()


def test_an_existing_user_is_matched_case_insensitively(account: EmailAccount) -> None:
    known = UserFactory(username="carol", email="Carol@Example.com")
    message = ingest(account, mail(sender="CAROL@example.COM"))
    assert message.ticket.requester == known


def _opened(account: EmailAccount) -> tuple[Ticket, str]:
    raw = mail()
    return ingest(account, raw).ticket, message_id_of(raw)


def test_a_reply_joins_the_ticket_by_in_reply_to(account: EmailAccount) -> None:
    ticket, first_id = _opened(account)
    reply = ingest(
        account,
        mail(
            subject="Re: Printer on fire",
            body="Now it beeps.\n\nOn Monday Carol wrote:\n> It smokes since this morning.",
            in_reply_to=first_id,
        ),
    )
    assert reply.ticket == ticket
    assert reply.comment.body == "Now it beeps."
    assert reply.comment.author == ticket.requester
    assert Ticket.objects.count() == 1


def test_a_reply_with_references_only_joins_the_ticket(account: EmailAccount) -> None:
    ticket, first_id = _opened(account)
    reply = ingest(account, mail(subject="Something else", references=["<x@y>", first_id]))
    assert reply.ticket == ticket


def test_the_subject_token_joins_the_ticket_of_a_participant(account: EmailAccount) -> None:
    ticket, _ = _opened(account)
    reply = ingest(account, mail(subject=f"More about [{ticket.key}] the printer"))
    assert reply.ticket == ticket


def test_a_subject_token_from_a_stranger_opens_a_new_ticket(account: EmailAccount) -> None:
    ticket, _ = _opened(account)
    other = ingest(account, mail(sender="mallory@evil.test", subject=f"[{ticket.key}] hi"))
    assert other.ticket != ticket
    assert other.ticket.requester.email == "mallory@evil.test"
    assert not Comment.objects.filter(ticket=ticket).exists()


def test_someone_copied_on_the_conversation_may_reply_and_becomes_a_watcher(
    account: EmailAccount,
) -> None:
    raw = mail(to="help@desk.test, dave@example.com")
    ticket = ingest(account, raw).ticket
    reply = ingest(
        account, mail(sender="dave@example.com", body="Me too", in_reply_to=message_id_of(raw))
    )
    assert reply.ticket == ticket
    assert ticket.watchers.filter(user__email="dave@example.com").exists()


def test_the_same_message_three_times_makes_one_ticket(account: EmailAccount) -> None:
    raw = mail()
    results = [ingest(account, raw) for _ in range(3)]
    assert len({m.pk for m in results}) == 1
    assert Ticket.objects.count() == 1
    assert EmailMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_message_ingested_concurrently_makes_one_ticket() -> None:
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    raw = mail()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait()
            ingest(account, raw)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert EmailMessage.objects.count() == 1
    assert Ticket.objects.count() == 1
    assert EmailMessage.objects.get().status == EmailMessageStatus.PROCESSED


def test_a_reused_message_id_with_other_content_is_kept_and_flagged(
    account: EmailAccount,
) -> None:
    first = ingest(account, mail(message_id="<same@example.com>", body="one"))
    second = ingest(account, mail(message_id="<same@example.com>", body="two"))
    assert second.pk != first.pk
    assert second.status == EmailMessageStatus.IGNORED
    assert second.duplicate_of == first
    assert "received before with different content" in second.error_reason
    assert b"two" in bytes(second.raw)
    assert Ticket.objects.count() == 1


def test_a_message_without_message_id_is_stored_once_by_its_bytes(account: EmailAccount) -> None:
    raw = b"From: carol@example.com\r\nSubject: No id\r\n\r\nHello\r\n"
    assert ingest(account, raw).pk == ingest(account, raw).pk
    assert Ticket.objects.count() == 1


AUTOMATIC = {
    "auto-submitted": ({"Auto-Submitted": "auto-replied"}, "carol@example.com", "auto_reply"),
    "auto-generated": ({"Auto-Submitted": "auto-generated"}, "carol@example.com", "auto_reply"),
    "precedence bulk": ({"Precedence": "bulk"}, "carol@example.com", "auto_reply"),
    "precedence junk": ({"Precedence": "junk"}, "carol@example.com", "auto_reply"),
    "precedence list": ({"Precedence": "list"}, "carol@example.com", "auto_reply"),
    "x-autoreply": ({"X-Autoreply": "yes"}, "carol@example.com", "auto_reply"),
    "x-autorespond": ({"X-Autorespond": "1"}, "carol@example.com", "auto_reply"),
    "x-autoresponse": ({"X-Autoresponse": "1"}, "carol@example.com", "auto_reply"),
    "x-autoreply-from": ({"X-AutoReply-From": "c@x"}, "carol@example.com", "auto_reply"),
    "x-mail-autoreply": ({"X-Mail-Autoreply": "1"}, "carol@example.com", "auto_reply"),
    "x-autogenerated": ({"X-Autogenerated": "Reply"}, "carol@example.com", "auto_reply"),
    "x-auto-response-suppress": (
        {"X-Auto-Response-Suppress": "DR, AutoReply"},
        "carol@example.com",
        "auto_reply",
    ),
    "list-id": ({"List-Id": "<news.example.com>"}, "carol@example.com", "auto_reply"),
    "list-unsubscribe": (
        {"List-Unsubscribe": "<mailto:u@example.com>"},
        "carol@example.com",
        "auto_reply",
    ),
    "x-loop": ({"X-Loop": "help@desk.test"}, "carol@example.com", "auto_reply"),
    "empty return-path": ({"Return-Path": "<>"}, "carol@example.com", "bounce"),
    "mailer-daemon": ({}, "MAILER-DAEMON@mx.example.com", "bounce"),
    "postmaster": ({}, "postmaster@mx.example.com", "bounce"),
    "x-failed-recipients": ({"X-Failed-Recipients": "x@y"}, "carol@example.com", "bounce"),
}


@pytest.mark.parametrize("kind", list(AUTOMATIC))
def test_automatic_mail_opens_no_ticket_and_gets_no_reply(
    account: EmailAccount, kind: str, django_capture_on_commit_callbacks: object
) -> None:
    headers, sender, expected_type = AUTOMATIC[kind]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = ingest(account, mail(sender=sender, headers=headers))
    assert message.status == EmailMessageStatus.IGNORED
    assert message.message_type == expected_type
    assert message.error_reason.startswith("Automatic mail:")
    assert not Ticket.objects.exists()
    assert not EmailMessage.objects.filter(message_type=EmailMessageType.OUTBOUND).exists()
    assert callbacks == []  # nothing queued to send either


def test_a_delivery_report_is_linked_to_the_message_it_bounces(account: EmailAccount) -> None:
    ours = EmailMessage.objects.create(
        account=account,
        message_type=EmailMessageType.OUTBOUND,
        status=EmailMessageStatus.SENT,
        message_id="NF-1.123@desk.test",
        raw=b"x",
        raw_sha256="0" * 64,
    )
    report = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        b"To: help@desk.test\r\nSubject: Undelivered Mail\r\nMessage-ID: <b1@mx>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: help@desk.test\r\nTo: gone@example.com\r\nSubject: [NF-1] x\r\n"
        b"Message-ID: <NF-1.123@desk.test>\r\n\r\nHello\r\n--B--\r\n"
    )
    message = ingest(account, report)
    assert (message.message_type, message.status) == (EmailMessageType.BOUNCE, "ignored")
    assert message.bounce_of == ours
    assert not Ticket.objects.exists()


def test_mail_from_our_own_address_is_ignored_as_a_loop(account: EmailAccount) -> None:
    message = ingest(account, mail(sender="help@desk.test"))
    assert message.status == EmailMessageStatus.IGNORED
    assert "own addresses" in message.error_reason


def test_a_runaway_sender_is_stopped_by_the_hourly_limit(
    account: EmailAccount, settings: Settings
) -> None:
    settings.EMAIL_SENDER_LIMIT_PER_HOUR = 3
    results = [ingest(account, mail(subject=f"Loop {n}")) for n in range(5)]
    assert [m.status for m in results] == ["processed"] * 3 + ["ignored"] * 2
    assert "more than 3 messages this hour" in results[-1].error_reason


def test_attachments_are_stored_and_oversized_ones_recorded_as_refused(
    account: EmailAccount, settings: Settings, tmp_path: object
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.NIXFLOW_MAX_ATTACHMENT_BYTES = 100
    message = ingest(
        account,
        mail(
            attachments=[
                ("log.txt", b"small log", "text/plain"),
                ("../../etc/passwd", b"x" * 50, "text/plain"),
                ("dump.bin", b"y" * 101, "application/octet-stream"),
            ]
        ),
    )
    rows = {a.filename: a for a in message.attachments.all()}
    assert set(rows) == {"log.txt", "passwd", "dump.bin"}
    assert rows["dump.bin"].refused_reason == "101 bytes exceeds the 100-byte limit"
    assert not rows["dump.bin"].file
    stored = message.comment.attachments.order_by("id")
    assert [a.filename for a in stored] == ["log.txt", "passwd"]
    assert stored[0].file.read() == b"small log"
    assert rows["log.txt"].file.name == stored[0].file.name


def test_html_only_mail_is_sanitized_and_its_text_extracted(account: EmailAccount) -> None:
    raw = (
        b"From: carol@example.com\r\nSubject: Html\r\nMessage-ID: <h1@example.com>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello <b>desk</b></p><script>alert(1)</script>"
        b'<a href="javascript:alert(2)" onclick="x()">link</a><img src=x onerror=alert(3)>'
    )
    message = ingest(account, raw)
    assert "Hello desk" in message.ticket.description
    for bad in ("<script", "javascript:", "onclick", "onerror"):
        assert bad not in message.html_body
    assert "<b>desk</b>" in message.html_body


def test_a_failure_is_kept_with_its_reason_and_can_be_reprocessed(
    account: EmailAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(core_services, "ticket_create", broken)
    message = ingest(account, mail())
    assert message.status == EmailMessageStatus.FAILED
    assert message.error_reason == "RuntimeError: database hiccup"
    assert not Ticket.objects.exists()

    monkeypatch.undo()
    (again,) = services.messages_reprocess(messages=[message])
    assert again.status == EmailMessageStatus.PROCESSED
    assert Ticket.objects.count() == 1


def test_an_authenticated_agent_writing_in_is_a_requester_of_their_own_ticket(
    account: EmailAccount, resolver: Resolver
) -> None:
    agent = UserFactory(username="bob", email="bob@desk.test", role=Role.AGENT)
    publish(resolver, domain="desk.test", key=rsa_key())
    signed = dkim_sign(mail(sender="bob@desk.test"), domain="desk.test", key=rsa_key())
    message = ingest(account, signed)
    assert message.ticket.requester == agent


def test_a_reply_to_a_closed_ticket_still_joins_it(account: EmailAccount, stages: dict) -> None:
    ticket, first_id = _opened(account)
    agent = UserFactory(role=Role.AGENT)
    core_services.ticket_transition(ticket=ticket, to_stage=stages["Closed"], actor=agent)
    reply = ingest(account, mail(in_reply_to=first_id, body="Thanks!"))
    assert reply.ticket == ticket


def test_users_count_stays_one_per_sender(account: EmailAccount) -> None:
    for n in range(3):
        ingest(account, mail(subject=f"Issue {n}"))
    assert User.objects.filter(email__iexact="carol@example.com").count() == 1
