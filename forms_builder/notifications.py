"""The confirmation mail of an unverified submission (``forms_builder.services.
confirmation`` explains the flow), sent the way the desk sends all its mail.

``form.confirmation_requested`` has a subscriber, run after the submission commits and
at most once per event (the event log's ``Delivery`` row). It queues
``send_confirmation_mail`` in the outbox of its delivery transaction
(``eventlog.outbox``, keyed by the event, so a repeat queues nothing), and a worker sends
it through Django's mail backend, retried with backoff while the mail server fails: a
mail server that is down delays the link, it doesn't lose it. When the retries run out,
the submission says so (its ``status_reason``, ``form.confirmation_mail_failed``) and
staff send it again from the admin (``confirmation_mail_resend``). The task builds the link
itself from ids: neither the event log (kept forever, readable by agents) nor the
outbox row holds the link, which is a credential. It sends nothing for a submission that
was confirmed or rejected meanwhile, or for an account deactivated since.
"""

from __future__ import annotations

import smtplib

from celery import Task, shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext

from eventlog.models import EventLog
from eventlog.outbox import outbox_enqueue
from eventlog.subscribers import subscribe
from forms_builder import events
from forms_builder.models import FormSubmission, FormSubmissionStatus
from forms_builder.services.confirmation import (
    confirmation_mail_failed,
    confirmation_token,
    max_age,
)
from nixflow.models import User
from nixflow.toolkit.language import language_for, local_datetime

SUBSCRIBER = "forms.confirmation_mail"
SEND_TASK = "forms_builder.send_confirmation_mail"
# Where links point when the event does not say (a submission made outside a request).
FALLBACK_SITE = "http://localhost:8000"


def confirmation_mail(submission: FormSubmission, user: User, site: str) -> tuple[str, str]:
    """(subject, body) of the message asking ``user`` to confirm ``submission``, in
    their language, the time of the submission in their time zone."""
    token = confirmation_token(submission=submission, user=user)
    url = (site or FALLBACK_SITE).rstrip("/") + reverse("forms_builder:confirm", args=[token])
    days = max(1, max_age() // 86400)
    with translation.override(language_for(user)):
        # Folded to one line: a line break in a header would make every attempt fail.
        name = " ".join(str(submission.form_snapshot.get("name") or gettext("a form")).split())
        subject = gettext("Please confirm your request: %(form)s") % {"form": name}
        body = (
            gettext("Hello %(name)s,") % {"name": user.get_full_name() or user.get_username()}
            + "\n\n"
            + gettext(
                "someone filled in the form “%(form)s” on %(when)s and gave your e-mail address."
            )
            % {"form": name, "when": local_datetime(submission.created, user)}
            + "\n\n"
            + gettext(
                "If it was you, confirm it here, and we will open your request under your account:"
            )
            + f"\n\n    {url}\n\n"
            + ngettext(
                "The link works for %(days)d day. If it was not you, ignore this message: "
                "nothing has been filed in your name.",
                "The link works for %(days)d days. If it was not you, ignore this message: "
                "nothing has been filed in your name.",
                days,
            )
            % {"days": days}
            + "\n"
        )
    return subject, body


def queue_confirmation_mail(event: EventLog) -> None:
    outbox_enqueue(
        task=SEND_TASK,
        kwargs={
            "submission_id": int(event.subject_id),
            "user_id": event.payload.get("user_id"),
            "site": event.payload.get("site", ""),
        },
        key=f"{SUBSCRIBER}:{event.pk}",
    )


# Retried with backoff (5 s doubling, at most 5 min apart) while the mail server fails;
# after the last try the submission shows why, for staff to send it again.
MAX_RETRIES = 10


@shared_task(name=SEND_TASK, bind=True, max_retries=MAX_RETRIES)
def send_confirmation_mail(self: Task, submission_id: int, user_id: int | None, site: str) -> str:
    submission = FormSubmission.objects.filter(pk=submission_id).first()
    user = User.objects.filter(pk=user_id).first() if user_id else None
    if submission is None or user is None or not user.email or not user.is_active:
        # A deactivated account is never linked (the confirmation page would refuse
        # it), so it is not asked: the submission waits unverified for staff.
        return "nobody to ask"
    if submission.status != FormSubmissionStatus.AWAITING_CONFIRMATION:
        return "no longer awaiting"  # confirmed or rejected before the mail went out
    subject, body = confirmation_mail(submission, user, site)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email], fail_silently=False)
    except (smtplib.SMTPException, OSError) as error:
        tries = self.request.retries + 1
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=error, countdown=min(300, 5 * 2**self.request.retries)) from None
        confirmation_mail_failed(
            submission_id=submission.pk,
            user_id=user.pk,
            attempts=tries,
            reason=f"{type(error).__name__}: {error}",
        )
        return "failed"
    return "sent"


def register() -> None:
    subscribe(events.FORM_CONFIRMATION_REQUESTED, name=SUBSCRIBER)(queue_confirmation_mail)
