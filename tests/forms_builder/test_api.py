"""The form builder's API: a published form's schema and submit endpoint (JSON and
multipart), forms with nested fields, and submissions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from forms_builder import services
from forms_builder.models import (
    CustomForm,
    FormFieldType,
    FormStatus,
    FormSubmission,
    FormSubmissionStatus,
)
from forms_builder.throttling import FormSubmitAnonThrottle
from nixflow.models import Role, Ticket, User, Workflow
from tests.factories import UserFactory
from tests.forms_builder.conftest import MakeForm, pdf, png, stored_files
from tests.forms_builder.factories import field

pytestmark = pytest.mark.django_db

GOOD = {
    "submitter_email": "ann@example.com",
    "service": "VPN",
    "impact": "Everyone",
    "affected": 40,
    "details": "Nobody can connect.",
}


def submit_url(form: CustomForm) -> str:
    return f"/api/forms/{form.slug}/submit/"


def schema_url(form: CustomForm) -> str:
    return f"/api/forms/{form.slug}/schema/"


# --- schema -------------------------------------------------------------------------------
def test_the_schema_of_a_public_form_is_open_to_anyone(
    api_client: APIClient, public_form: CustomForm
) -> None:
    response = api_client.get(schema_url(public_form))

    assert response.status_code == 200
    data = response.json()
    assert data["slug"] == "report-an-outage"
    assert data["submitter_email_required"] is True
    assert data["submit_url"] == "http://testserver/api/forms/report-an-outage/submit/"
    by_key = {f["key"]: f for f in data["fields"]}
    assert list(by_key) == ["service", "impact", "affected", "details", "screenshot"]
    assert by_key["service"]["choices"] == ["E-mail", "VPN"]
    assert by_key["affected"]["min_value"] == "1"
    assert by_key["affected"]["visible_when_field"] == "impact"
    assert by_key["screenshot"]["max_file_size"] == 1000
    assert by_key["screenshot"]["allowed_file_types"] == ["png", "pdf"]
    assert by_key["details"]["max_file_size"] is None


@pytest.mark.parametrize("status", [FormStatus.DRAFT, FormStatus.ARCHIVED])
def test_drafts_and_archived_forms_are_404_even_for_agents(
    api_client: APIClient, make_form: MakeForm, agent: User, status: FormStatus
) -> None:
    form = make_form(status=status, login_required=False)
    api_client.force_authenticate(agent)
    assert api_client.get(schema_url(form)).status_code == 404
    assert api_client.post(submit_url(form), {"name": "x"}, format="json").status_code == 404
    assert not FormSubmission.objects.exists()


def test_a_login_required_form_answers_401_to_anonymous_callers(
    api_client: APIClient, make_form: MakeForm, requester: User
) -> None:
    form = make_form(login_required=True)
    for response in (
        api_client.get(schema_url(form)),
        api_client.post(submit_url(form), {"name": "Ann"}, format="json"),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
    assert not FormSubmission.objects.exists()

    api_client.force_authenticate(requester)
    schema = api_client.get(schema_url(form)).json()
    assert schema["submitter_email_required"] is False
    response = api_client.post(submit_url(form), {"name": "Ann"}, format="json")
    assert response.status_code == 201
    assert Ticket.objects.get().requester == requester


# --- submit -------------------------------------------------------------------------------
def test_a_json_submission_opens_a_ticket(api_client: APIClient, public_form: CustomForm) -> None:
    response = api_client.post(submit_url(public_form), GOOD, format="json")

    assert response.status_code == 201
    ticket = Ticket.objects.get()
    assert response.json() == {
        "id": FormSubmission.objects.get().pk,
        "status": "converted",
        "ticket": ticket.key,
        "message": "Thank you. We have received your request.",
    }
    assert ticket.requester.email == "ann@example.com"


def test_bad_json_answers_get_messages_by_field_and_store_nothing(
    api_client: APIClient, public_form: CustomForm
) -> None:
    response = api_client.post(
        submit_url(public_form),
        {**GOOD, "affected": "many", "service": ["VPN", "E-mail"], "role": "admin"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "affected": ["Enter a number."],
        "service": ["Give one answer, not several."],
        "role": ["This form has no such field."],
    }
    assert not FormSubmission.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        "just text",
        {"details": "x" * 50, "service": "VPN", "impact": "Just me", "screenshot": "C:/a.png"},
        {"service": "VPN\u0000", "impact": "Just me", "details": "nul"},
        {"service": {"deep": ["structure"]}, "impact": 1.5, "details": None},
    ],
)
def test_malformed_bodies_are_400_never_500(
    api_client: APIClient, public_form: CustomForm, body: Any
) -> None:
    payload = body if not isinstance(body, dict) else {**body, "submitter_email": "a@example.com"}
    response = api_client.post(submit_url(public_form), payload, format="json")
    assert response.status_code == 400
    assert response.json()
    assert not FormSubmission.objects.exists()


def test_a_multipart_submission_carries_the_file(
    api_client: APIClient, public_form: CustomForm
) -> None:
    response = api_client.post(
        submit_url(public_form), {**GOOD, "screenshot": png("vpn.png")}, format="multipart"
    )

    assert response.status_code == 201
    submission = FormSubmission.objects.get()
    assert submission.data["affected"] == 40
    assert submission.attachments.get().original_name == "vpn.png"


def test_an_oversized_or_wrong_file_is_refused_with_the_limit_and_nothing_stored(
    api_client: APIClient, public_form: CustomForm, media: Path
) -> None:
    big = api_client.post(
        submit_url(public_form), {**GOOD, "screenshot": pdf("big.pdf", 1024)}, format="multipart"
    )
    wrong = api_client.post(
        submit_url(public_form), {**GOOD, "screenshot": pdf("run.sh")}, format="multipart"
    )

    assert big.status_code == 400
    assert big.json() == {"screenshot": ["big.pdf is 1 KB; files here can be at most 1000 bytes."]}
    assert wrong.status_code == 400
    assert wrong.json() == {
        "screenshot": ["run.sh: files of type .sh are not accepted here; allowed: .png, .pdf."]
    }
    assert not FormSubmission.objects.exists()
    assert stored_files(media) == []


def test_a_submission_whose_ticket_cannot_be_opened_is_accepted_as_failed(
    api_client: APIClient, public_form: CustomForm
) -> None:
    Workflow.objects.update(is_default=False)

    response = api_client.post(submit_url(public_form), GOOD, format="json")

    assert response.status_code == 202
    assert response.json()["status"] == "failed"
    assert response.json()["ticket"] is None
    assert "could not open a ticket" in response.json()["message"]
    assert not Ticket.objects.exists()


def test_anonymous_submissions_are_throttled(
    api_client: APIClient, public_form: CustomForm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FormSubmitAnonThrottle, "rate", "1/hour")
    assert api_client.post(submit_url(public_form), GOOD, format="json").status_code == 201
    spoofed = {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}  # not trusted without NUM_PROXIES
    response = api_client.post(submit_url(public_form), GOOD, format="json", **spoofed)
    assert response.status_code == 429
    assert FormSubmission.objects.count() == 1


# --- forms --------------------------------------------------------------------------------
NEW_FORM = {
    "name": "Request a headset",
    "slug": "request-a-headset",
    "login_required": True,
    "title_template": "Headset: {model}",
    "priority_field": "model",
    "priority_map": {"Wireless": "HIGH"},
    "fields": [
        {
            "key": "model",
            "label": "Model",
            "type": "radio",
            "required": True,
            "choices": ["Wired", "Wireless"],
        },
        {
            "key": "why",
            "label": "Why wireless?",
            "type": "textarea",
            "visible_when_field": "model",
            "visible_when_value": "Wireless",
        },
    ],
}


def test_agents_create_forms_with_their_fields_and_publish_them(
    api_client: APIClient, agent: User
) -> None:
    api_client.force_authenticate(agent)

    created = api_client.post("/api/forms/", NEW_FORM, format="json")

    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["status"] == "draft"
    assert data["version"] == 1
    assert [(f["key"], f["order"]) for f in data["fields"]] == [("model", 10), ("why", 20)]

    changed = api_client.patch(
        "/api/forms/request-a-headset/",
        {"fields": [{**NEW_FORM["fields"][0], "label": "Which model?"}], "title_template": ""},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["version"] == 2
    assert [f["label"] for f in changed.json()["fields"]] == ["Which model?"]

    published = api_client.post(
        "/api/forms/request-a-headset/status/", {"status": "published"}, format="json"
    )
    assert published.status_code == 200
    assert published.json()["status"] == "published"


def test_a_form_definition_that_does_not_hold_together_is_400(
    api_client: APIClient, agent: User
) -> None:
    api_client.force_authenticate(agent)
    bad = {
        **NEW_FORM,
        "fields": [
            {"key": "model", "label": "Model", "type": "text"},
            {"key": "model", "label": "Again", "type": "text"},
        ],
    }
    response = api_client.post("/api/forms/", bad, format="json")
    assert response.status_code == 400
    assert response.json() == {"fields": ["Keys must be unique; repeated: model."]}

    bad["fields"] = [{"key": "model", "label": "Model", "type": "text"}]
    response = api_client.post("/api/forms/", bad, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == ["The priority field must be a drop-down or radio field."]
    assert not CustomForm.objects.exists()


def test_requesters_list_published_forms_and_cannot_design(
    api_client: APIClient, make_form: MakeForm, requester: User
) -> None:
    make_form(name="Open")
    make_form(name="Draft", status=FormStatus.DRAFT)
    assert api_client.get("/api/forms/").status_code == 401

    api_client.force_authenticate(requester)
    names = [f["name"] for f in api_client.get("/api/forms/").json()["results"]]
    assert names == ["Open"]
    assert api_client.get("/api/forms/draft/").status_code == 404
    assert api_client.post("/api/forms/", NEW_FORM, format="json").status_code == 403
    assert api_client.patch("/api/forms/open/", {"name": "x"}, format="json").status_code == 403


def test_a_form_with_submissions_cannot_be_deleted(
    api_client: APIClient, public_form: CustomForm, agent: User
) -> None:
    api_client.post(submit_url(public_form), GOOD, format="json")
    api_client.force_authenticate(agent)
    response = api_client.delete(f"/api/forms/{public_form.slug}/")
    assert response.status_code == 409
    assert "archive it instead" in response.json()["detail"]


# --- submissions --------------------------------------------------------------------------
def test_submissions_read_through_their_snapshot_after_the_form_changes(
    api_client: APIClient, public_form: CustomForm, agent: User
) -> None:
    api_client.post(submit_url(public_form), GOOD, format="json")
    row = public_form.fields.get(key="service")
    row.label = "Renamed"
    services.form_save(form=public_form, changed_fields=[row], actor=agent)

    api_client.force_authenticate(agent)
    data = api_client.get("/api/forms/submissions/").json()["results"][0]

    assert data["form"] == "report-an-outage"
    assert data["form_version"] == 1
    assert data["answers"][0] == {
        "key": "service",
        "label": "What is down?",
        "type": "select",
        "value": "VPN",
        "text": "VPN",
    }


def test_requesters_see_only_their_own_submissions_and_agents_filter_them(
    api_client: APIClient, public_form: CustomForm, agent: User
) -> None:
    ann = UserFactory(username="ann", email="ann@example.com", role=Role.REQUESTER)
    api_client.force_authenticate(ann)
    api_client.post(submit_url(public_form), GOOD, format="json")
    api_client.force_authenticate(None)
    api_client.post(
        submit_url(public_form), {**GOOD, "submitter_email": "bob@example.com"}, format="json"
    )
    Workflow.objects.update(is_default=False)
    api_client.force_authenticate(ann)
    api_client.post(submit_url(public_form), GOOD, format="json")

    mine = api_client.get("/api/forms/submissions/").json()
    assert mine["count"] == 2
    assert {s["submitter_email"] for s in mine["results"]} == {"ann@example.com"}
    assert (
        api_client.post(f"/api/forms/submissions/{mine['results'][0]['id']}/reject/").status_code
        == 403
    )

    api_client.force_authenticate(agent)
    assert api_client.get("/api/forms/submissions/").json()["count"] == 3
    failed = api_client.get("/api/forms/submissions/?status=failed&form=report-an-outage").json()
    assert failed["count"] == 1
    assert api_client.get("/api/forms/submissions/?form=other").json()["count"] == 0
    assert api_client.get("/api/forms/submissions/?status=bogus").status_code == 400


def test_agents_retry_and_reject_failed_submissions(
    api_client: APIClient, public_form: CustomForm, agent: User
) -> None:
    Workflow.objects.update(is_default=False)
    first = api_client.post(submit_url(public_form), GOOD, format="json").json()["id"]
    second = api_client.post(submit_url(public_form), GOOD, format="json").json()["id"]
    api_client.force_authenticate(agent)

    still = api_client.post(f"/api/forms/submissions/{first}/convert/")
    assert still.status_code == 200
    assert still.json()["status"] == "failed"

    Workflow.objects.filter(name="Service desk").update(is_default=True)
    converted = api_client.post(f"/api/forms/submissions/{first}/convert/").json()
    assert converted["status"] == "converted"
    assert converted["ticket"] == Ticket.objects.get().key

    rejected = api_client.post(
        f"/api/forms/submissions/{second}/reject/", {"reason": "Duplicate of the first"}
    ).json()
    assert rejected["status"] == FormSubmissionStatus.REJECTED
    assert rejected["status_reason"] == "Duplicate of the first"
    again = api_client.post(f"/api/forms/submissions/{second}/convert/")
    assert again.status_code == 409
    assert "only received or failed submissions" in again.json()["detail"]


def test_the_submission_list_costs_the_same_queries_whatever_the_page_size(
    api_client: APIClient, public_form: CustomForm, agent: User
) -> None:
    for n in range(6):
        api_client.post(
            submit_url(public_form),
            {**GOOD, "submitter_email": f"user{n}@example.com", "screenshot": png()},
            format="multipart",
        )
    api_client.force_authenticate(agent)

    def queries(page_size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api_client.get(f"/api/forms/submissions/?page_size={page_size}")
        assert len(response.json()["results"]) == page_size
        return len(captured.captured_queries)

    assert queries(2) == queries(6)


def test_the_form_list_costs_the_same_queries_whatever_the_page_size(
    api_client: APIClient, make_form: MakeForm, agent: User
) -> None:
    for n in range(5):
        make_form([field("a"), field("b", FormFieldType.EMAIL)], name=f"Form {n}")
    api_client.force_authenticate(agent)

    def queries(page_size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            api_client.get(f"/api/forms/?page_size={page_size}")
        return len(captured.captured_queries)

    assert queries(1) == queries(5)
