"""Confirming an anonymous submission made with an existing account's e-mail address.

Why the submission waits instead of opening a ticket at once
------------------------------------------------------------
Anyone can type anyone's address into a public form. Opening the ticket in the
account's name would let a stranger write as an admin (and have the desk mail the real
person "your request NF-12 was received"); opening it with a placeholder requester
would put a ticket nobody can answer into the queue, and re-homing it later would
rewrite who asked. So the submission is kept, answers and files included, as
``awaiting`` with ``identity`` ``unverified``, linked to no account and with no ticket,
and the account's owner is mailed a link (``forms_builder.notifications``). If it was
them, one click opens the ticket in their name, exactly as if they had been signed in;
if it was not, nothing was done in their name, and staff see the unverified submission
in the admin (filter "submitter identity") and can reject it. A person who wants their
request handled at once signs in, or uses an address of their own.

The link
--------
``/forms/confirm/<token>/``: the token is ``django.core.signing.TimestampSigner``'s
signature of the submission's and the account's ids (salted for this purpose only), so
it cannot be forged or moved to another submission, and it expires after
``FORMS_CONFIRMATION_MAX_AGE`` seconds (seven days unless the setting says otherwise).
Opening the link shows what is to be confirmed; only the button (a POST) confirms, so a
mail scanner that fetches links cannot confirm on the person's behalf. Confirming again
answers "already confirmed" (opening the ticket if the first confirmation stopped before
it could); an expired or altered link, a deactivated account, an
address that changed since, or a submission staff already set aside each get a page
that says so, and none of them links anything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signing import BadSignature, SignatureExpired, TimestampSigner
from django.db import transaction
from django.utils import timezone

from forms_builder import events
from forms_builder.models import FormSubmission, FormSubmissionStatus, SubmitterIdentity
from forms_builder.services.submissions import account_for_email, convert_open_submission
from nixflow.models import User
from nixflow.toolkit.auth import require_agent

SALT = "forms_builder.submission_confirm"
DEFAULT_MAX_AGE = 7 * 24 * 3600


def max_age() -> int:
    return int(getattr(settings, "FORMS_CONFIRMATION_MAX_AGE", DEFAULT_MAX_AGE))


class ConfirmationState(enum.Enum):
    READY = "ready"  # valid: the page offers the button
    CONFIRMED = "confirmed"  # confirmed just now
    ALREADY_CONFIRMED = "already_confirmed"
    INACTIVE_ACCOUNT = "inactive_account"
    CLOSED = "closed"  # staff rejected it, or it is gone
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class Confirmation:
    state: ConfirmationState
    submission: FormSubmission | None = None
    user: User | None = None


def confirmation_token(*, submission: FormSubmission, user: User) -> str:
    return TimestampSigner(salt=SALT).sign(f"{submission.pk}:{user.pk}")


def _read(token: str) -> tuple[int, int] | ConfirmationState:
    try:
        value = TimestampSigner(salt=SALT).unsign(token, max_age=max_age())
    except SignatureExpired:
        return ConfirmationState.EXPIRED
    except BadSignature:
        return ConfirmationState.INVALID
    submission_id, _, user_id = value.partition(":")
    if not (submission_id.isdigit() and user_id.isdigit()):
        return ConfirmationState.INVALID
    return int(submission_id), int(user_id)


def _state(submission: FormSubmission | None, user: User | None) -> ConfirmationState:
    if submission is None or user is None:
        return ConfirmationState.CLOSED
    if submission.identity == SubmitterIdentity.CONFIRMED and submission.submitter_id == user.pk:
        return ConfirmationState.ALREADY_CONFIRMED
    if not user.is_active:
        return ConfirmationState.INACTIVE_ACCOUNT
    if (user.email or "").lower() != submission.submitter_email.lower():
        return ConfirmationState.INVALID  # the account's address changed since
    if submission.status != FormSubmissionStatus.AWAITING_CONFIRMATION:
        return ConfirmationState.CLOSED
    return ConfirmationState.READY


def confirmation_check(*, token: str) -> Confirmation:
    """What the link would do, without doing it (the page before the button)."""
    claim = _read(token)
    if isinstance(claim, ConfirmationState):
        return Confirmation(claim)
    submission = FormSubmission.objects.select_related("form", "ticket").filter(pk=claim[0])
    found = submission.first()
    user = User.objects.filter(pk=claim[1]).first()
    return Confirmation(_state(found, user), found, user)


def submission_confirm(*, token: str) -> Confirmation:
    """Link the submission to the account the token names and open its ticket.

    The confirming person is the actor of ``form.confirmed`` and of the ticket's
    creation. The link and the ticket are two steps: when the ticket can't be opened,
    the submission stays confirmed and ``failed`` with the reason, for staff to retry.
    """
    claim = _read(token)
    if isinstance(claim, ConfirmationState):
        return Confirmation(claim)
    submission_id, user_id = claim
    with transaction.atomic():
        locked = FormSubmission.objects.select_for_update().filter(pk=submission_id).first()
        user = User.objects.filter(pk=user_id).first()
        state = _state(locked, user)
        # Confirmed before, but its ticket never opened (the process stopped between the
        # two steps): this click opens it.
        resume = (
            state is ConfirmationState.ALREADY_CONFIRMED
            and locked is not None
            and locked.status == FormSubmissionStatus.RECEIVED
        )
        if locked is None or user is None or not (state is ConfirmationState.READY or resume):
            return Confirmation(state, locked, user)
        if not resume:
            locked.submitter = user
            locked.identity = SubmitterIdentity.CONFIRMED
            locked.status = FormSubmissionStatus.RECEIVED
            locked.confirmed_at = locked.updated = timezone.now()
            locked.save(
                update_fields=["submitter", "identity", "status", "confirmed_at", "updated"]
            )
            events.form_confirmed(submission=locked, actor=user)
    try:
        result = convert_open_submission(submission_id=submission_id, actor=user)
    except ValidationError:
        # Staff converted or rejected it between the two steps: show it as it is now.
        result = FormSubmission.objects.get(pk=submission_id)
    return Confirmation(
        ConfirmationState.ALREADY_CONFIRMED if resume else ConfirmationState.CONFIRMED,
        result,
        user,
    )


# --- the confirmation mail that could not be sent ------------------------------------
def confirmation_mail_failed(
    *, submission_id: int, user_id: int, attempts: int, reason: str
) -> FormSubmission | None:
    """Record that the confirmation mail was given up (``forms_builder.notifications``
    ran out of retries): the reason goes on the submission, where staff see it and can
    send the mail again, and into ``form.confirmation_mail_failed``. Nothing for a
    submission that no longer awaits confirmation."""
    with transaction.atomic():
        locked = FormSubmission.objects.select_for_update().filter(pk=submission_id).first()
        if locked is None or locked.status != FormSubmissionStatus.AWAITING_CONFIRMATION:
            return locked
        locked.status_reason = (
            f"The confirmation mail could not be sent ({attempts} attempts): {reason}"
        )[:2000]
        locked.updated = timezone.now()
        locked.save(update_fields=["status_reason", "updated"])
        events.form_confirmation_mail_failed(
            submission=locked, user_id=user_id, attempts=attempts, reason=reason[:2000]
        )
    return locked


def confirmation_mail_resend(
    *, submission: FormSubmission, actor: User, site: str
) -> FormSubmission:
    """Mail the confirmation link again (staff, after the mail server recovered, or for a
    person who lost it): a new ``form.confirmation_requested``, which its subscriber
    mails like the first. Only for a submission still awaiting an active account."""
    require_agent(actor, "send confirmation mail")
    with transaction.atomic():
        locked = FormSubmission.objects.select_for_update().get(pk=submission.pk)
        if locked.status != FormSubmissionStatus.AWAITING_CONFIRMATION:
            raise ValidationError(
                f"Submission {locked.pk} does not await confirmation ({locked.status})."
            )
        account = account_for_email(locked.submitter_email)
        if account is None or not account.is_active:
            raise ValidationError(
                f"No active account has the address {locked.submitter_email} any more."
            )
        locked.status_reason = ""
        locked.updated = timezone.now()
        locked.save(update_fields=["status_reason", "updated"])
        events.form_confirmation_requested(submission=locked, user=account, site=site, actor=actor)
    return locked
