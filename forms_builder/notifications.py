"""The confirmation mail of an unverified submission (``forms_builder.services.
confirmation`` explains the flow).

A subscriber of ``form.confirmation_requested``: it runs after the submission commits,
at least once and at most once per event (the event log's ``Delivery`` row), and hands
the message to Django's mail backend when its own delivery transaction commits, as the
SLA breach mail does. The link is made here, not stored in the event: the event log is
kept forever and readable by agents, and the link is a credential.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from eventlog.models import EventLog
from eventlog.subscribers import subscribe
from forms_builder import events
from forms_builder.models import FormSubmission, FormSubmissionStatus
from forms_builder.services.confirmation import confirmation_token, max_age
from nixflow.models import User

SUBSCRIBER = "forms.confirmation_mail"
# Where links point when the event does not say (a submission made outside a request).
FALLBACK_SITE = "http://localhost:8000"


def confirmation_mail(submission: FormSubmission, user: User, site: str) -> tuple[str, str]:
    """(subject, body) of the message asking ``user`` to confirm ``submission``."""
    token = confirmation_token(submission=submission, user=user)
    url = (site or FALLBACK_SITE).rstrip("/") + reverse("forms_builder:confirm", args=[token])
    # Folded to one line: a line break in a header would make every attempt fail.
    name = " ".join(str(submission.form_snapshot.get("name", "a form")).split())
    days = max(1, max_age() // 86400)
    subject = f"Please confirm your request: {name}"
    body = (
        f"Hello {user.get_full_name() or user.get_username()},\n\n"
        f"someone filled in the form “{name}” on "
        f"{submission.created:%Y-%m-%d at %H:%M} UTC and gave your e-mail address.\n\n"
        "If it was you, confirm it here, and we will open your request under your "
        f"account:\n\n    {url}\n\n"
        f"The link works for {days} days. If it was not you, ignore this message: "
        "nothing has been filed in your name.\n"
    )
    return subject, body


def mail_confirmation_link(event: EventLog) -> None:
    submission = FormSubmission.objects.filter(pk=event.subject_id).first()
    user = User.objects.filter(pk=event.payload.get("user_id")).first()
    if submission is None or user is None or not user.email or not user.is_active:
        # A deactivated account is never linked (the confirmation page would refuse
        # it), so it is not asked: the submission waits unverified for staff.
        return
    if submission.status != FormSubmissionStatus.AWAITING_CONFIRMATION:
        return  # confirmed or rejected before the mail went out
    subject, body = confirmation_mail(submission, user, event.payload.get("site", ""))
    to = [user.email]
    transaction.on_commit(
        lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to, fail_silently=False)
    )


def register() -> None:
    subscribe(events.FORM_CONFIRMATION_REQUESTED, name=SUBSCRIBER)(mail_confirmation_link)
