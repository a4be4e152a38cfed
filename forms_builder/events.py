"""What the form builder publishes to the event log, one function per event.

Each is called inside the transaction of the change it describes (``event_record``
refuses otherwise). Payloads carry ids and states, not answers or e-mail addresses:
the event log is append-only, and personal data must stay deletable with the
submission it belongs to.
"""

from __future__ import annotations

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
FORM_CONVERTED = "form.converted"
FORM_CONVERSION_FAILED = "form.conversion_failed"
FORM_REJECTED = "form.rejected"


def form_changed(
    *, type: str, form: CustomForm, actor: User | None, payload: dict[str, Any] | None = None
) -> None:
    """A change of a form's definition or status (created, updated, published, ...)."""
    event_record(
        type=type,
        subject=form,
        actor=actor,
        payload={
            "slug": form.slug,
            "version": form.version,
            "status": form.status,
            **(payload or {}),
        },
    )


def _submission_payload(submission: FormSubmission) -> dict[str, Any]:
    return {
        "form_id": submission.form_id,
        "form_version": submission.form_version,
        "status": submission.status,
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


def form_converted(*, submission: FormSubmission, actor: User | None) -> None:
    assert submission.ticket is not None  # noqa: S101 -- converted means a ticket
    event_record(
        type=FORM_CONVERTED,
        subject=submission,
        actor=actor,
        ticket_key=submission.ticket.key,
        payload={**_submission_payload(submission), "ticket_id": submission.ticket_id},
    )


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
