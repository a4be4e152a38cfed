"""Outbound mail through a real SMTP server on loopback, and replies threading back."""

from __future__ import annotations

import pytest

from email_integration import services
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus
from email_integration.tasks import send_queued
from eventlog import outbox
from eventlog.models import EventLog
from eventlog.subscribers import deliver
from nixflow import services as core_services
from nixflow.models import Role, Ticket
from tests.email_integration.messages import mail
from tests.email_integration.servers import SMTPServer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def deliver_events(ticket: Ticket, capture: object) -> None:
    """Run the subscribers of the ticket's events and the sends they queue in the
    outbox, as the relay and the Celery worker do after commit."""
    for event in EventLog.objects.filter(ticket_key=ticket.key).order_by("id"):
        with capture(execute=True):
            deliver(event)
    outbox.run_inline()


@pytest.fixture
def run_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    # The task body, inline, instead of through a broker.
    monkeypatch.setattr(send_queued, "delay", lambda pk: send_queued.apply(args=[pk]).get())


def test_a_mailed_in_ticket_is_acknowledged_with_its_key_and_threading_headers(
    account: EmailAccount,
    smtp: SMTPServer,
    run_sends: None,
    django_capture_on_commit_callbacks: object,
) -> None:
    inbound = services.message_ingest(account=account, raw=mail())
    ticket = inbound.ticket
    deliver_events(ticket, django_capture_on_commit_callbacks)

    ((sender, recipients, message),) = smtp.messages
    assert recipients == ["carol@example.com"]
    assert sender == "help@desk.test"
    assert message["Subject"] == f"[{ticket.key}] Printer on fire"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["In-Reply-To"] == f"<{inbound.message_id}>"
    assert f"<{inbound.message_id}>" in message["References"]
    stored = EmailMessage.objects.get(message_type="outbound")
    assert (stored.status, stored.ticket) == (EmailMessageStatus.SENT, ticket)
    assert message["Message-ID"] == f"<{stored.message_id}>"


def test_public_agent_comments_reach_requester_and_watchers_internal_ones_nobody(
    account: EmailAccount,
    smtp: SMTPServer,
    run_sends: None,
    django_capture_on_commit_callbacks: object,
) -> None:
    ticket = services.message_ingest(account=account, raw=mail()).ticket
    agent = UserFactory(username="bob", email="bob@desk.test", role=Role.AGENT)
    watcher = UserFactory(username="dave", email="dave@example.com")
    core_services.ticket_watch(ticket=ticket, user=watcher, actor=agent)
    core_services.comment_create(ticket=ticket, author=agent, body="Secret", is_internal=True)
    core_services.comment_create(ticket=ticket, author=agent, body="We are on it.")
    smtp.messages.clear()
    deliver_events(ticket, django_capture_on_commit_callbacks)

    comment_mail = [m for _, _, m in smtp.messages if m["Subject"].startswith("Re:")]
    assert sorted(m["To"].split("<")[-1].strip(">") for m in comment_mail) == [
        "carol@example.com",
        "dave@example.com",
    ]
    for message in comment_mail:
        assert "We are on it." in message.get_content()
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["In-Reply-To"]
    assert not any("Secret" in m.get_content() for _, _, m in smtp.messages)


def test_a_reply_to_our_mail_lands_on_the_same_ticket(
    account: EmailAccount,
    smtp: SMTPServer,
    run_sends: None,
    django_capture_on_commit_callbacks: object,
) -> None:
    ticket = services.message_ingest(account=account, raw=mail()).ticket
    deliver_events(ticket, django_capture_on_commit_callbacks)
    ((_, _, acknowledgement),) = smtp.messages

    reply = services.message_ingest(
        account=account,
        raw=mail(
            subject=f"Re: {acknowledgement['Subject']}",
            in_reply_to=acknowledgement["Message-ID"],
            references=[acknowledgement["References"], acknowledgement["Message-ID"]],
            body="Thanks. It still smokes.",
        ),
    )
    assert reply.ticket == ticket
    assert reply.comment.body == "Thanks. It still smokes."


def test_an_unreachable_smtp_server_is_retried_with_backoff_then_marked_failed(
    account: EmailAccount, settings: object, django_capture_on_commit_callbacks: object
) -> None:
    from tests.email_integration.servers import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_TIMEOUT = 2
    ticket = services.message_ingest(account=account, raw=mail()).ticket
    event = EventLog.objects.get(type="ticket.created", ticket_key=ticket.key)
    with django_capture_on_commit_callbacks(execute=False):
        deliver(event)
    queued = EmailMessage.objects.get(message_type="outbound")

    # Run eagerly, the task's retries happen inline: every one of them fails here.
    result = send_queued.apply(args=[queued.pk])

    assert result.state == "FAILURE"
    queued.refresh_from_db()
    assert queued.status == EmailMessageStatus.FAILED
    assert queued.attempts == 1 + send_queued.max_retries
    assert queued.error_reason.startswith("ConnectionRefusedError")


def test_no_mail_account_means_no_outbound_mail(
    requester: object, django_capture_on_commit_callbacks: object
) -> None:
    ticket = core_services.ticket_create(requester=requester, title="Web", actor=requester)
    deliver_events(ticket, django_capture_on_commit_callbacks)
    assert not EmailMessage.objects.exists()
