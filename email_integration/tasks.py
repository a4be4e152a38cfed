"""Celery tasks of the mail app: thin, they load rows and call one function."""

from __future__ import annotations

import time
from datetime import timedelta

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from email_integration import fetchers, oauth, outbound, services
from email_integration.models import EmailAccount, EmailMessage


@shared_task(bind=True, max_retries=None)
def send_queued(self: Task, message_id: int) -> str:
    """Send one queued outbound message. Any failure is counted and retried with
    exponential backoff; after ``EMAIL_SEND_MAX_ATTEMPTS`` the message is kept as failed
    with its reason (``outbound.record_failure``). Should the retry itself be lost (the
    broker is down), ``sweep_outbound`` queues the message again."""
    message = outbound.claim(message_id)
    if message is None:
        return "nothing to send"  # sent or failed already, claimed elsewhere, rolled back
    try:
        outbound.send_message(message)
    except Exception as error:  # every failure of a backend is worth another try
        delay = outbound.record_failure(message, error)
        if delay is None:
            raise  # failed for good: recorded on the message, and shown as the task's error
        raise self.retry(exc=error, countdown=delay) from error
    _record_sent_once_sent(message)
    return "sent"


def _record_sent_once_sent(message: EmailMessage) -> None:
    """The server has the message now: a database connection lost at this moment (a
    failover, a terminated backend) must not leave it claimed, or the sweeper would send
    it a second time when the claim lapses. Record it on a fresh connection instead."""
    for attempt in range(3):
        try:
            outbound.record_sent(message)
            return
        except (OperationalError, InterfaceError):
            if attempt == 2:
                raise
            connection.close()
            time.sleep(0.5 * (attempt + 1))


@shared_task
def sweep_outbound() -> int:
    """Queue again the outbound mail left behind (beat, every minute: PeriodicTask
    "Outbound mail sweeper", created by migration)."""
    return len(outbound.sweep_stuck())


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def poll_account(account_id: int) -> dict[str, int]:
    # Paused accounts too: a poll queued before the grant was refused is dropped.
    account = (
        EmailAccount.objects.filter(pk=account_id, is_active=True)
        .exclude(oauth.polling_paused())
        .first()
    )
    if account is None:
        return {}
    result = fetchers.poll_account(account)
    return vars(result) if result else {}


@shared_task
def poll_due_accounts() -> int:
    """Queue a poll for each active account whose interval has passed (beat, every
    minute: PeriodicTask "Mail polling", created by migration). OAuth2 accounts an admin
    must authorize (again) are paused (``oauth.polling_paused``): they could only fail
    without asking anyone; authorizing them resumes their polling."""
    now = timezone.now()
    accounts = (
        EmailAccount.objects.filter(is_active=True)
        .exclude(protocol="NONE")
        .exclude(oauth.polling_paused())
    )
    due = [
        account.pk
        for account in accounts
        if account.last_polled_at is None
        or account.last_polled_at + timedelta(seconds=account.poll_interval_seconds) <= now
    ]
    for pk in due:
        poll_account.delay(pk)
    return len(due)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def process_inbound(message_id: int) -> str:
    """Process one stored inbound message (queued through the outbox when it was posted;
    ``services.message_accept``). Idempotent: a message processed already is left as it is."""
    message = services.message_process_by_id(message_id=message_id)
    return message.status if message is not None else "gone"


@shared_task
def process_stored_inbound() -> int:
    """Process inbound mail whose task was lost (beat: ``email-process-stored`` in
    ``CELERY_BEAT_SCHEDULE``)."""
    return services.messages_process_stored()
