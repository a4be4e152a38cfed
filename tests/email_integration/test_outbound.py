"""Outbound mail: every Django backend, retries with backoff, failure and resend, the
sweeper, and header values that user text cannot break. SMTP is a real server on
loopback (aiosmtpd); the outbox relay and the worker run in-process."""

from __future__ import annotations

import importlib
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from celery.exceptions import Retry
from django.core import mail as django_mail
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from email_integration import events, services
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus
from email_integration.tasks import send_queued, sweep_outbound
from eventlog import outbox
from eventlog.models import EventLog
from nixflow import services as core_services
from nixflow.models import Role, Ticket, User
from tests.email_integration.factories import EmailMessageFactory
from tests.email_integration.messages import mail
from tests.email_integration.servers import CapturingHandler, SMTPServer, free_port
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def mailed_in_ticket(account: EmailAccount, **kwargs: Any) -> Ticket:
    ticket = services.message_ingest(account=account, raw=mail(**kwargs)).ticket
    assert ticket is not None
    return ticket


def run_worker() -> None:
    """What the relay and the Celery worker do after commit: deliver the events to their
    subscribers, then run the sends they queued."""
    outbox.run_inline()


def outbound() -> EmailMessage:
    return EmailMessage.objects.get(message_type="outbound")


@pytest.fixture
def smtp_down(settings: Settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_TIMEOUT = 2


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory(username="root", role=Role.ADMIN, is_superuser=True, is_staff=True)


# --- Threading headers and recipients (SMTP) ----------------------------------------------


def test_a_mailed_in_ticket_is_acknowledged_with_its_key_and_threading_headers(
    account: EmailAccount, smtp: SMTPServer
) -> None:
    inbound = services.message_ingest(account=account, raw=mail())
    ticket = inbound.ticket
    run_worker()

    ((sender, recipients, message),) = smtp.messages
    assert recipients == ["carol@example.com"]
    assert sender == "help@desk.test"
    assert message["Subject"] == f"[{ticket.key}] Request received: Printer on fire"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["In-Reply-To"] == f"<{inbound.message_id}>"
    assert f"<{inbound.message_id}>" in message["References"]
    stored = outbound()
    assert (stored.status, stored.ticket, stored.attempts) == (EmailMessageStatus.SENT, ticket, 1)
    assert message["Message-ID"].strip() == f"<{stored.message_id}>"
    sent = EventLog.objects.get(type=events.SENT)
    assert (sent.subject_id, sent.ticket_key) == (str(stored.pk), ticket.key)
    assert sent.payload == {"to": ["carol@example.com"], "attempts": 1}


def test_public_agent_comments_reach_requester_and_watchers_internal_ones_nobody(
    account: EmailAccount, smtp: SMTPServer
) -> None:
    ticket = mailed_in_ticket(account)
    agent = UserFactory(username="bob", email="bob@desk.test", role=Role.AGENT)
    watcher = UserFactory(username="dave", email="dave@example.com")
    core_services.ticket_watch(ticket=ticket, user=watcher, actor=agent)
    core_services.comment_create(ticket=ticket, author=agent, body="Secret", is_internal=True)
    core_services.comment_create(ticket=ticket, author=agent, body="We are on it.")
    run_worker()

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
    account: EmailAccount, smtp: SMTPServer
) -> None:
    ticket = mailed_in_ticket(account)
    run_worker()
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


def test_no_mail_account_means_no_outbound_mail(requester: User) -> None:
    core_services.ticket_create(requester=requester, title="Web", actor=requester)
    run_worker()
    assert not EmailMessage.objects.exists()


# --- Every Django backend ------------------------------------------------------------------


def test_the_console_backend_of_development_prints_the_mail(
    account: EmailAccount, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    ticket = mailed_in_ticket(account)
    run_worker()

    printed = capsys.readouterr().out
    assert f"Subject: [{ticket.key}] Request received: Printer on fire" in printed
    assert "To: Carol Example <carol@example.com>" in printed
    assert outbound().status == EmailMessageStatus.SENT


def test_the_locmem_backend_receives_the_stored_message(
    account: EmailAccount, settings: Settings
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    django_mail.outbox = []
    ticket = mailed_in_ticket(account)
    run_worker()

    (sent,) = django_mail.outbox
    stored = outbound()
    assert sent.to == ["carol@example.com"]
    assert sent.message().as_bytes() == bytes(stored.raw)
    assert sent.message()["Subject"] == f"[{ticket.key}] Request received: Printer on fire"
    assert stored.status == EmailMessageStatus.SENT


def test_the_file_backend_writes_the_message_to_a_file(
    account: EmailAccount, settings: Settings, tmp_path: Path
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    ticket = mailed_in_ticket(account)
    run_worker()

    (written,) = tmp_path.iterdir()
    message = message_from_bytes(written.read_bytes(), policy=default_policy)
    assert message["Subject"] == f"[{ticket.key}] Request received: Printer on fire"
    assert message["Message-ID"].strip() == f"<{outbound().message_id}>"


# --- User text in headers ------------------------------------------------------------------


def test_a_title_with_line_breaks_still_gets_its_mail_with_a_one_line_subject(
    account: EmailAccount, smtp: SMTPServer
) -> None:
    requester = UserFactory(
        username="carol", email="carol@example.com", first_name="Carol\r\nBcc: x@evil.test"
    )
    ticket = core_services.ticket_create(
        requester=requester,
        title="Printer\r\nBcc: everyone@evil.test\r\n\r\nfire",
        actor=requester,
    )
    run_worker()  # the acknowledgement, from the desk's only account

    ((_, recipients, message),) = smtp.messages
    assert recipients == ["carol@example.com"]
    assert (
        message["Subject"]
        == f"[{ticket.key}] Request received: Printer Bcc: everyone@evil.test fire"
    )
    assert message["Bcc"] is None
    assert message["To"] == '"Carol Bcc: x@evil.test" <carol@example.com>'
    assert outbound().status == EmailMessageStatus.SENT


# --- Failures: backoff, failed for good, resend --------------------------------------------


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The countdowns the task asks Celery to retry after (the retry itself not run)."""
    countdowns: list[int] = []

    def retry(*, exc: BaseException, countdown: int) -> Retry:
        countdowns.append(countdown)
        return Retry(exc=exc, when=countdown)

    monkeypatch.setattr(send_queued, "retry", retry)
    return countdowns


def test_a_failing_smtp_server_is_retried_with_backoff_then_the_mail_is_marked_failed(
    account: EmailAccount, smtp_down: None, settings: Settings, retries: list[int]
) -> None:
    settings.EMAIL_SEND_MAX_ATTEMPTS = 3
    settings.EMAIL_SEND_BACKOFF_SECONDS = 30
    mailed_in_ticket(account)
    run_worker()  # the first try, from the outbox
    message = outbound()
    assert (message.status, message.attempts, retries) == (EmailMessageStatus.QUEUED, 1, [30])
    assert message.error_reason.startswith("ConnectionRefusedError")
    assert message.next_attempt_at > timezone.now() + timedelta(seconds=25)

    send_queued.apply(kwargs={"message_id": message.pk})  # the retries, as Celery runs them
    final = send_queued.apply(kwargs={"message_id": message.pk})

    assert retries == [30, 60]
    assert final.state == "FAILURE"
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailMessageStatus.FAILED, 3)
    assert message.error_reason.startswith("ConnectionRefusedError")
    failed = EventLog.objects.get(type=events.SEND_FAILED)
    assert failed.payload["attempts"] == 3
    assert failed.payload["reason"] == message.error_reason
    # Nothing runs it again: a failed message waits for staff.
    assert send_queued.apply(kwargs={"message_id": message.pk}).get() == "nothing to send"
    assert sweep_outbound.apply().get() == 0


def test_retries_run_inline_until_the_limit_when_celery_runs_eagerly(
    account: EmailAccount, smtp_down: None, settings: Settings
) -> None:
    settings.EMAIL_SEND_MAX_ATTEMPTS = 4
    mailed_in_ticket(account)
    run_worker()  # without a broker in between, each retry runs at once

    message = outbound()
    assert (message.status, message.attempts) == (EmailMessageStatus.FAILED, 4)


def test_staff_see_a_failed_mail_in_the_admin_and_resend_it(
    account: EmailAccount,
    smtp_down: None,
    settings: Settings,
    client: Client,
    agent: User,
) -> None:
    settings.EMAIL_SEND_MAX_ATTEMPTS = 1
    mailed_in_ticket(account)
    run_worker()
    failed = outbound()
    assert failed.status == EmailMessageStatus.FAILED
    client.force_login(agent)

    listed = client.get("/admin/email_integration/emailmessage/", {"status": "failed"})
    assert failed.subject.encode() in listed.content
    page = client.get(f"/admin/email_integration/emailmessage/{failed.pk}/change/")
    assert b"ConnectionRefusedError" in page.content

    server = start_capturing_smtp(settings)
    try:
        response = client.post(
            "/admin/email_integration/emailmessage/",
            {"action": "resend", "_selected_action": [failed.pk]},
            follow=True,
        )
        assert b"Queued 1 message(s) to be sent again." in response.content
        run_worker()
    finally:
        server.controller.stop()

    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (EmailMessageStatus.SENT, 1)
    assert len(server.messages) == 1
    resent = EventLog.objects.get(type=events.RESENT)
    assert resent.actor == agent
    assert resent.payload["previous_attempts"] == 1
    assert resent.payload["previous_reason"].startswith("ConnectionRefusedError")


def test_the_api_resends_failed_mail_only(
    account: EmailAccount, api_client: APIClient, agent: User, requester: User
) -> None:
    failed = EmailMessageFactory(
        outbound=True, account=account, status=EmailMessageStatus.FAILED, attempts=8
    )
    sent = EmailMessageFactory(outbound=True, account=account, status=EmailMessageStatus.SENT)
    inbound = EmailMessageFactory(account=account, status=EmailMessageStatus.FAILED)

    api_client.force_authenticate(requester)
    assert api_client.post(f"/api/email/messages/{failed.pk}/resend/").status_code == 403
    api_client.force_authenticate(agent)
    response = api_client.post(f"/api/email/messages/{failed.pk}/resend/")

    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    for other in (sent, inbound):
        refused = api_client.post(f"/api/email/messages/{other.pk}/resend/")
        assert refused.status_code == 409
        assert "Only outbound messages that failed" in refused.json()["detail"]
    assert EventLog.objects.filter(type=events.RESENT).count() == 1


# --- The sweeper and the claim ---------------------------------------------------------------


def start_capturing_smtp(settings: Settings) -> SMTPServer:
    handler = CapturingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    return SMTPServer("127.0.0.1", port, handler, controller)


@pytest.fixture
def lost_send(account: EmailAccount, settings: Settings) -> EmailMessage:
    """A queued message whose task never arrived (the broker lost it)."""
    settings.EMAIL_SEND_STUCK_SECONDS = 300
    return EmailMessageFactory(
        outbound=True,
        account=account,
        next_attempt_at=timezone.now() - timedelta(seconds=301),
    )


def test_the_sweeper_sends_a_message_left_queued_exactly_once(
    lost_send: EmailMessage, smtp: SMTPServer
) -> None:
    recent = EmailMessageFactory(
        outbound=True, account=lost_send.account, next_attempt_at=timezone.now()
    )

    assert sweep_outbound.apply().get() == 1
    assert sweep_outbound.apply().get() == 0  # a second sweep finds nothing more
    run_worker()

    assert [recipients for _, recipients, _ in smtp.messages] == [["carol@example.com"]]
    lost_send.refresh_from_db()
    assert lost_send.status == EmailMessageStatus.SENT
    recent.refresh_from_db()
    assert recent.status == EmailMessageStatus.QUEUED  # not overdue: its own task comes


def test_two_tasks_for_one_message_send_it_once(lost_send: EmailMessage, smtp: SMTPServer) -> None:
    first = send_queued.apply(kwargs={"message_id": lost_send.pk}).get()
    second = send_queued.apply(kwargs={"message_id": lost_send.pk}).get()

    assert (first, second) == ("sent", "nothing to send")
    assert len(smtp.messages) == 1


def test_a_send_claimed_by_a_worker_that_died_is_queued_again_after_its_claim_lapses(
    account: EmailAccount, smtp: SMTPServer
) -> None:
    dead = EmailMessageFactory(
        outbound=True,
        account=account,
        status=EmailMessageStatus.SENDING,
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )
    alive = EmailMessageFactory(
        outbound=True,
        account=account,
        status=EmailMessageStatus.SENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=60),
    )

    assert sweep_outbound.apply().get() == 1
    run_worker()

    dead.refresh_from_db()
    alive.refresh_from_db()
    assert (dead.status, alive.status) == (EmailMessageStatus.SENT, EmailMessageStatus.SENDING)
    assert len(smtp.messages) == 1


def test_the_migrations_schedule_the_sweeper_every_minute_under_its_task_name() -> None:
    from celery import current_app
    from django.apps import apps as django_apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module(
        "email_integration.migrations.0005_encrypt_secrets_outbound_sweeper"
    )
    PeriodicTask.objects.filter(name=migration.TASK_NAME).delete()
    migration.create_schedule(django_apps, None)

    task = PeriodicTask.objects.get(name=migration.TASK_NAME)
    assert task.task in current_app.tasks
    assert current_app.tasks[task.task].name == sweep_outbound.name
    assert (task.interval.every, task.interval.period) == (1, "minutes")


class RefusingHandler(CapturingHandler):
    """An SMTP server that refuses the first ``refuse`` messages, then accepts."""

    def __init__(self, refuse: int) -> None:
        super().__init__()
        self.refuse = refuse

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        return await super().handle_DATA(server, session, envelope)


def test_a_refused_message_keeps_the_servers_reason_and_goes_out_on_a_later_try(
    account: EmailAccount, settings: Settings, retries: list[int]
) -> None:
    handler = RefusingHandler(refuse=1)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    try:
        mailed_in_ticket(account)
        run_worker()
        refused = outbound()
        assert (refused.status, refused.attempts) == (EmailMessageStatus.QUEUED, 1)
        assert refused.error_reason.startswith("SMTPDataError")
        assert "Mailbox busy" in refused.error_reason

        assert send_queued.apply(kwargs={"message_id": refused.pk}).get() == "sent"
    finally:
        controller.stop()

    refused.refresh_from_db()
    assert (refused.status, refused.attempts, refused.error_reason) == ("sent", 2, "")
    assert len(handler.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_skip_a_message_another_one_holds(account: EmailAccount) -> None:
    import threading

    from django.db import connections, transaction

    from email_integration import outbound as outbound_mail

    stuck = EmailMessageFactory(
        outbound=True, account=account, next_attempt_at=timezone.now() - timedelta(hours=1)
    )
    locked, release = threading.Event(), threading.Event()

    def other_sweeper() -> None:  # holds the row as a sweep in another process would
        try:
            with transaction.atomic():
                EmailMessage.objects.select_for_update().get(pk=stuck.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_sweeper)
    thread.start()
    try:
        assert locked.wait(10)
        assert outbound_mail.sweep_stuck() == []  # skipped, not waited for
    finally:
        release.set()
        thread.join()
    assert outbound_mail.sweep_stuck() == [stuck.pk]
