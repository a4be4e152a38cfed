"""The staff UI: the form designer with its fields inline, preview, status actions, the
submissions list with its filters and actions, file downloads, and the CSV export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from eventlog.models import EventLog
from forms_builder import events, services
from forms_builder.models import (
    CustomForm,
    FormFieldType,
    FormStatus,
    FormSubmission,
    FormSubmissionStatus,
    SubmitterIdentity,
)
from nixflow.models import Role, Ticket, User, Workflow
from tests.factories import UserFactory
from tests.forms_builder.conftest import OUTAGE_ANSWERS, MakeForm, designer_post, png, submit
from tests.forms_builder.factories import (
    PNG,
    CustomFormFactory,
    FormSubmissionAttachmentFactory,
    FormSubmissionFactory,
    field,
)

pytestmark = pytest.mark.django_db


# --- the designer -------------------------------------------------------------------------
def test_an_agent_designs_a_form_with_fields_inline(staff: Client, agent: User) -> None:
    response = staff.post(
        reverse("admin:forms_builder_customform_add"),
        designer_post(
            {"name": "Request a laptop", "slug": "request-a-laptop", "title_template": "{model}"},
            [
                {
                    "key": "model",
                    "field_type": "select",
                    "choices": "Standard\nPerformance\n",
                    "required": True,
                },
                {
                    "key": "why",
                    "field_type": "textarea",
                    "visible_when_field": "model",
                    "visible_when_value": "Performance",
                },
            ],
        ),
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    form = CustomForm.objects.get(slug="request-a-laptop")
    assert form.status == FormStatus.DRAFT
    assert form.version == 1
    assert [(f.key, f.choices) for f in form.fields.all()] == [
        ("model", ["Standard", "Performance"]),
        ("why", []),
    ]
    created = EventLog.objects.get(type=events.FORM_CREATED)
    assert created.actor == agent


def test_the_designer_refuses_fields_that_do_not_hold_together(staff: Client) -> None:
    response = staff.post(
        reverse("admin:forms_builder_customform_add"),
        designer_post(
            {"name": "Broken", "slug": "broken"},
            [
                {"key": "model", "field_type": "select", "choices": ""},
                {"key": "why", "visible_when_field": "nowhere", "visible_when_value": "x"},
            ],
        ),
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Give at least one option." in html
    assert not CustomForm.objects.exists()

    response = staff.post(
        reverse("admin:forms_builder_customform_add"),
        designer_post(
            {"name": "Broken", "slug": "broken"},
            [{"key": "why", "visible_when_field": "nowhere", "visible_when_value": "x"}],
        ),
    )
    assert response.status_code == 200
    assert "but the form has no field with that key" in response.content.decode()
    assert not CustomForm.objects.exists()


def test_editing_a_field_in_the_designer_bumps_the_version(
    staff: Client, make_form: MakeForm
) -> None:
    form = make_form([field("name", label="Name")])
    row = form.fields.get()
    page = staff.get(reverse("admin:forms_builder_customform_change", args=[form.pk]))
    assert page.status_code == 200
    assert "Preview" in page.content.decode()

    response = staff.post(
        reverse("admin:forms_builder_customform_change", args=[form.pk]),
        designer_post(
            {"name": form.name, "slug": form.slug, "login_required": "on"},
            [{"id": row.pk, "form": form.pk, "key": "name", "label": "Full name"}],
            initial=1,
        ),
    )

    assert response.status_code == 302
    form.refresh_from_db()
    assert form.version == 2
    assert form.status == FormStatus.PUBLISHED  # the designer doesn't touch the status
    assert form.fields.get().label == "Full name"


def test_publish_and_archive_actions_go_through_the_services(
    staff: Client, make_form: MakeForm
) -> None:
    ready = make_form(name="Ready", status=FormStatus.DRAFT)
    empty = make_form([], name="Empty", status=FormStatus.DRAFT)
    changelist = reverse("admin:forms_builder_customform_changelist")

    response = staff.post(
        changelist,
        {"action": "publish", "_selected_action": [ready.pk, empty.pk]},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert "1 form(s) now published." in messages
    assert any("Empty can't be published" in m for m in messages)
    ready.refresh_from_db()
    empty.refresh_from_db()
    assert (ready.status, empty.status) == (FormStatus.PUBLISHED, FormStatus.DRAFT)

    staff.post(changelist, {"action": "archive", "_selected_action": [ready.pk]})
    ready.refresh_from_db()
    assert ready.status == FormStatus.ARCHIVED


def test_a_form_with_submissions_cannot_be_deleted_in_the_admin(
    staff: Client, public_form: CustomForm, admin_user: User, client: Client
) -> None:
    submit(public_form)
    client.force_login(admin_user)
    response = client.get(reverse("admin:forms_builder_customform_delete", args=[public_form.pk]))
    assert "it has submissions (archive it instead)" in response.content.decode()
    client.post(
        reverse("admin:forms_builder_customform_delete", args=[public_form.pk]), {"post": "yes"}
    )
    assert CustomForm.objects.filter(pk=public_form.pk).exists()


def test_requesters_do_not_reach_the_designer(client: Client, make_form: MakeForm) -> None:
    form = make_form()
    client.force_login(UserFactory(username="ann", role=Role.REQUESTER, is_staff=True))
    for name, args in (
        ("customform_changelist", []),
        ("customform_preview", [form.pk]),
        ("customform_export", [form.pk]),
        ("formsubmission_changelist", []),
    ):
        response = client.get(reverse(f"admin:forms_builder_{name}", args=args))
        assert response.status_code == 403, name


# --- preview ------------------------------------------------------------------------------
def test_the_preview_validates_answers_and_shows_the_ticket_without_storing(
    staff: Client, public_form: CustomForm
) -> None:
    url = reverse("admin:forms_builder_customform_preview", args=[public_form.pk])
    page = staff.get(url)
    assert page.status_code == 200
    assert '<label for="id_details">What happens?' in page.content.decode()

    bad = staff.post(url, {**OUTAGE_ANSWERS, "affected": "lots"})
    assert '<a href="#id_affected">How many people?: Enter a number.</a>' in bad.content.decode()

    good = staff.post(url, {**OUTAGE_ANSWERS, "screenshot": png()})
    html = good.content.decode()
    assert "They would open this ticket" in html
    assert "Outage: VPN (Everyone)" in html
    assert "URGENT" in html
    assert not FormSubmission.objects.exists()
    assert not Ticket.objects.exists()


def test_drafts_can_be_previewed(staff: Client, make_form: MakeForm) -> None:
    draft = make_form(status=FormStatus.DRAFT)
    url = reverse("admin:forms_builder_customform_preview", args=[draft.pk])
    assert staff.get(url).status_code == 200


# --- submissions --------------------------------------------------------------------------
def test_the_submissions_list_filters_by_form_and_status(
    staff: Client, public_form: CustomForm, make_form: MakeForm
) -> None:
    other = make_form(name="Other", login_required=False)
    submit(public_form)
    services.submission_create(
        form=other, data={"name": "x"}, submitter=None, submitter_email="b@example.com"
    )
    Workflow.objects.update(is_default=False)
    submit(public_form, submitter_email="cy@example.com")
    url = reverse("admin:forms_builder_formsubmission_changelist")

    def listed(query: str) -> int:
        response = staff.get(url + query)
        assert response.status_code == 200
        return response.context["cl"].result_count

    assert listed("") == 3
    assert listed(f"?form__id__exact={public_form.pk}") == 2
    assert listed("?status__exact=failed") == 1
    assert listed(f"?form__id__exact={public_form.pk}&status__exact=converted") == 1
    assert listed("?q=b@example.com") == 1


def test_a_submission_page_reads_its_snapshot_and_offers_its_files(
    staff: Client, public_form: CustomForm
) -> None:
    submission = submit(public_form, files={"screenshot": [png("shot.png")]})
    row = public_form.fields.get(key="details")
    row.label = "Relabelled"
    services.form_save(form=public_form, changed_fields=[row], actor=None)

    page = staff.get(reverse("admin:forms_builder_formsubmission_change", args=[submission.pk]))

    html = page.content.decode()
    assert "<tr><th>What happens?</th><td>No tunnel.<br>At all.</td></tr>" in html
    assert "Relabelled" not in html
    assert submission.ticket is not None
    assert submission.ticket.key in html
    download = reverse(
        "admin:forms_builder_formsubmission_file",
        args=[submission.pk, submission.attachments.get().pk],
    )
    assert download in html
    response = staff.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert 'filename="shot.png"' in response["Content-Disposition"]


def test_actions_retry_failed_submissions_and_reject_others(
    staff: Client, public_form: CustomForm
) -> None:
    default = Workflow.objects.get(is_default=True)
    Workflow.objects.update(is_default=False)
    first, second = submit(public_form), submit(public_form, submitter_email="bob@example.com")
    assert first.status == second.status == FormSubmissionStatus.FAILED
    Workflow.objects.filter(pk=default.pk).update(is_default=True)
    url = reverse("admin:forms_builder_formsubmission_changelist")

    staff.post(url, {"action": "convert", "_selected_action": [first.pk]})
    response = staff.post(
        url, {"action": "reject", "_selected_action": [first.pk, second.pk]}, follow=True
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == FormSubmissionStatus.CONVERTED
    assert second.status == FormSubmissionStatus.REJECTED
    messages = [str(m) for m in response.context["messages"]]
    assert "1 submission(s) rejected." in messages
    assert any("only received, failed or unconfirmed" in m for m in messages)


# --- CSV export ---------------------------------------------------------------------------
def read_csv(response: StreamingHttpResponse) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_csv_export_streams_every_version_of_a_forms_submissions(
    staff: Client, public_form: CustomForm
) -> None:
    first = submit(public_form, submitter_email="ann@example.com", details='=HYPERLINK("http://x")')
    # A later version drops "details" and adds "phone": both columns stay.
    details = public_form.fields.get(key="details")
    public_form.description_field = ""
    services.form_save(
        form=public_form,
        changed_fields=[field("phone", FormFieldType.PHONE, label="Phone", order=99)],
        deleted_fields=[details],
        actor=None,
    )
    second = submit(
        public_form,
        submitter_email="bob@example.com",
        details=None,
        phone="+44 20 7946 0958",
        impact="Just me",
        affected=None,
    )

    response = staff.get(reverse("admin:forms_builder_customform_export", args=[public_form.pk]))

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'attachment; filename="report-an-outage-submissions-' in response["Content-Disposition"]
    header, *rows = read_csv(response)
    assert header == [
        "submission",
        "submitted_at",
        "status",
        "submitter_email",
        "submitter_identity",
        "ticket",
        "service",
        "impact",
        "affected",
        "screenshot",
        "phone",
        "details",
    ]
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    assert by_id[first.pk]["details"] == '\'=HYPERLINK("http://x")'  # formula defused
    assert by_id[first.pk]["affected"] == "40"
    assert by_id[first.pk]["phone"] == ""
    assert by_id[first.pk]["ticket"] == first.ticket.key  # type: ignore[union-attr]
    assert by_id[second.pk]["phone"] == "'+44 20 7946 0958"
    assert by_id[second.pk]["details"] == ""
    assert by_id[second.pk]["submitter_email"] == "bob@example.com"
    assert by_id[second.pk]["submitter_identity"] == second.identity == "new_address"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_start_like_formulas_are_made_text(cell: str) -> None:
    from forms_builder.export import safe_cell

    assert safe_cell(cell) == "'" + cell
    assert safe_cell("plain") == "plain"
    assert safe_cell(None) == ""


def test_the_export_of_a_form_without_submissions_is_a_header(
    staff: Client, make_form: MakeForm
) -> None:
    form = make_form()
    header, *rows = read_csv(
        staff.get(reverse("admin:forms_builder_customform_export", args=[form.pk]))
    )
    assert header == [
        "submission",
        "submitted_at",
        "status",
        "submitter_email",
        "submitter_identity",
        "ticket",
    ]
    assert rows == []


def test_the_submissions_list_says_how_each_submitter_is_known(staff: Client) -> None:
    form = CustomFormFactory(name="Order a chair")
    ann = UserFactory(username="ann", email="ann@example.com")
    FormSubmissionFactory(form=form, submitter=ann, identity=SubmitterIdentity.SIGNED_IN)
    FormSubmissionFactory(form=form, submitter=ann, identity=SubmitterIdentity.CONFIRMED)
    FormSubmissionFactory(form=form, identity=SubmitterIdentity.NEW_ADDRESS)
    FormSubmissionFactory(
        form=form,
        submitter_email="ann@example.com",
        identity=SubmitterIdentity.UNVERIFIED,
        status=FormSubmissionStatus.AWAITING_CONFIRMATION,
    )
    url = reverse("admin:forms_builder_formsubmission_changelist")

    html = staff.get(url).content.decode()

    for label in (
        "Verified: signed in",
        "Verified: confirmed by e-mail",
        "New address (a requester was created)",
        "Unverified: an existing account&#x27;s address",
    ):
        assert label in html
    assert "Awaiting the submitter&#x27;s confirmation" in html
    for identity in SubmitterIdentity.values[:4]:
        response = staff.get(f"{url}?identity__exact={identity}")
        assert response.context["cl"].result_count == 1


def test_a_submitted_file_missing_from_storage_is_a_404_not_a_500(
    staff: Client, media: Path
) -> None:
    attachment = FormSubmissionAttachmentFactory()
    url = reverse(
        "admin:forms_builder_formsubmission_file",
        args=[attachment.submission_id, attachment.pk],
    )
    assert staff.get(url).status_code == 200

    (media / attachment.file.name).unlink()

    assert staff.get(url).status_code == 404
