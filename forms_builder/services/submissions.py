"""Submissions: answers to a published form, and the ticket they become.

Submission → ticket
-------------------
``submission_create`` validates the answers (``forms_builder.validation``; a bad answer
stores nothing at all), stores the uploaded files, then in **one transaction** writes
the submission, its attachments, the requester (created for a public form's new e-mail
address), the ticket (``nixflow.services.ticket_create``), a comment carrying the files
(``comment_create``) and the events ``form.submitted``, ``ticket.created``,
``ticket.commented`` and ``form.converted``. Either all of it commits or none of it.

When the ticket can't be opened (no default workflow, an inactive workflow, a rule of
another app refusing it), that transaction rolls back, so no ticket and no converted
submission exist. The answers are not thrown away, though: a second transaction records
the submission as ``failed`` with the reason, its attachments and the events
``form.submitted`` and ``form.conversion_failed``, and staff retry it from the admin
(``submission_convert``) once the cause is fixed. Anything unexpected (a database
error, a bug) rolls back and removes the stored files, and the exception propagates.

Who the submitter is
--------------------
A signed-in submitter is who they are (``identity`` ``signed_in``). An anonymous
submission to a public form names an e-mail address, which anyone can type:

- an address nobody has an account for gets a new requester, as any desk that takes
  requests by mail does (``new_address``): there is no one to impersonate;
- the address of an **existing account** is never taken on trust: the submission is
  kept ``awaiting`` confirmation, linked to no account and with no ticket
  (``unverified``), and the account's owner is mailed a link. Their confirmation links
  the submission and opens its ticket in their name (``forms_builder.services.
  confirmation`` says why it waits rather than opening a ticket for someone else).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from eventlog.context import acting_via
from forms_builder import events
from forms_builder.answers import ticket_content
from forms_builder.models import (
    CustomForm,
    FormStatus,
    FormSubmission,
    FormSubmissionAttachment,
    FormSubmissionStatus,
    SubmitterIdentity,
)
from forms_builder.services.files import StoredFile, remove_files, storage, store_files
from forms_builder.validation import CleanedSubmission, Definition, clean_submission
from nixflow.fields import fields_for_workflow, value_clean
from nixflow.models import Source, Ticket, User, Workflow
from nixflow.services import (
    comment_create,
    requester_get_or_create,
    ticket_create,
    ticket_fields_set,
)
from nixflow.toolkit.auth import require_agent
from nixflow.toolkit.errors import ConflictError, error_text

logger = logging.getLogger(__name__)

# What staff may retry (convert) and what they may set aside (reject).
OPEN_STATUSES = frozenset({FormSubmissionStatus.RECEIVED, FormSubmissionStatus.FAILED})
REJECTABLE_STATUSES = OPEN_STATUSES | {FormSubmissionStatus.AWAITING_CONFIRMATION}

ACCOUNT_APPEARED = (
    "An account with this e-mail address was created after the form was sent; the "
    "submission is not linked to it unless its owner confirms. Reject it, or ask them "
    "to send the form again while signed in."
)


class ConversionFailed(Exception):  # noqa: N818 -- an outcome, like PermissionDenied
    """The ticket could not be opened; carries the refusal's reason."""

    def __init__(self, error: ValidationError | PermissionDenied) -> None:
        self.reason = error_text(error)
        super().__init__(self.reason)


def account_for_email(email: str) -> User | None:
    """The account that has this e-mail address (case-insensitively), active or not."""
    return User.objects.filter(email__iexact=email).order_by("pk").first()


def _clean_submitter_email(value: str) -> tuple[str, str]:
    """(address, problem); the address is what identifies a public form's requester."""
    email = (value or "").strip()
    if not email:
        return "", _("Give your e-mail address, so that we can reply.")
    if len(email) > 254 or "\x00" in email:
        return "", _("Enter a valid e-mail address, like name@example.com.")
    try:
        EmailValidator()(email)
    except ValidationError:
        return "", _("Enter a valid e-mail address, like name@example.com.")
    return email, ""


def _check_can_submit(form: CustomForm, submitter: User | None) -> None:
    if form.status != FormStatus.PUBLISHED:
        raise PermissionDenied(
            _("The form %(name)s is not open for submissions.") % {"name": repr(form.name)}
        )
    if submitter is None and form.login_required:
        raise PermissionDenied(_("Sign in to fill in this form."))
    if submitter is not None and not submitter.is_active:
        raise PermissionDenied(_("This account is not active."))


def _clean(
    definition: Definition,
    data: Mapping[str, Any],
    files: Mapping[str, Sequence[UploadedFile]] | None,
    submitter: User | None,
    submitter_email: str,
) -> tuple[str, CleanedSubmission]:
    """The submitter's address and the cleaned answers; every problem at once."""
    errors: dict[str, list[str]] = {}
    email = submitter.email if submitter is not None else ""
    if submitter is None:
        email, problem = _clean_submitter_email(submitter_email)
        if problem:
            errors["submitter_email"] = [problem]
    try:
        cleaned = clean_submission(definition, data, files)
    except ValidationError as exc:
        errors = {**exc.message_dict, **errors}
    if errors:
        raise ValidationError(errors)
    return email, cleaned


def submission_create(
    *,
    form: CustomForm,
    data: Mapping[str, Any],
    files: Mapping[str, Sequence[UploadedFile]] | None = None,
    submitter: User | None,
    submitter_email: str = "",
    ip_address: str | None = None,
    site: str = "",
) -> FormSubmission:
    """Validate answers to a published form and turn them into a ticket (module doc).

    ``submitter`` is the signed-in user, or None for an anonymous submission to a public
    form, which then needs ``submitter_email``. Bad answers raise
    ValidationError({key: [messages]}) and store nothing; the result is the submission,
    ``converted`` with its ticket, ``failed`` with the reason, or ``awaiting``
    confirmation when the address is an existing account's. ``site`` is the address the
    form was sent to (``https://desk.example.com``), where a confirmation link points.
    """
    _check_can_submit(form, submitter)
    definition = Definition.from_form(form)
    email, cleaned = _clean(definition, data, files, submitter, submitter_email)
    account = None if submitter is not None else account_for_email(email)
    stored = store_files(cleaned.files)
    row: dict[str, Any] = {
        "form": form,
        "form_version": definition.version,
        "form_snapshot": definition.snapshot(),
        "submitter": submitter,
        "submitter_email": email,
        "data": cleaned.data,
        "ip_address": ip_address,
        "identity": SubmitterIdentity.SIGNED_IN
        if submitter is not None
        else SubmitterIdentity.UNVERIFIED
        if account is not None
        else SubmitterIdentity.NEW_ADDRESS,
    }
    if account is not None:
        return _hold_for_confirmation(row, stored, account=account, site=site)
    return _create_and_convert(row, stored, definition)


def _hold_for_confirmation(
    row: dict[str, Any], stored: list[StoredFile], *, account: User, site: str
) -> FormSubmission:
    """Keep the submission unlinked, with no ticket, and ask the account to confirm."""
    try:
        with transaction.atomic():
            submission = _submission_row(
                **row, stored=stored, status=FormSubmissionStatus.AWAITING_CONFIRMATION
            )
            events.form_submitted(submission=submission, actor=None)
            events.form_confirmation_requested(submission=submission, user=account, site=site)
    except BaseException:
        remove_files(s.name for s in stored)
        raise
    return submission


def _create_and_convert(
    row: dict[str, Any], stored: list[StoredFile], definition: Definition
) -> FormSubmission:
    submitter = row["submitter"]
    copies: list[str] = []
    try:
        with transaction.atomic():
            submission = _submission_row(**row, stored=stored)
            events.form_submitted(submission=submission, actor=submitter)
            _convert(submission, definition, stored=stored, actor=submitter, copies=copies)
        return submission
    except ConversionFailed as failed:
        remove_files(copies)
        logger.warning("Form %s: submission kept as failed: %s", row["form"].slug, failed.reason)
        # The requester made in the rolled-back transaction is gone; the submission
        # keeps only the address, and a retry creates the requester again.
        try:
            with transaction.atomic():
                submission = _submission_row(
                    **row,
                    stored=stored,
                    status=FormSubmissionStatus.FAILED,
                    status_reason=failed.reason,
                )
                events.form_submitted(submission=submission, actor=submitter)
                events.form_conversion_failed(submission=submission, actor=submitter)
        except BaseException:
            remove_files(s.name for s in stored)
            raise
        return submission
    except BaseException:
        remove_files([*(s.name for s in stored), *copies])
        raise


def _submission_row(
    *,
    stored: Sequence[StoredFile],
    status: FormSubmissionStatus = FormSubmissionStatus.RECEIVED,
    status_reason: str = "",
    **values: Any,
) -> FormSubmission:
    now = timezone.now()
    submission = FormSubmission(
        **values, status=status, status_reason=status_reason, created=now, updated=now
    )
    submission.full_clean(exclude={"form_snapshot", "data"})
    submission.save()
    FormSubmissionAttachment.objects.bulk_create(
        FormSubmissionAttachment(
            submission=submission,
            field_key=s.field_key,
            file=s.name,
            original_name=s.original_name,
            size=s.size,
            content_type=s.content_type,
            sha256=s.sha256,
        )
        for s in stored
    )
    return submission


def _requester(submission: FormSubmission) -> User:
    """Who requests the ticket: the linked (signed-in or confirmed) user, or a requester
    created for a new address. An address that has meanwhile become an account's is
    refused rather than borrowed."""
    if submission.submitter is not None:
        return submission.submitter
    if account_for_email(submission.submitter_email) is not None:
        raise ValidationError(ACCOUNT_APPEARED)
    requester, created = requester_get_or_create(email=submission.submitter_email, look_up=False)
    if not created:  # the address became an account's since the check above
        raise ValidationError(ACCOUNT_APPEARED)
    return requester


def _attach_files(
    ticket: Ticket, requester: User, definition: Definition, stored: Sequence[StoredFile]
) -> list[str]:
    """The submission's files as a comment of the requester's; the copies' names."""
    with ExitStack() as files:
        uploads = [
            UploadedFile(
                file=files.enter_context(storage().open(s.name, "rb")),
                name=s.original_name,
                content_type=s.content_type,
                size=s.size,
            )
            for s in stored
        ]
        names = ", ".join(s.original_name for s in stored)
        comment = comment_create(
            ticket=ticket,
            author=requester,
            body=f"Files sent with the form “{definition.name}”: {names}",
            attachments=uploads,
        )
    return [a.file.name or "" for a in comment.attachments.all()]


def ticket_field_values(
    definition: Definition, data: Mapping[str, Any], *, workflow_id: int
) -> dict[str, Any]:
    """The answers of questions mapped onto custom ticket fields, as those fields store
    them, by field name. The form was checked against the fields when it was saved, but
    a field may have changed since (a choice removed, the field deactivated or moved to
    other workflows): an answer a field no longer takes is left out, never a reason to
    refuse the ticket. Every answer also reads in the ticket's description."""
    fields = fields_for_workflow(workflow_id)
    values: dict[str, Any] = {}
    for spec in definition.fields:
        field = fields.get(spec.ticket_field) if spec.ticket_field else None
        if field is None or data.get(spec.key) is None:
            continue
        try:
            value = value_clean(field, data[spec.key])
        except ValidationError as error:
            logger.info("Answer %s not copied to field %s: %s", spec.key, field.name, error)
            continue
        if value is not None:
            values[field.name] = value
    return values


def _copy_to_ticket_fields(
    ticket: Ticket, submission: FormSubmission, definition: Definition
) -> None:
    """Set the mapped answers on the new ticket, as the system on the form's behalf
    (requesters set no custom fields themselves): one ``ticket.updated`` whose history
    rows say "form: <name>"."""
    values = ticket_field_values(definition, submission.data, workflow_id=ticket.workflow_id)
    if not values:
        return
    form = submission.form
    with acting_via({"kind": "form", "id": form.pk, "name": form.name}):
        ticket_fields_set(ticket=ticket, actor=None, values=values, locked=True)


def _convert(
    submission: FormSubmission,
    definition: Definition,
    *,
    stored: Sequence[StoredFile],
    actor: User | None,
    copies: list[str],
) -> Ticket:
    """Open the submission's ticket, in the caller's transaction; ConversionFailed when
    the core refuses it. The ticket reads as the snapshot says (title, description,
    priority); it goes to the form's *current* workflow, so that staff can fix the
    routing of a failed submission and retry it."""
    try:
        requester = _requester(submission)
        content = ticket_content(
            definition,
            submission.data,
            submitter=requester.email or requester.get_username(),
            reference=f"submission {submission.pk}",
        )
        # Read now, not from a form loaded earlier: it may have been deactivated since.
        workflow_id = submission.form.workflow_id
        workflow = Workflow.objects.filter(pk=workflow_id).first() if workflow_id else None
        ticket = ticket_create(
            requester=requester,
            title=content.title,
            description=content.description,
            priority=content.priority,
            workflow=workflow,
            source=Source.FORM,
            actor=actor,
            origin=submission.form.slug,  # routing rules may name the form
        )
        _copy_to_ticket_fields(ticket, submission, definition)
        if stored:
            copies.extend(_attach_files(ticket, requester, definition, stored))
    except (ValidationError, PermissionDenied) as error:
        raise ConversionFailed(error) from error
    submission.submitter = requester
    submission.status = FormSubmissionStatus.CONVERTED
    submission.status_reason = ""
    submission.ticket = ticket
    submission.updated = timezone.now()
    submission.save(update_fields=["submitter", "status", "status_reason", "ticket", "updated"])
    events.form_converted(submission=submission, actor=actor)
    return ticket


def submission_convert(*, submission: FormSubmission, actor: User | None) -> FormSubmission:
    """Retry turning a failed (or received) submission into its ticket. Agents only.

    All or nothing as on submission; when it fails again the reason is updated.
    """
    require_agent(actor, "convert submissions")
    return convert_open_submission(submission_id=submission.pk, actor=actor)


def convert_open_submission(*, submission_id: int, actor: User | None) -> FormSubmission:
    """Open the ticket of a received or failed submission (no role check: callers decide
    who may; ``submission_convert`` for staff, a confirmation for its submitter)."""
    copies: list[str] = []
    try:
        with transaction.atomic():
            locked = (
                FormSubmission.objects.select_for_update(of=("self",))
                .select_related("form", "submitter")
                .get(pk=submission_id)
            )
            if locked.status not in OPEN_STATUSES:
                raise ConflictError(
                    f"Submission {locked.pk} is {locked.get_status_display().lower()}; "
                    "only received or failed submissions can be converted."
                )
            stored = [StoredFile.of(a) for a in locked.attachments.all()]
            definition = Definition.from_snapshot(locked.form_snapshot)
            _convert(locked, definition, stored=stored, actor=actor, copies=copies)
        return locked
    except ConversionFailed as failed:
        remove_files(copies)
        with transaction.atomic():
            locked = FormSubmission.objects.select_for_update().get(pk=submission_id)
            locked.status = FormSubmissionStatus.FAILED
            locked.status_reason = failed.reason
            locked.updated = timezone.now()
            locked.save(update_fields=["status", "status_reason", "updated"])
            events.form_conversion_failed(submission=locked, actor=actor)
        return locked
    except BaseException:
        remove_files(copies)
        raise


@transaction.atomic
def submission_reject(
    *, submission: FormSubmission, actor: User | None, reason: str = ""
) -> FormSubmission:
    """Set a received, failed or unconfirmed submission aside without a ticket (spam, a
    duplicate, an address its owner never confirmed). Agents only."""
    require_agent(actor, "reject submissions")
    locked = FormSubmission.objects.select_for_update().get(pk=submission.pk)
    if locked.status not in REJECTABLE_STATUSES:
        raise ConflictError(
            f"Submission {locked.pk} is {locked.get_status_display().lower()}; "
            "only received, failed or unconfirmed submissions can be rejected."
        )
    locked.status = FormSubmissionStatus.REJECTED
    locked.status_reason = reason.strip() or "Rejected by staff."
    locked.updated = timezone.now()
    locked.save(update_fields=["status", "status_reason", "updated"])
    events.form_rejected(submission=locked, actor=actor)
    return locked
