"""Writes of the form builder. The admin, the API, the HTML page and the demo data all
call these, so every change is validated the same way and recorded in the event log.

Submission → ticket
-------------------
``submission_create`` validates the answers (``forms_builder.validation``; a bad answer
stores nothing at all), stores the uploaded files, then in **one transaction** writes
the submission, its attachments, the requester (found or created for a public form's
e-mail address), the ticket (``nixflow.services.ticket_create``), a comment carrying
the files (``comment_create``) and the events ``form.submitted``, ``ticket.created``,
``ticket.commented`` and ``form.converted``. Either all of it commits or none of it.

When the ticket can't be opened (no default workflow, an inactive workflow, a rule of
another app refusing it), that transaction rolls back, so no ticket and no converted
submission exist. The answers are not thrown away, though: a second transaction records
the submission as ``failed`` with the reason, its attachments and the events
``form.submitted`` and ``form.conversion_failed``, and staff retry it from the admin
(``submission_convert``) once the cause is fixed. Anything unexpected (a database
error, a bug) rolls back and removes the stored files, and the exception propagates.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from forms_builder import events
from forms_builder.answers import ticket_content
from forms_builder.models import (
    CustomForm,
    FormField,
    FormStatus,
    FormSubmission,
    FormSubmissionAttachment,
    FormSubmissionStatus,
)
from forms_builder.validation import Definition, clean_submission, definition_errors
from nixflow.models import Role, Source, Ticket, User, Workflow
from nixflow.services import comment_create, ticket_create, user_create

logger = logging.getLogger(__name__)

OPEN_STATUSES = frozenset({FormSubmissionStatus.RECEIVED, FormSubmissionStatus.FAILED})


def _require_agent(actor: User | None, action: str) -> None:
    if actor is not None and not actor.is_agent:
        raise PermissionDenied(f"Only agents can {action}.")


def _messages(error: ValidationError | PermissionDenied) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or "Not allowed."


# --- Designing forms ----------------------------------------------------------------------
FORM_CHANGE_FIELDS = (
    "name",
    "slug",
    "description",
    "workflow_id",
    "default_priority",
    "title_template",
    "description_field",
    "priority_field",
    "priority_map",
    "login_required",
    "success_message",
)
FIELD_CHANGE_FIELDS = tuple(
    f.attname for f in FormField._meta.concrete_fields if f.name not in {"id", "form"}
)


def _row_values(row: Model, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


@transaction.atomic
def form_save(
    *,
    form: CustomForm,
    changed_fields: Sequence[FormField] = (),
    deleted_fields: Sequence[FormField] = (),
    actor: User | None,
) -> CustomForm:
    """Save a form and its fields as a designer edited them, validated together.

    ``form`` carries the edited values (new when it has no pk); ``changed_fields`` are
    new or edited fields, ``deleted_fields`` the ones to remove; fields not named stay
    as they are. The definition's version grows by one when anything changed, and one
    ``form.created`` or ``form.updated`` event records it. The status changes only
    through ``form_set_status``.
    """
    _require_agent(actor, "design forms")
    creating = form.pk is None
    before: dict[str, Any] = {}
    if not creating:
        # Two designers saving at once: the second waits, then bumps the version again.
        current = CustomForm.objects.select_for_update().get(pk=form.pk)
        before = _row_values(current, FORM_CHANGE_FIELDS)
        form.version = current.version
        form.status = current.status
    else:
        form.status = FormStatus.DRAFT
    deleted_ids = {row.pk for row in deleted_fields if row.pk}
    changed_by_id = {row.pk: row for row in changed_fields if row.pk}
    kept = [] if creating else list(form.fields.exclude(pk__in=deleted_ids))
    rows = [changed_by_id.get(row.pk, row) for row in kept]
    rows += [row for row in changed_fields if not row.pk]

    errors: dict[str, list[str]] = {}
    try:
        form.full_clean(exclude={"status"})
    except ValidationError as exc:
        errors.update(exc.message_dict)
    field_errors = []
    for row in changed_fields:
        try:
            row.full_clean(exclude={"form"}, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            field_errors += [f"{row.key or 'a new field'}: {m}" for m in exc.messages]
    field_errors += definition_errors(form, rows, publishing=form.status == FormStatus.PUBLISHED)
    if field_errors:
        errors["fields"] = field_errors
    if errors:
        raise ValidationError(errors)

    old_fields = {row.pk: _row_values(row, FIELD_CHANGE_FIELDS) for row in kept}
    changed_names = [n for n in FORM_CHANGE_FIELDS if before.get(n) != getattr(form, n)]
    fields_changed = bool(deleted_ids) or any(
        row.pk is None or old_fields.get(row.pk) != _row_values(row, FIELD_CHANGE_FIELDS)
        for row in changed_fields
    )
    if not creating and not changed_names and not fields_changed:
        return form

    now = timezone.now()
    form.version += 1
    form.updated = now
    if creating:
        form.created = now
    form.save()
    FormField.objects.filter(form=form, pk__in=deleted_ids).delete()
    for row in changed_fields:
        row.form = form
        row.save()
    events.form_changed(
        type=events.FORM_CREATED if creating else events.FORM_UPDATED,
        form=form,
        actor=actor,
        payload={
            "changed": changed_names if not creating else [],
            "fields_changed": fields_changed,
            "field_count": len(rows),
        },
    )
    return form


def form_fields_from_data(
    *, form: CustomForm | None, items: Sequence[Mapping[str, Any]]
) -> tuple[list[FormField], list[FormField]]:
    """The complete list of a form's fields as an API client sends it → the changed and
    deleted rows ``form_save`` takes. Fields are matched by key; order follows the list
    unless items give their own ``order``."""
    existing = {} if form is None or form.pk is None else {f.key: f for f in form.fields.all()}
    changed: list[FormField] = []
    for position, item in enumerate(items):
        row = existing.pop(item["key"], None) or FormField(key=item["key"])
        values = {"order": (position + 1) * 10, **item}
        for name, value in values.items():
            setattr(row, name, value)
        changed.append(row)
    return changed, list(existing.values())


@transaction.atomic
def form_set_status(*, form: CustomForm, status: FormStatus, actor: User | None) -> CustomForm:
    """Publish, withdraw (back to draft) or archive a form.

    Publishing checks the whole definition, as it will be served: at least one field,
    consistent rules, an active workflow when the form names one.
    """
    _require_agent(actor, "publish or archive forms")
    form = CustomForm.objects.select_for_update().get(pk=form.pk)
    if form.status == status:
        return form
    if status == FormStatus.PUBLISHED:
        problems = definition_errors(form, list(form.fields.all()), publishing=True)
        if form.workflow is not None and not form.workflow.is_active:
            problems.append(f"Its workflow {form.workflow.name!r} is not active.")
        if problems:
            raise ValidationError(
                {"status": [f"{form.name} can't be published: {p}" for p in problems]}
            )
    form.status = status
    form.updated = timezone.now()
    form.save(update_fields=["status", "updated"])
    event_type = {
        FormStatus.PUBLISHED: events.FORM_PUBLISHED,
        FormStatus.ARCHIVED: events.FORM_ARCHIVED,
        FormStatus.DRAFT: events.FORM_WITHDRAWN,
    }[FormStatus(status)]
    events.form_changed(type=event_type, form=form, actor=actor)
    return form


@transaction.atomic
def form_delete(*, form: CustomForm, actor: User | None) -> None:
    """Delete a form nobody has submitted; forms with submissions are archived instead
    (their submissions and tickets refer to them)."""
    _require_agent(actor, "delete forms")
    form = CustomForm.objects.select_for_update().get(pk=form.pk)
    if form.submissions.exists():
        raise ValidationError(f"{form.name} has submissions; archive it instead of deleting it.")
    events.form_changed(type=events.FORM_DELETED, form=form, actor=actor)
    form.delete()


# --- Submissions --------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredFile:
    """An upload written to storage, not yet attached to a row."""

    field_key: str
    name: str  # in storage
    original_name: str
    size: int
    content_type: str
    sha256: str


class ConversionFailed(Exception):  # noqa: N818 -- an outcome, like PermissionDenied
    """The ticket could not be opened; carries the refusal's reason."""

    def __init__(self, error: ValidationError | PermissionDenied) -> None:
        self.reason = _messages(error)
        super().__init__(self.reason)


def _storage() -> Storage:
    return FormSubmissionAttachment._meta.get_field("file").storage


def _store_files(uploads: Mapping[str, UploadedFile]) -> list[StoredFile]:
    """Write validated uploads to storage with their SHA-256, outside any transaction
    (a rolled-back transaction can't take a file back; the caller removes them)."""
    field = FormSubmissionAttachment._meta.get_field("file")
    stored: list[StoredFile] = []
    try:
        for key, upload in uploads.items():
            digest = hashlib.sha256()
            for chunk in upload.chunks():
                digest.update(chunk)
            original = upload.name or "file"
            target = field.generate_filename(None, original)
            name = _storage().save(target, upload, max_length=field.max_length)
            guessed = mimetypes.guess_type(original)[0]
            stored.append(
                StoredFile(
                    field_key=key,
                    name=name,
                    original_name=original[:255],
                    size=upload.size or 0,
                    content_type=(guessed or upload.content_type or "application/octet-stream")[
                        :255
                    ],
                    sha256=digest.hexdigest(),
                )
            )
    except BaseException:
        _remove_files([s.name for s in stored])
        raise
    return stored


def _remove_files(names: Iterable[str]) -> None:
    storage = _storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:  # already gone, or the disk is failing: nothing more to do here
            logger.warning("Could not remove stored file %s", name, exc_info=True)


def _clean_submitter_email(value: str) -> tuple[str, str]:
    """(address, problem); the address is what identifies a public form's requester."""
    email = (value or "").strip()
    if not email:
        return "", "Give your e-mail address, so that we can reply."
    if len(email) > 254 or "\x00" in email:
        return "", "Enter a valid e-mail address, like name@example.com."
    try:
        EmailValidator()(email)
    except ValidationError:
        return "", "Enter a valid e-mail address, like name@example.com."
    return email, ""


def requester_for_email(email: str) -> User:
    """The user with this e-mail address (case-insensitively), created as a requester
    with no password when there is none. Safe against a concurrent submission creating
    the same requester: the e-mail's unique index makes the second insert fail, and the
    lookup then finds the first."""
    found = User.objects.filter(email__iexact=email).order_by("pk").first()
    if found is not None:
        return found
    base = re.sub(r"[^\w.@+-]", "", email.lower())[:140] or "requester"
    for attempt in range(5):
        username = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
        try:
            return user_create(username=username, email=email, role=Role.REQUESTER)
        except (ValidationError, IntegrityError):
            # user_create runs in a savepoint: the failed insert is undone, not this
            # transaction. Either the address was just taken (use that user), or the
            # username was (try another).
            found = User.objects.filter(email__iexact=email).order_by("pk").first()
            if found is not None:
                return found
    raise ValidationError({"submitter_email": "No requester could be created for this address."})


def _check_can_submit(form: CustomForm, submitter: User | None) -> None:
    if form.status != FormStatus.PUBLISHED:
        raise PermissionDenied(f"The form {form.name!r} is not open for submissions.")
    if submitter is None and form.login_required:
        raise PermissionDenied("Sign in to fill in this form.")
    if submitter is not None and not submitter.is_active:
        raise PermissionDenied("This account is not active.")


def submission_create(
    *,
    form: CustomForm,
    data: Mapping[str, Any],
    files: Mapping[str, Sequence[UploadedFile]] | None = None,
    submitter: User | None,
    submitter_email: str = "",
    ip_address: str | None = None,
) -> FormSubmission:
    """Validate answers to a published form and turn them into a ticket (module doc).

    ``submitter`` is the signed-in user, or None for an anonymous submission to a public
    form, which then needs ``submitter_email``. Bad answers raise
    ValidationError({key: [messages]}) and store nothing; the result is the submission,
    ``converted`` with its ticket, or ``failed`` with the reason.
    """
    _check_can_submit(form, submitter)
    definition = Definition.from_form(form)
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

    stored = _store_files(cleaned.files)
    copies: list[str] = []
    row: dict[str, Any] = {
        "form": form,
        "form_version": definition.version,
        "form_snapshot": definition.snapshot(),
        "submitter": submitter,
        "submitter_email": email,
        "data": cleaned.data,
        "ip_address": ip_address,
    }
    try:
        with transaction.atomic():
            submission = _submission_row(**row, stored=stored)
            events.form_submitted(submission=submission, actor=submitter)
            _convert(submission, definition, stored=stored, actor=submitter, copies=copies)
        return submission
    except ConversionFailed as failed:
        _remove_files(copies)
        logger.warning("Form %s: submission kept as failed: %s", form.slug, failed.reason)
        if submitter is None:
            # The requester made in the rolled-back transaction is gone; an existing
            # one is linked, so that they see the submission among theirs.
            row["submitter"] = User.objects.filter(email__iexact=email).order_by("pk").first()
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
            _remove_files(s.name for s in stored)
            raise
        return submission
    except BaseException:
        _remove_files([*(s.name for s in stored), *copies])
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
        requester = submission.submitter or requester_for_email(submission.submitter_email)
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
        )
        if stored:
            with ExitStack() as files:
                uploads = [
                    UploadedFile(
                        file=files.enter_context(_storage().open(s.name, "rb")),
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
            copies.extend(a.file.name for a in comment.attachments.all())
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
    _require_agent(actor, "convert submissions")
    copies: list[str] = []
    try:
        with transaction.atomic():
            locked = (
                FormSubmission.objects.select_for_update(of=("self",))
                .select_related("form", "submitter")
                .get(pk=submission.pk)
            )
            if locked.status not in OPEN_STATUSES:
                raise ValidationError(
                    f"Submission {locked.pk} is {locked.get_status_display().lower()}; "
                    "only received or failed submissions can be converted."
                )
            stored = [
                StoredFile(
                    field_key=a.field_key,
                    name=a.file.name,
                    original_name=a.original_name,
                    size=a.size,
                    content_type=a.content_type,
                    sha256=a.sha256,
                )
                for a in locked.attachments.all()
            ]
            definition = Definition.from_snapshot(locked.form_snapshot)
            _convert(locked, definition, stored=stored, actor=actor, copies=copies)
        return locked
    except ConversionFailed as failed:
        _remove_files(copies)
        with transaction.atomic():
            locked = FormSubmission.objects.select_for_update().get(pk=submission.pk)
            locked.status = FormSubmissionStatus.FAILED
            locked.status_reason = failed.reason
            locked.updated = timezone.now()
            locked.save(update_fields=["status", "status_reason", "updated"])
            events.form_conversion_failed(submission=locked, actor=actor)
        return locked
    except BaseException:
        _remove_files(copies)
        raise


@transaction.atomic
def submission_reject(
    *, submission: FormSubmission, actor: User | None, reason: str = ""
) -> FormSubmission:
    """Set a received or failed submission aside without a ticket (spam, a duplicate).
    Agents only."""
    _require_agent(actor, "reject submissions")
    locked = FormSubmission.objects.select_for_update().get(pk=submission.pk)
    if locked.status not in OPEN_STATUSES:
        raise ValidationError(
            f"Submission {locked.pk} is {locked.get_status_display().lower()}; "
            "only received or failed submissions can be rejected."
        )
    locked.status = FormSubmissionStatus.REJECTED
    locked.status_reason = reason.strip() or "Rejected by staff."
    locked.updated = timezone.now()
    locked.save(update_fields=["status", "status_reason", "updated"])
    events.form_rejected(submission=locked, actor=actor)
    return locked
