"""Submission → ticket through the services: one transaction, events, files with their
hash, requesters found or created, what a failure keeps, retries, and snapshots that
survive later edits of the form."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from eventlog.models import EventLog
from forms_builder import events, services
from forms_builder.answers import answers
from forms_builder.models import (
    CustomForm,
    FormFieldType,
    FormStatus,
    FormSubmission,
    FormSubmissionAttachment,
    FormSubmissionStatus,
    SubmitterIdentity,
)
from forms_builder.validation import Definition
from nixflow.models import Attachment, Priority, Role, Source, Ticket, User, Workflow
from tests.factories import UserFactory, WorkflowFactory
from tests.forms_builder.conftest import OUTAGE_ANSWERS, MakeForm, pdf, png, stored_files, submit
from tests.forms_builder.factories import PNG, field

pytestmark = pytest.mark.django_db


def event_types(**subject: object) -> list[str]:
    return list(EventLog.objects.filter(**subject).order_by("id").values_list("type", flat=True))


# --- the happy path -----------------------------------------------------------------------
def test_a_submission_becomes_a_ticket_with_readable_answers(make_form: MakeForm) -> None:
    requester = UserFactory(username="ann", role=Role.REQUESTER)
    form = make_form(
        [
            field("device", FormFieldType.SELECT, label="Device", choices=["Laptop", "Phone"]),
            field("reason", FormFieldType.TEXTAREA, label="Why?", required=True),
            field("dock", FormFieldType.CHECKBOX, label="Needs a dock"),
            field("note", label="Anything else"),
        ],
        title_template="{device} for {reason}",
        default_priority=Priority.HIGH,
    )

    submission = services.submission_create(
        form=form,
        data={"device": "Laptop", "reason": "My old one died.", "dock": "yes"},
        submitter=requester,
    )

    assert submission.status == FormSubmissionStatus.CONVERTED
    ticket = submission.ticket
    assert ticket is not None
    assert ticket.requester == requester
    assert ticket.source == Source.FORM
    assert ticket.priority == Priority.HIGH
    assert ticket.title == "Laptop for My old one died."
    assert ticket.description == (
        "Answers to the form “Request a laptop” (submission "
        f"{submission.pk}):\n"
        "- Device: Laptop\n"
        "- Why?: My old one died.\n"
        "- Needs a dock: Yes\n"
        "\n"
        "Submitted by ann@example.com."
    )
    assert submission.data == {
        "device": "Laptop",
        "reason": "My old one died.",
        "dock": True,
        "note": None,
    }
    assert submission.form_version == form.version
    assert [f["key"] for f in submission.form_snapshot["fields"]] == [
        "device",
        "reason",
        "dock",
        "note",
    ]


def test_the_mapping_sets_priority_and_the_description_leads_with_its_field(
    public_form: CustomForm,
) -> None:
    ticket = submit(public_form).ticket
    assert ticket is not None
    assert ticket.priority == Priority.URGENT  # "Everyone" in the priority map
    assert ticket.title == "Outage: VPN (Everyone)"
    assert ticket.description.startswith("No tunnel.\nAt all.\n\nAnswers to the form")
    assert "- How many people?: 40\n" in ticket.description
    assert "What happens?" not in ticket.description  # it leads, it isn't repeated

    other = submit(
        public_form, data={**OUTAGE_ANSWERS, "impact": "Just me"}, submitter_email="bob@example.com"
    ).ticket
    assert other is not None
    assert other.priority == Priority.NORMAL  # not in the map: the default
    assert "How many people" not in other.description  # hidden, so not stored


def test_an_anonymous_submission_with_an_accounts_address_in_any_case_is_held_unlinked(
    public_form: CustomForm,
) -> None:
    UserFactory(username="ann", email="Ann@Example.com", role=Role.REQUESTER)
    submission = submit(public_form, submitter_email="ann@EXAMPLE.com")
    assert submission.status == FormSubmissionStatus.AWAITING_CONFIRMATION
    assert submission.identity == SubmitterIdentity.UNVERIFIED
    assert submission.submitter is None
    assert submission.ticket is None
    assert User.objects.count() == 2  # ann and the designer: nobody new


def test_an_anonymous_submission_creates_a_requester_for_a_new_address(
    public_form: CustomForm,
) -> None:
    UserFactory(username="new.person@example.com", email="someone.else@example.com")

    submission = submit(public_form, submitter_email="New.Person@example.com")

    created = submission.submitter
    assert created is not None
    assert created.email == "New.Person@example.com"
    assert created.role == Role.REQUESTER
    assert not created.has_usable_password()
    assert created.username.startswith("new.person@example.com-")  # the plain one was taken
    assert submission.ticket is not None
    assert submission.ticket.requester == created


def test_files_are_stored_with_their_hash_and_attached_to_the_ticket(
    public_form: CustomForm, media: Path
) -> None:
    submission = submit(public_form, files={"screenshot": [png("vpn error.png")]})

    stored = FormSubmissionAttachment.objects.get(submission=submission)
    assert stored.field_key == "screenshot"
    assert stored.original_name == "vpn error.png"
    assert stored.size == len(PNG)
    assert stored.content_type == "image/png"
    assert stored.sha256 == hashlib.sha256(PNG).hexdigest()
    assert Path(stored.file.path).read_bytes() == PNG
    assert submission.data["screenshot"] == "vpn error.png"
    # The ticket carries the file on a comment by the requester, as a ticket attachment.
    on_ticket = Attachment.objects.get(comment__ticket=submission.ticket)
    assert on_ticket.filename == "vpn error.png"
    assert on_ticket.comment.author == submission.submitter
    assert not on_ticket.comment.is_internal
    assert Path(on_ticket.file.path).read_bytes() == PNG
    assert "- Screenshot: vpn error.png (attached below)" in submission.ticket.description


def test_the_submission_and_its_ticket_record_their_events(public_form: CustomForm) -> None:
    submission = submit(public_form, files={"screenshot": [png()]})
    ticket = submission.ticket
    assert ticket is not None

    assert event_types(subject_app="forms_builder", subject_model="formsubmission") == [
        events.FORM_SUBMITTED,
        events.FORM_CONVERTED,
    ]
    assert event_types(ticket_key=ticket.key) == [
        "ticket.created",
        "ticket.commented",
        events.FORM_CONVERTED,
    ]
    converted = EventLog.objects.get(type=events.FORM_CONVERTED)
    assert converted.payload["ticket_id"] == ticket.pk
    assert converted.actor is None  # an anonymous submitter: the system acted
    assert "ann@example.com" not in str(converted.payload)  # no personal data in the log


# --- bad answers store nothing ------------------------------------------------------------
@pytest.mark.parametrize(
    "case",
    [
        ({**OUTAGE_ANSWERS, "affected": "many"}, {}, "affected", "Enter a number."),
        (
            OUTAGE_ANSWERS,
            {"screenshot": [pdf("big.pdf", size=1001)]},
            "screenshot",
            "big.pdf is 1001 bytes; files here can be at most 1000 bytes.",
        ),
        (
            OUTAGE_ANSWERS,
            {"screenshot": [pdf("notes.docx")]},
            "screenshot",
            "notes.docx: files of type .docx are not accepted here; allowed: .png, .pdf.",
        ),
    ],
)
def test_bad_answers_or_files_are_refused_and_nothing_is_stored(
    public_form: CustomForm, media: Path, case: tuple[dict[str, str], dict[str, Any], str, str]
) -> None:
    data, files, field_key, message = case
    events_before = EventLog.objects.count()
    with pytest.raises(ValidationError) as caught:
        submit(public_form, data=data, files=files)

    assert caught.value.message_dict == {field_key: [message]}
    assert not FormSubmission.objects.exists()
    assert not FormSubmissionAttachment.objects.exists()
    assert not Ticket.objects.exists()
    assert EventLog.objects.count() == events_before
    assert stored_files(media) == []


def test_an_anonymous_submitter_must_give_a_valid_email(public_form: CustomForm) -> None:
    with pytest.raises(ValidationError) as caught:
        submit(public_form, submitter_email="ann", data={**OUTAGE_ANSWERS, "service": "Fax"})
    assert caught.value.message_dict == {
        "submitter_email": ["Enter a valid e-mail address, like name@example.com."],
        "service": ["Select a valid choice. 'Fax' is not one of the available choices."],
    }


def test_drafts_archived_and_login_required_forms_refuse_submissions(make_form: MakeForm) -> None:
    draft = make_form(status=FormStatus.DRAFT)
    archived = make_form(name="Old form", status=FormStatus.ARCHIVED)
    private = make_form(name="Staff only", login_required=True)
    for form in (draft, archived):
        with pytest.raises(PermissionDenied, match="not open for submissions"):
            submit(form, data={"name": "Ann"})
    with pytest.raises(PermissionDenied, match="Sign in"):
        submit(private, data={"name": "Ann"})
    assert not FormSubmission.objects.exists()


# --- when the ticket can't be opened ------------------------------------------------------
def test_no_default_workflow_leaves_no_ticket_and_keeps_the_answers_as_failed(
    public_form: CustomForm, media: Path
) -> None:
    Workflow.objects.update(is_default=False)

    submission = submit(public_form, files={"screenshot": [png()]})

    assert not Ticket.objects.exists()
    assert not FormSubmission.objects.filter(status=FormSubmissionStatus.CONVERTED).exists()
    assert submission.status == FormSubmissionStatus.FAILED
    assert submission.ticket is None
    assert submission.status_reason == "No default workflow is configured; choose one."
    assert submission.data["affected"] == 40
    # The failed record keeps the validated file (for the retry); the ticket's copy and
    # the requester created in the rolled-back transaction are gone.
    kept = submission.attachments.get()
    assert Path(kept.file.path).read_bytes() == PNG
    assert stored_files(media) == [Path(kept.file.path)]
    assert submission.submitter is None
    assert not User.objects.filter(email="ann@example.com").exists()
    assert event_types(subject_model="formsubmission") == [
        events.FORM_SUBMITTED,
        events.FORM_CONVERSION_FAILED,
    ]
    assert not EventLog.objects.filter(type="ticket.created").exists()


def test_an_inactive_workflow_fails_the_conversion_too(
    public_form: CustomForm,
) -> None:
    workflow = Workflow.objects.get(is_default=True)
    public_form.workflow = workflow
    services.form_save(form=public_form, actor=None)
    Workflow.objects.filter(pk=workflow.pk).update(is_active=False)

    submission = submit(public_form)

    assert submission.status == FormSubmissionStatus.FAILED
    assert submission.status_reason == f"Workflow {workflow.name!r} is not active."
    assert not Ticket.objects.exists()


def test_an_unexpected_error_rolls_everything_back_and_removes_the_files(
    public_form: CustomForm, media: Path
) -> None:
    with (
        mock.patch.object(events, "form_converted", side_effect=RuntimeError("disk on fire")),
        pytest.raises(RuntimeError, match="disk on fire"),
    ):
        submit(public_form, files={"screenshot": [png()]})

    assert not FormSubmission.objects.exists()
    assert not Ticket.objects.exists()
    assert not User.objects.filter(email="ann@example.com").exists()
    assert stored_files(media) == []  # the submission's file and the ticket's copy


def test_a_failed_submission_is_converted_once_the_cause_is_fixed(
    public_form: CustomForm, agent: User
) -> None:
    default = Workflow.objects.get(is_default=True)
    Workflow.objects.update(is_default=False)
    failed = submit(public_form, files={"screenshot": [png()]})
    again = services.submission_convert(submission=failed, actor=agent)
    assert again.status == FormSubmissionStatus.FAILED
    assert not Ticket.objects.exists()

    Workflow.objects.filter(pk=default.pk).update(is_default=True)
    converted = services.submission_convert(submission=failed, actor=agent)

    assert converted.status == FormSubmissionStatus.CONVERTED
    assert converted.status_reason == ""
    ticket = converted.ticket
    assert ticket is not None
    assert ticket.requester.email == "ann@example.com"
    assert ticket.title == "Outage: VPN (Everyone)"
    assert Attachment.objects.get(comment__ticket=ticket).filename == "screen.png"
    assert event_types(subject_model="formsubmission")[-1] == events.FORM_CONVERTED
    with pytest.raises(ValidationError, match="only received or failed"):
        services.submission_convert(submission=converted, actor=agent)


def test_only_agents_retry_or_reject_and_rejection_needs_an_open_submission(
    public_form: CustomForm, agent: User, requester: User
) -> None:
    Workflow.objects.update(is_default=False)
    failed = submit(public_form)
    with pytest.raises(PermissionDenied):
        services.submission_convert(submission=failed, actor=requester)
    with pytest.raises(PermissionDenied):
        services.submission_reject(submission=failed, actor=requester)

    rejected = services.submission_reject(submission=failed, actor=agent, reason="Duplicate")

    assert rejected.status == FormSubmissionStatus.REJECTED
    assert rejected.status_reason == "Duplicate"
    assert EventLog.objects.filter(type=events.FORM_REJECTED, actor=agent).count() == 1
    with pytest.raises(ValidationError, match="only received, failed or unconfirmed"):
        services.submission_reject(submission=rejected, actor=agent)


# --- snapshots survive edits --------------------------------------------------------------
def test_earlier_submissions_read_the_same_after_the_form_is_edited(
    public_form: CustomForm, designer: User
) -> None:
    before = submit(public_form)
    shown_before = answers(Definition.from_snapshot(before.form_snapshot), before.data)
    description_before = before.ticket.description  # type: ignore[union-attr]

    # Relabel a field, remove one, make a choice disappear and add a new field.
    rows = {row.key: row for row in public_form.fields.all()}
    rows["service"].label = "Which system?"
    rows["service"].choices = ["E-mail", "Phones"]
    public_form.title_template = "Outage: {service}"
    public_form.description_field = ""
    services.form_save(
        form=public_form,
        changed_fields=[
            rows["service"],
            field("phone", FormFieldType.PHONE, label="Phone", order=99),
        ],
        deleted_fields=[rows["details"]],
        actor=designer,
    )
    public_form.refresh_from_db()
    assert public_form.version == 2  # publishing is no change of the definition

    before.refresh_from_db()
    shown_after = answers(Definition.from_snapshot(before.form_snapshot), before.data)
    assert shown_after == shown_before
    assert [(a.label, a.text) for a in shown_after] == [
        ("What is down?", "VPN"),
        ("Who is affected?", "Everyone"),
        ("How many people?", "40"),
        ("What happens?", "No tunnel.\nAt all."),
        ("Screenshot", ""),
    ]
    assert before.form_version == 1
    assert before.ticket.description == description_before  # type: ignore[union-attr]

    later = services.submission_create(
        form=public_form,
        data={"service": "Phones", "impact": "Just me"},
        submitter=None,
        submitter_email="bob@example.com",
    )
    assert later.form_version == 2
    assert [
        a.label for a in answers(Definition.from_snapshot(later.form_snapshot), later.data)
    ] == [
        "Which system?",
        "Who is affected?",
        "Screenshot",
        "Phone",
    ]


# --- designing ----------------------------------------------------------------------------
def test_saving_a_form_bumps_its_version_once_per_change_and_records_it(
    make_form: MakeForm, designer: User
) -> None:
    form = make_form(status=FormStatus.DRAFT)
    assert form.version == 1
    services.form_save(form=form, actor=designer)  # nothing changed
    assert form.version == 1

    form.name = "Request a new laptop"
    services.form_save(form=form, actor=designer)

    assert form.version == 2
    assert event_types(subject_model="customform") == [events.FORM_CREATED, events.FORM_UPDATED]
    updated = EventLog.objects.get(type=events.FORM_UPDATED)
    assert updated.payload["changed"] == {
        "name": {"old": "Request a laptop", "new": "Request a new laptop"}
    }
    assert updated.payload["fields_added"] == updated.payload["fields_removed"] == []
    assert updated.actor == designer


def test_a_definition_that_does_not_hold_together_is_refused(
    make_form: MakeForm, designer: User
) -> None:
    with pytest.raises(ValidationError) as caught:
        make_form(
            [
                field("size", FormFieldType.SELECT, choices=[]),
                field("extra", visible_when_field="nowhere", visible_when_value="x"),
            ],
            title_template="{who}",
        )
    problems = caught.value.message_dict["fields"]
    assert "size: Give at least one option." in problems
    assert any("no field with that key" in p for p in problems)
    assert "The title template names {who}, which is not a field key." in problems
    assert not CustomForm.objects.exists()


def test_requesters_cannot_design_forms(requester: User) -> None:
    with pytest.raises(PermissionDenied):
        services.form_save(form=CustomForm(name="Mine", slug="mine"), actor=requester)


def test_publishing_checks_fields_and_workflow(make_form: MakeForm, designer: User) -> None:
    empty = make_form([], status=FormStatus.DRAFT)
    with pytest.raises(ValidationError, match="needs at least one field"):
        services.form_set_status(form=empty, status=FormStatus.PUBLISHED, actor=designer)

    inactive = WorkflowFactory(name="Retired", is_active=False)
    form = make_form(name="Uses retired", status=FormStatus.DRAFT, workflow=inactive)
    with pytest.raises(ValidationError, match="workflow 'Retired' is not active"):
        services.form_set_status(form=form, status=FormStatus.PUBLISHED, actor=designer)

    published = make_form(name="Fine", status=FormStatus.DRAFT)
    published = services.form_set_status(
        form=published, status=FormStatus.PUBLISHED, actor=designer
    )
    assert published.status == FormStatus.PUBLISHED
    assert EventLog.objects.filter(
        type=events.FORM_PUBLISHED, subject_id=str(published.pk)
    ).exists()


def test_a_form_with_submissions_is_archived_not_deleted(
    public_form: CustomForm, designer: User, make_form: MakeForm
) -> None:
    submit(public_form)
    with pytest.raises(ValidationError, match="archive it instead"):
        services.form_delete(form=public_form, actor=designer)

    unused = make_form(name="Unused")
    services.form_delete(form=unused, actor=designer)
    assert not CustomForm.objects.filter(pk=unused.pk).exists()
    assert EventLog.objects.filter(type=events.FORM_DELETED, subject_id=str(unused.pk)).exists()
