"""Posted mail is stored and answered at once, then read by a worker within limits;
nothing is lost when its task is, and processing a message twice never opens two
tickets."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from email_integration import services
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus, InboundProtocol
from email_integration.parsing import structure_problem
from email_integration.tasks import process_stored_inbound
from eventlog import outbox
from eventlog.models import OutboxMessage
from nixflow import services as core_services
from nixflow.models import Ticket, User
from tests.email_integration.messages import mail, many_parts, nested

pytestmark = pytest.mark.django_db


def post(api_client: APIClient, account: EmailAccount, raw: bytes) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = api_client.generic(
        "POST", f"/api/email/inbound/{account.pk}/", raw, content_type="message/rfc822"
    )
    return response.status_code, response.json(), time.monotonic() - started


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (nested(2000), "Not read: MIME nesting deeper than 30 (limit EMAIL_MAX_MIME_DEPTH)."),
        (many_parts(20000), "Not read: more than 500 MIME parts (limit EMAIL_MAX_MIME_PARTS)."),
    ],
    ids=["2000 deep", "20000 parts"],
)
def test_a_hostile_structure_is_answered_at_once_and_failed_fast_with_its_reason(
    api_client: APIClient, account: EmailAccount, agent: User, raw: bytes, reason: str
) -> None:
    api_client.force_authenticate(agent)
    status, body, took = post(api_client, account, raw)
    assert (status, body["status"]) == (202, "received")
    assert took < 2  # the web process never parses it (it used to take 7 s and 27 s)

    started = time.monotonic()
    outbox.run_inline()  # the relay and a worker
    assert time.monotonic() - started < 5

    message = EmailMessage.objects.get(pk=body["id"])
    assert (message.status, message.error_reason) == (EmailMessageStatus.FAILED, reason)
    assert bytes(message.raw) == raw  # kept, never lost
    assert not Ticket.objects.exists()


def test_a_message_within_the_limits_is_processed(account: EmailAccount) -> None:
    message = services.message_ingest(account=account, raw=nested(5))
    assert message.status == EmailMessageStatus.PROCESSED
    assert message.ticket.description == "Hello"


def test_reading_past_the_time_limit_is_kept_as_failed(
    account: EmailAccount, settings: Settings
) -> None:
    settings.EMAIL_MAX_PARSE_SECONDS = 0
    message = services.message_ingest(account=account, raw=mail())
    assert message.status == EmailMessageStatus.FAILED
    assert "took longer than 0 s (limit EMAIL_MAX_PARSE_SECONDS)" in message.error_reason

    settings.EMAIL_MAX_PARSE_SECONDS = 20
    (again,) = services.messages_reprocess(messages=[message])
    assert again.status == EmailMessageStatus.PROCESSED


def test_a_message_that_kills_its_worker_is_swept_a_bounded_number_of_times_then_failed(
    account: EmailAccount, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.EMAIL_PROCESS_MAX_ATTEMPTS = 3
    raw = mail(subject="Poison")
    poison, _ = services.message_store(account=account, raw=raw)
    EmailMessage.objects.filter(pk=poison.pk).update(
        received_at=timezone.now() - timedelta(seconds=settings.EMAIL_SWEEP_AFTER_SECONDS + 1)
    )
    taken_up: list[int] = []

    def dies(*, message: EmailMessage) -> EmailMessage:
        taken_up.append(message.pk)  # ... and the worker is gone: nothing recorded
        return message

    monkeypatch.setattr(services, "message_process", dies)
    for _ in range(5):
        process_stored_inbound.apply().get()

    assert taken_up == [poison.pk] * 3
    poison.refresh_from_db()
    assert (poison.status, poison.attempts) == (EmailMessageStatus.FAILED, 3)
    assert poison.error_reason.startswith("Processing did not finish in 3 attempts")
    assert bytes(poison.raw) == raw  # kept, never lost
    assert process_stored_inbound.apply().get() == 0  # no sweep takes it up again

    monkeypatch.undo()
    (again,) = services.messages_reprocess(messages=[poison])  # staff, once fixed
    assert (again.status, again.attempts) == (EmailMessageStatus.PROCESSED, 4)


def test_the_sweep_processes_mail_whose_task_was_lost(
    account: EmailAccount, settings: Settings
) -> None:
    lost, _ = services.message_store(account=account, raw=mail(subject="Lost task"))
    fresh, _ = services.message_store(account=account, raw=mail(subject="Just came"))
    EmailMessage.objects.filter(pk=lost.pk).update(
        received_at=timezone.now() - timedelta(seconds=settings.EMAIL_SWEEP_AFTER_SECONDS + 1)
    )

    assert process_stored_inbound.apply().get() == 1

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == EmailMessageStatus.PROCESSED
    assert fresh.status == EmailMessageStatus.RECEIVED  # its own task is still due
    assert list(Ticket.objects.values_list("title", flat=True)) == ["Lost task"]


def test_a_task_for_a_processed_message_changes_nothing(account: EmailAccount) -> None:
    message, _ = services.message_accept(account=account, raw=mail())
    outbox.run_inline()
    assert services.message_process_by_id(message_id=message.pk).status == "processed"
    assert Ticket.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_error_after_the_ticket_committed_never_leads_to_a_second_ticket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The incident: with the broker down, queueing on commit raised after the ticket
    was committed; the message was marked failed, and reprocess_email opened another."""
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    create = core_services.ticket_create

    def create_then_fail_on_commit(**kwargs: object) -> Ticket:
        ticket = create(**kwargs)

        def broker_down() -> None:
            raise ConnectionRefusedError("broker down")

        transaction.on_commit(broker_down)
        return ticket

    monkeypatch.setattr(core_services, "ticket_create", create_then_fail_on_commit)
    message = services.message_ingest(account=account, raw=mail())
    monkeypatch.undo()

    assert message.status == EmailMessageStatus.PROCESSED  # not "failed"
    call_command("reprocess_email")
    call_command("reprocess_email", "--id", str(message.pk))
    assert Ticket.objects.count() == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailMessageStatus.PROCESSED, 1)


def test_with_the_broker_down_posted_mail_is_answered_kept_and_processed_once_later(
    api_client: APIClient, account: EmailAccount, agent: User, settings: Settings
) -> None:
    api_client.force_authenticate(agent)
    status, body, _ = post(api_client, account, mail(subject="During the outage"))
    assert status == 202  # the request never talks to the broker

    def broker_down(*args: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    assert outbox.relay_once(publish=broker_down).failed
    message = EmailMessage.objects.get(pk=body["id"])
    assert message.status == EmailMessageStatus.RECEIVED  # stored, waiting

    # Whichever comes first processes it: beat's sweep here, then the relay's retry.
    EmailMessage.objects.filter(pk=message.pk).update(
        received_at=timezone.now() - timedelta(seconds=settings.EMAIL_SWEEP_AFTER_SECONDS + 1)
    )
    process_stored_inbound.apply()
    OutboxMessage.objects.update(available_at=timezone.now())  # the backoff has passed
    outbox.run_inline()

    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailMessageStatus.PROCESSED, 1)
    assert list(Ticket.objects.values_list("title", flat=True)) == ["During the outage"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (nested(30), ""),
        (nested(31), "MIME nesting deeper than 30 (limit EMAIL_MAX_MIME_DEPTH)"),
        (many_parts(499), ""),  # 500 entities with the message itself
        (many_parts(500), "more than 500 MIME parts (limit EMAIL_MAX_MIME_PARTS)"),
        (mail(attachments=[("big.bin", b"--x\n" * 50_000, "application/octet-stream")]), ""),
    ],
    ids=["30 deep", "31 deep", "500 parts", "501 parts", "dashes in a body"],
)
def test_the_structure_limits_hold_at_their_values(raw: bytes, problem: str) -> None:
    assert structure_problem(raw, max_depth=30, max_parts=500) == problem


def test_an_enclosed_message_counts_as_a_level_and_is_read(account: EmailAccount) -> None:
    inner = mail(sender="dave@example.com", subject="Original", body="The original text.")
    forwarded = mail(subject="Fwd: Original", attachments=[("fwd.eml", inner, "message/rfc822")])
    assert structure_problem(forwarded, max_depth=2, max_parts=10) == ""
    assert "MIME nesting deeper than 1" in structure_problem(forwarded, max_depth=1, max_parts=10)
    message = services.message_ingest(account=account, raw=forwarded)
    assert message.status == EmailMessageStatus.PROCESSED
