"""Celery tasks of the mail app: thin, they load rows and call one function."""

from __future__ import annotations

import smtplib
from datetime import timedelta

from celery import Task, shared_task
from django.db import OperationalError
from django.utils import timezone

from email_integration import fetchers, outbound, services
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus

SEND_RETRIES = 8


@shared_task(bind=True, max_retries=SEND_RETRIES)
def send_queued(self: Task, message_id: int) -> str:
    """Send one queued outbound message; retried with backoff while the server fails."""
    message = EmailMessage.objects.filter(pk=message_id, status=EmailMessageStatus.QUEUED).first()
    if message is None:
        return "nothing to send"  # sent already, or its transaction rolled back
    try:
        outbound.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        EmailMessage.objects.filter(pk=message.pk).update(
            attempts=message.attempts + 1, error_reason=f"{type(error).__name__}: {error}"[:2000]
        )
        if self.request.retries >= SEND_RETRIES:
            EmailMessage.objects.filter(pk=message.pk).update(status=EmailMessageStatus.FAILED)
            raise
        raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 3600)) from error
    outbound.mark_sent(message)
    return "sent"


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def poll_account(account_id: int) -> dict[str, int]:
    account = EmailAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return {}
    result = fetchers.poll_account(account)
    return vars(result) if result else {}


@shared_task
def poll_due_accounts() -> int:
    """Queue a poll for each active account whose interval has passed (beat, every
    minute: PeriodicTask "Mail polling", created by migration)."""
    now = timezone.now()
    due = [
        account.pk
        for account in EmailAccount.objects.filter(is_active=True).exclude(protocol="NONE")
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
