"""The published form as an HTML page at /forms/<slug>/: who reaches it, how it renders,
errors per field, CSRF, the anonymous rate limit, and the ticket at the end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from forms_builder.models import CustomForm, FormStatus, FormSubmission, FormSubmissionStatus
from forms_builder.throttling import FormSubmitAnonThrottle
from nixflow.models import Attachment, Role, Ticket, Workflow
from tests.factories import UserFactory
from tests.forms_builder.conftest import MakeForm, pdf, png, stored_files

pytestmark = pytest.mark.django_db

GOOD = {
    "submitter_email": "ann@example.com",
    "service": "VPN",
    "impact": "Everyone",
    "affected": "40",
    "details": "Nobody can connect.",
}


def url(form: CustomForm) -> str:
    return reverse("forms_builder:form", args=[form.slug])


def test_the_page_labels_every_field_and_works_without_javascript(
    client: Client, public_form: CustomForm
) -> None:
    response = client.get(url(public_form))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<form method="post" action="/forms/report-an-outage/" data-nf-form novalidate' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    # Every input has a label pointing at it; groups have a legend.
    for input_id in ("id_submitter_email", "id_service", "id_affected", "id_details"):
        assert f'<label for="{input_id}">' in html
        assert f'id="{input_id}"' in html
    assert "<legend>Who is affected? <span" in html
    assert '<label for="id_impact_1">Everyone</label>' in html
    # A conditional field is there, with its condition in words for pages without script.
    assert "Answer this only if “Who is affected?” is “Everyone”." in html
    assert 'data-visible-when-field="impact" data-visible-when-value="Everyone"' in html
    assert 'accept=".png,.pdf"' in html
    assert "At most 1000 bytes; .png, .pdf." in html
    assert 'inputmode="decimal"' in html  # numbers are typed as text, checked by the server


@pytest.mark.parametrize("status", [FormStatus.DRAFT, FormStatus.ARCHIVED])
def test_drafts_and_archived_forms_are_not_found(
    client: Client, make_form: MakeForm, status: FormStatus
) -> None:
    form = make_form(status=status, login_required=False)
    assert client.get(url(form)).status_code == 404
    assert client.post(url(form), {"name": "Ann"}).status_code == 404
    assert client.get(reverse("forms_builder:done", args=[form.slug])).status_code == 404
    assert client.get("/forms/no-such-form/").status_code == 404
    assert not FormSubmission.objects.exists()


def test_a_login_required_form_sends_visitors_to_sign_in_first(
    client: Client, make_form: MakeForm
) -> None:
    form = make_form(login_required=True)
    response = client.get(url(form))
    assert response.status_code == 302
    assert response["Location"] == f"/forms/login/?next=/forms/{form.slug}/"
    response = client.post(url(form), {"name": "Ann"})
    assert response.status_code == 302
    assert not FormSubmission.objects.exists()

    UserFactory(username="ann", role=Role.REQUESTER)
    signed_in = client.post(
        response["Location"],
        {"username": "ann", "password": "correct horse battery staple"},
    )
    assert signed_in.status_code == 302
    assert signed_in["Location"] == f"/forms/{form.slug}/"
    page = client.get(url(form))
    assert page.status_code == 200
    assert 'name="submitter_email"' not in page.content.decode()  # they are known


def test_a_signed_in_requester_submits_as_themselves(client: Client, make_form: MakeForm) -> None:
    form = make_form(login_required=True)
    ann = UserFactory(username="ann", role=Role.REQUESTER)
    client.force_login(ann)

    response = client.post(url(form), {"name": "Ann Smith", "submitter_email": "x@example.com"})

    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert ticket.requester == ann
    assert FormSubmission.objects.get().submitter_email == ann.email


def test_bad_values_come_back_with_a_message_on_each_field(
    client: Client, public_form: CustomForm, media: Path
) -> None:
    response = client.post(
        url(public_form),
        {
            **GOOD,
            "submitter_email": "ann",
            "affected": "<script>alert(1)</script>",
            "details": "",
            "screenshot": pdf("huge.pdf", size=2000),
        },
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Error: Report an outage · NixFlow</title>" in html
    assert 'role="alert"' in html
    summary = [
        '<a href="#id_submitter_email">Your e-mail address: Enter a valid e-mail address',
        '<a href="#id_affected">How many people?: Enter a number.</a>',
        '<a href="#id_details">What happens?: This field is required.</a>',
        (
            '<a href="#id_screenshot">Screenshot: huge.pdf is 2 KB; files here can be at most '
            "1000 bytes.</a>"
        ),
    ]
    for item in summary:
        assert item in html
    assert (
        '<p class="error-message" id="id_affected-error"><span class="visually-hidden">Error:'
        "</span> Enter a number.</p>"
    ) in html
    assert re.search(
        r'id="id_affected"[^>]*aria-invalid="true"[^>]*aria-describedby="[^"]*'
        r'id_affected-error"',
        html,
    )
    # What was typed comes back, escaped; the choices keep their state.
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert "<script>alert(1)</script>" not in html
    assert 'value="Everyone" checked' in html
    assert '<option value="VPN" selected>' in html
    assert not FormSubmission.objects.exists()
    assert stored_files(media) == []


def test_a_good_submission_opens_a_ticket_and_says_so(
    client: Client, public_form: CustomForm
) -> None:
    response = client.post(url(public_form), {**GOOD, "screenshot": png("error.png")})

    assert response.status_code == 302
    assert response["Location"] == f"/forms/{public_form.slug}/done/"
    ticket = Ticket.objects.get()
    assert ticket.title == "Outage: VPN (Everyone)"
    assert ticket.requester.email == "ann@example.com"
    assert Attachment.objects.get(comment__ticket=ticket).filename == "error.png"
    submission = FormSubmission.objects.get()
    assert submission.ip_address == "127.0.0.1"

    done = client.get(response["Location"])
    assert done.status_code == 200
    assert "Thank you. We have received your request." in done.content.decode()
    assert f'<strong class="ticket-key">{ticket.key}</strong>' in done.content.decode()
    # Another browser sees the message, not someone else's reference.
    other = Client().get(response["Location"])
    assert ticket.key not in other.content.decode()


def test_a_hidden_conditional_answer_is_dropped_not_refused(
    client: Client, public_form: CustomForm
) -> None:
    response = client.post(url(public_form), {**GOOD, "impact": "Just me", "affected": "lots"})
    assert response.status_code == 302
    assert "affected" not in FormSubmission.objects.get().data


def test_posts_without_the_csrf_token_are_refused(public_form: CustomForm) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(url(public_form), GOOD)
    assert response.status_code == 403
    assert not FormSubmission.objects.exists()


def test_anonymous_posts_are_rate_limited_per_address(
    client: Client, public_form: CustomForm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FormSubmitAnonThrottle, "rate", "2/hour")
    assert client.post(url(public_form), GOOD).status_code == 302
    assert client.post(url(public_form), {**GOOD, "service": "nope"}).status_code == 200

    response = client.post(url(public_form), GOOD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many forms were sent from your address" in response.content.decode()
    assert FormSubmission.objects.count() == 1
    # Signed-in users are not limited.
    client.force_login(UserFactory(username="bob", role=Role.REQUESTER))
    assert client.post(url(public_form), GOOD).status_code == 302


def test_a_filled_honeypot_looks_like_success_and_stores_nothing(
    client: Client, public_form: CustomForm
) -> None:
    response = client.post(url(public_form), {**GOOD, "nf-website": "http://spam.example"})
    assert response.status_code == 302
    assert not FormSubmission.objects.exists()


def test_when_no_ticket_can_be_opened_the_page_says_the_answers_were_kept(
    client: Client, public_form: CustomForm
) -> None:
    Workflow.objects.update(is_default=False)

    response = client.post(url(public_form), GOOD, follow=True)

    assert response.status_code == 200
    assert "could not open a ticket for them yet" in response.content.decode()
    assert FormSubmission.objects.get().status == FormSubmissionStatus.FAILED
    assert not Ticket.objects.exists()


def test_the_index_lists_published_forms_only(client: Client, make_form: MakeForm) -> None:
    make_form(name="Open form")
    make_form(name="Secret draft", status=FormStatus.DRAFT)
    html = client.get("/forms/").content.decode()
    assert "Open form" in html
    assert "Secret draft" not in html
