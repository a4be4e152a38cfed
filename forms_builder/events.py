"""Every event the form builder records, and the functions that record them.

Each function is called inside the transaction of the change it describes
(``event_record`` refuses otherwise). The event log is append-only and kept forever, so
the payloads below are a contract: add keys, never rename or remove them. They carry
ids, states and the form's configuration, never answers or e-mail addresses (personal
data must stay deletable with the submission it belongs to), and never a secret such as
a confirmation link.

Forms (subject: the form)
-------------------------
Every form payload has ``slug``, ``version`` and ``status`` (after the change).

``form.created``
    ``name``, ``settings`` (every setting: ``{name: value}``), ``fields`` (the keys, in
    order).
``form.updated``
    ``changed`` — ``{setting: {"old": …, "new": …}}``; ``fields_added`` and
    ``fields_removed`` — keys; ``fields_changed`` — ``{key before the change: {attribute:
    {"old": …, "new": …}}}``. Recorded only when something changed; the version grows
    by one with it.
``form.published``, ``form.withdrawn`` (back to draft), ``form.archived``
    ``previous_status``.
``form.deleted``
    ``name``, ``fields`` (the keys it had).

Values are as JSON stores them: decimals as text, the workflow as its id
(``workflow_id``).

Submissions (subject: the submission)
-------------------------------------
Every submission payload has ``form_id``, ``form_version``, ``status``, ``identity``
(how the submitter is known: ``signed_in``, ``confirmed``, ``new_address``,
``unverified``) and ``attachments`` (a count).

``form.submitted``
    The answers were stored.
``form.confirmation_requested``
    An anonymous submission gave an existing account's address: it waits unlinked, and
    ``forms_builder.notifications`` mails that account a confirmation link after commit.
    ``site`` is the address the link points at (the site the form was sent to) and
    ``user_id`` the account asked to confirm. Recorded again, with staff as the actor,
    when staff send the mail again (``confirmation_mail_resend``).
``form.confirmation_mail_failed``
    The confirmation mail could not be sent after ``attempts`` tries: ``reason`` (also
    the submission's ``status_reason``, until staff send it again).
``form.confirmed``
    The account's owner confirmed through the link; ``user_id`` is now the submitter.
``form.converted``
    Its ticket was opened: ``ticket_id`` (and the event's ticket key).
``form.conversion_failed`` / ``form.rejected``
    ``reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eventlog.services import event_record

if TYPE_CHECKING:
    from forms_builder.models import CustomForm, FormSubmission
    from nixflow.models import User

FORM_CREATED = "form.created"
FORM_UPDATED = "form.updated"
FORM_PUBLISHED = "form.published"
FORM_WITHDRAWN = "form.withdrawn"  # back to draft
FORM_ARCHIVED = "form.archived"
FORM_DELETED = "form.deleted"
FORM_SUBMITTED = "form.submitted"
FORM_CONFIRMATION_REQUESTED = "form.confirmation_requested"
FORM_CONFIRMATION_MAIL_FAILED = "form.confirmation_mail_failed"
FORM_CONFIRMED = "form.confirmed"
FORM_CONVERTED = "form.converted"
FORM_CONVERSION_FAILED = "form.conversion_failed"
FORM_REJECTED = "form.rejected"

FORM_STATUS_EVENTS = {
    "published": FORM_PUBLISHED,
    "draft": FORM_WITHDRAWN,
    "archived": FORM_ARCHIVED,
}


def json_value(value: Any) -> Any:
    """A setting's value as the event log stores it (JSON)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


Change = dict[str, dict[str, Any]]


def _form_payload(form: CustomForm, **extra: Any) -> dict[str, Any]:
    return {"slug": form.slug, "version": form.version, "status": form.status, **extra}


def _record_form(type: str, form: CustomForm, actor: User | None, payload: dict) -> None:
    event_record(type=type, subject=form, actor=actor, payload=payload)


def form_created(
    *, form: CustomForm, actor: User | None, settings: Mapping[str, Any], fields: list[str]
) -> None:
    _record_form(
        FORM_CREATED,
        form,
        actor,
        _form_payload(
            form,
            name=form.name,
            settings={name: json_value(v) for name, v in settings.items()},
            fields=fields,
        ),
    )


def form_updated(
    *,
    form: CustomForm,
    actor: User | None,
    changed: Change,
    fields_added: list[str],
    fields_removed: list[str],
    fields_changed: dict[str, Change],
) -> None:
    _record_form(
        FORM_UPDATED,
        form,
        actor,
        _form_payload(
            form,
            changed=changed,
            fields_added=fields_added,
            fields_removed=fields_removed,
            fields_changed=fields_changed,
        ),
    )


def form_status_changed(*, form: CustomForm, actor: User | None, previous_status: str) -> None:
    _record_form(
        FORM_STATUS_EVENTS[str(form.status)],
        form,
        actor,
        _form_payload(form, previous_status=previous_status),
    )


def form_deleted(*, form: CustomForm, actor: User | None, fields: list[str]) -> None:
    _record_form(FORM_DELETED, form, actor, _form_payload(form, name=form.name, fields=fields))


# Alike in shape to other payload builders (knowledge taxonomy, core workflows): other fields.
def _submission_payload(submission: FormSubmission) -> dict[str, Any]:
    return {
        "form_id": submission.form_id,
        "form_version": submission.form_version,
        "status": submission.status,
        "identity": submission.identity,
        "attachments": len(submission.attachments.all()) if submission.pk else 0,
    }


def form_submitted(*, submission: FormSubmission, actor: User | None) -> None:
    event_record(
        type=FORM_SUBMITTED,
        subject=submission,
        actor=actor,
        occurred_at=submission.created,
        payload=_submission_payload(submission),
    )


def form_confirmation_requested(
    *, submission: FormSubmission, user: User, site: str, actor: User | None = None
) -> None:
    event_record(
        type=FORM_CONFIRMATION_REQUESTED,
        subject=submission,
        actor=actor,
        payload={**_submission_payload(submission), "user_id": user.pk, "site": site},
    )


def form_confirmation_mail_failed(
    *, submission: FormSubmission, user_id: int, attempts: int, reason: str
) -> None:
    event_record(
        type=FORM_CONFIRMATION_MAIL_FAILED,
        subject=submission,
        actor=None,
        payload={
            **_submission_payload(submission),
            "user_id": user_id,
            "attempts": attempts,
            "reason": reason,
        },
    )


def form_confirmed(*, submission: FormSubmission, actor: User) -> None:
    event_record(
        type=FORM_CONFIRMED,
        subject=submission,
        actor=actor,
        payload={**_submission_payload(submission), "user_id": actor.pk},
    )


def form_converted(*, submission: FormSubmission, actor: User | None) -> None:
    assert submission.ticket is not None  # noqa: S101 -- converted means a ticket
    event_record(
        type=FORM_CONVERTED,
        subject=submission,
        actor=actor,
        ticket_key=submission.ticket.key,
        payload={**_submission_payload(submission), "ticket_id": submission.ticket_id},
    )


# The recorders here are alike in shape: one per event type, each with its own payload.
def form_conversion_failed(*, submission: FormSubmission, actor: User | None) -> None:
    event_record(
        type=FORM_CONVERSION_FAILED,
        subject=submission,
        actor=actor,
        payload={**_submission_payload(submission), "reason": submission.status_reason},
    )


def form_rejected(*, submission: FormSubmission, actor: User | None) -> None:
    event_record(
        type=FORM_REJECTED,
        subject=submission,
        actor=actor,
        payload={**_submission_payload(submission), "reason": submission.status_reason},
    )
