"""Celery tasks of the satisfaction app: thin, they call the services."""

from __future__ import annotations

import smtplib

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import OperationalError

from csat import services
from csat.mail import survey_mail

# Retried with backoff (5 s doubling, at most 5 min apart) while the mail server fails;
# after the last try the survey is marked failed, with the reason.
MAX_RETRIES = 10


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def survey_queue_due() -> int:
    """Queue the mail of every survey that is due; scheduled every minute by
    django-celery-beat (PeriodicTask "Satisfaction surveys", migration csat 0002)."""
    return services.surveys_queue_due()


@shared_task(name=services.SEND_TASK, bind=True, max_retries=MAX_RETRIES)
def send_survey_mail(self: Task, survey_id: int) -> str:
    mailing = services.survey_mailing(survey_id=survey_id)
    if mailing is None:
        return "not sent"  # the survey's status says why
    mail = survey_mail(mailing)
    message = EmailMessage(
        subject=mail.subject,
        body=mail.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[mailing.requester.email],
        headers={"Content-Language": mail.language, "Auto-Submitted": "auto-generated"},
    )
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as error:
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=error, countdown=min(300, 5 * 2**self.request.retries)) from None
        services.survey_mark_failed(survey_id=survey_id, reason=f"{type(error).__name__}: {error}")
        return "failed"
    services.survey_mark_sent(survey_id=survey_id, requester_id=mailing.requester.pk)
    return "sent"
