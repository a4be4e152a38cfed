"""Anonymous submissions never borrow an account: an existing account's address makes an
unverified submission that waits, unlinked, until the account's owner confirms through
the link mailed to them (or submits signed in). The link's page says what happened in
every case, expired and altered links included."""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from eventlog import outbox
from eventlog.models import EventLog
from eventlog.subscribers import deliver
from forms_builder import events, services
from forms_builder.models import (
    CustomForm,
    FormSubmission,
    FormSubmissionStatus,
    SubmitterIdentity,
)
from nixflow.models import Role, Ticket, User
from tests.factories import UserFactory
from tests.forms_builder.factories import CustomFormFactory

pytestmark = pytest.mark.django_db

ANSWERS = {"service": "VPN", "impact": "Just me", "details": "No tunnel."}
Capture = Any  # pytest-django's django_capture_on_commit_callbacks


@pytest.fixture
def boss(db: None) -> User:
    return UserFactory(
        username="boss", email="Boss@Example.com", role=Role.ADMIN, is_superuser=True
    )


def submit_anonymously(form: CustomForm, email: str) -> FormSubmission:
    return services.submission_create(
        form=form,
        data=ANSWERS,
        submitter=None,
        submitter_email=email,
        site="https://desk.example.com/",
    )


def send_confirmation_mail(submission: FormSubmission, capture: Capture) -> list[mail.EmailMessage]:
    """Deliver the submission's confirmation request and run what it queued, as the
    relay and a worker would; the mail sent."""
    event = EventLog.objects.get(
        type=events.FORM_CONFIRMATION_REQUESTED, subject_id=str(submission.pk)
    )
    with capture(execute=True):
        deliver(event)
    outbox.run_inline()  # the mail queued in the outbox, sent as a worker would
    return list(mail.outbox)


def link_in(message: mail.EmailMessage) -> str:
    found = re.search(r"https://desk\.example\.com(/forms/confirm/[^/\s]+/)", str(message.body))
    assert found is not None, message.body
    return found.group(1)


def test_a_superusers_address_makes_an_unverified_submission_linked_to_nobody(
    public_form: CustomForm, boss: User, django_capture_on_commit_callbacks: Capture
) -> None:
    submission = submit_anonymously(public_form, "boss@example.COM")

    assert submission.status == FormSubmissionStatus.AWAITING_CONFIRMATION
    assert submission.identity == SubmitterIdentity.UNVERIFIED
    assert not submission.verified
    assert submission.submitter is None
    assert submission.ticket is None
    assert not Ticket.objects.exists()
    assert list(
        EventLog.objects.filter(subject_model="formsubmission")
        .order_by("id")
        .values_list("type", flat=True)
    ) == [events.FORM_SUBMITTED, events.FORM_CONFIRMATION_REQUESTED]
    requested = EventLog.objects.get(type=events.FORM_CONFIRMATION_REQUESTED)
    assert requested.payload["user_id"] == boss.pk
    assert "token" not in str(requested.payload)  # the link is a credential: not stored

    sent = send_confirmation_mail(submission, django_capture_on_commit_callbacks)

    assert len(sent) == 1
    assert sent[0].to == ["Boss@Example.com"]
    assert sent[0].subject == "Please confirm your request: Report an outage"
    assert "nothing has been filed in your name" in str(sent[0].body)
    submission.refresh_from_db()
    assert submission.submitter is None  # mailing changes nothing


def test_the_mailed_link_links_the_submission_and_opens_the_ticket_in_the_accounts_name(
    client: Client,
    public_form: CustomForm,
    boss: User,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    submission = submit_anonymously(public_form, "boss@example.com")
    link = link_in(send_confirmation_mail(submission, django_capture_on_commit_callbacks)[0])

    page = client.get(link)  # what a mail scanner fetching links would do
    assert page.status_code == 200
    assert "Yes, I sent this" in page.content.decode()
    assert "No tunnel." in page.content.decode()
    submission.refresh_from_db()
    assert submission.submitter is None  # looking is not confirming

    done = client.post(link)

    assert done.status_code == 200
    submission.refresh_from_db()
    assert submission.submitter == boss
    assert submission.identity == SubmitterIdentity.CONFIRMED
    assert submission.verified
    assert submission.confirmed_at is not None
    assert submission.status == FormSubmissionStatus.CONVERTED
    ticket = submission.ticket
    assert ticket is not None
    assert ticket.requester == boss
    assert f'Your reference: <strong class="ticket-key">{ticket.key}</strong>' in (
        done.content.decode()
    )
    confirmed = EventLog.objects.get(type=events.FORM_CONFIRMED)
    assert confirmed.actor == boss

    again = client.post(link)

    assert again.status_code == 200
    assert "Already confirmed" in again.content.decode()
    assert Ticket.objects.count() == 1
    assert EventLog.objects.filter(type=events.FORM_CONFIRMED).count() == 1


def test_a_deactivated_account_is_never_mailed_nor_linked(
    client: Client,
    public_form: CustomForm,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    gone = UserFactory(username="gone", email="gone@example.com", is_active=False)
    submission = submit_anonymously(public_form, "gone@example.com")

    assert send_confirmation_mail(submission, django_capture_on_commit_callbacks) == []
    token = services.confirmation_token(submission=submission, user=gone)
    page = client.post(reverse("forms_builder:confirm", args=[token]))

    assert page.status_code == 403
    assert "The account with this e-mail address is deactivated" in page.content.decode()
    submission.refresh_from_db()
    assert submission.submitter is None
    assert submission.identity == SubmitterIdentity.UNVERIFIED
    assert not Ticket.objects.exists()


def test_an_account_deactivated_after_the_mail_is_not_linked_either(
    client: Client,
    public_form: CustomForm,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    ann = UserFactory(username="ann", email="ann@example.com")
    submission = submit_anonymously(public_form, "ann@example.com")
    link = link_in(send_confirmation_mail(submission, django_capture_on_commit_callbacks)[0])
    User.objects.filter(pk=ann.pk).update(is_active=False)

    page = client.post(link)

    assert page.status_code == 403
    assert "deactivated" in page.content.decode()
    submission.refresh_from_db()
    assert submission.submitter is None


def test_an_expired_link_says_so_and_links_nothing(
    client: Client,
    public_form: CustomForm,
    boss: User,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    submission = submit_anonymously(public_form, "boss@example.com")
    link = link_in(send_confirmation_mail(submission, django_capture_on_commit_callbacks)[0])

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        looked = client.get(link)
        page = client.post(link)

    for response in (looked, page):
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
    submission.refresh_from_db()
    assert submission.submitter is None
    assert submission.status == FormSubmissionStatus.AWAITING_CONFIRMATION


@pytest.mark.parametrize(
    "token", ["nonsense", "1:2:3:4", "x" * 300, "%00", "1:1:1oAbCd:forged-signature"]
)
def test_an_altered_or_made_up_link_gets_a_clear_page(client: Client, token: str) -> None:
    for method in (client.get, client.post):
        response = method(f"/forms/confirm/{token}/")
        assert response.status_code == 404
        assert "This link is not valid" in response.content.decode()


def test_a_link_for_one_submission_cannot_confirm_another(
    client: Client, public_form: CustomForm, boss: User
) -> None:
    mine = submit_anonymously(public_form, "boss@example.com")
    other = submit_anonymously(public_form, "boss@example.com")
    token = services.confirmation_token(submission=mine, user=boss)
    forged = token.replace(f"{mine.pk}:", f"{other.pk}:", 1)

    assert client.post(reverse("forms_builder:confirm", args=[forged])).status_code == 404
    other.refresh_from_db()
    assert other.submitter is None


def test_a_submission_staff_rejected_cannot_be_confirmed(
    client: Client, public_form: CustomForm, boss: User, agent: User
) -> None:
    submission = submit_anonymously(public_form, "boss@example.com")
    services.submission_reject(submission=submission, actor=agent, reason="Not from Boss")
    token = services.confirmation_token(submission=submission, user=boss)

    page = client.post(reverse("forms_builder:confirm", args=[token]))

    assert page.status_code == 410
    assert "This request is closed" in page.content.decode()
    submission.refresh_from_db()
    assert submission.submitter is None
    assert submission.status == FormSubmissionStatus.REJECTED


def test_staff_cannot_convert_an_unconfirmed_submission_into_someones_ticket(
    public_form: CustomForm, boss: User, agent: User
) -> None:
    submission = submit_anonymously(public_form, "boss@example.com")
    with pytest.raises(ValidationError, match="only received or failed"):
        services.submission_convert(submission=submission, actor=agent)
    assert not Ticket.objects.exists()


def test_a_signed_in_submitter_is_verified_at_once(client: Client, public_form: CustomForm) -> None:
    ann = UserFactory(username="ann", email="ann@example.com")
    client.force_login(ann)

    response = client.post(reverse("forms_builder:form", args=[public_form.slug]), ANSWERS)

    assert response.status_code == 302
    submission = FormSubmission.objects.get()
    assert submission.identity == SubmitterIdentity.SIGNED_IN
    assert submission.verified
    assert submission.submitter == ann
    assert submission.ticket is not None
    assert submission.ticket.requester == ann
    assert not EventLog.objects.filter(type=events.FORM_CONFIRMATION_REQUESTED).exists()


def test_a_new_address_gets_a_new_requester_and_its_ticket_as_before(
    public_form: CustomForm,
) -> None:
    submission = submit_anonymously(public_form, "new.person@example.com")

    assert submission.identity == SubmitterIdentity.NEW_ADDRESS
    assert submission.status == FormSubmissionStatus.CONVERTED
    assert submission.submitter is not None
    assert submission.submitter.email == "new.person@example.com"


def test_an_address_that_became_an_accounts_before_a_retry_is_not_borrowed(
    public_form: CustomForm, agent: User
) -> None:
    from nixflow.models import Workflow

    default = Workflow.objects.get(is_default=True)
    Workflow.objects.update(is_default=False)
    failed = submit_anonymously(public_form, "late@example.com")
    assert failed.status == FormSubmissionStatus.FAILED
    UserFactory(username="late", email="late@example.com")  # e.g. by mail intake
    Workflow.objects.filter(pk=default.pk).update(is_default=True)

    retried = services.submission_convert(submission=failed, actor=agent)

    assert retried.status == FormSubmissionStatus.FAILED
    assert "not linked to it unless its owner confirms" in retried.status_reason
    assert retried.submitter is None
    assert not Ticket.objects.exists()


def test_the_page_tells_an_anonymous_submitter_to_confirm_by_mail(
    client: Client, public_form: CustomForm, boss: User
) -> None:
    url = reverse("forms_builder:form", args=[public_form.slug])
    response = client.post(url, {**ANSWERS, "submitter_email": "boss@example.com"}, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert "we have sent a message to the address you gave" in html
    assert "Your reference" not in html
    submission = FormSubmission.objects.get()
    assert submission.submitter is None
    requested = EventLog.objects.get(type=events.FORM_CONFIRMATION_REQUESTED)
    assert requested.payload["site"] == "http://testserver/"


def test_the_api_answers_202_awaiting_and_shows_staff_who_is_unverified(
    api_client: APIClient, public_form: CustomForm, boss: User, agent: User
) -> None:
    response = api_client.post(
        f"/api/forms/{public_form.slug}/submit/",
        {**ANSWERS, "submitter_email": "boss@example.com"},
        format="json",
    )
    assert response.status_code == 202
    assert response.json()["status"] == "awaiting"
    assert response.json()["ticket"] is None
    api_client.post(
        f"/api/forms/{public_form.slug}/submit/",
        {**ANSWERS, "submitter_email": "someone.new@example.com"},
        format="json",
    )

    api_client.force_authenticate(agent)
    listed = api_client.get("/api/forms/submissions/").json()["results"]
    by_email = {item["submitter_email"]: item for item in listed}
    assert by_email["boss@example.com"]["identity"] == "unverified"
    assert by_email["boss@example.com"]["verified"] is False
    assert by_email["boss@example.com"]["submitter"] is None
    assert by_email["someone.new@example.com"]["identity"] == "new_address"
    unverified = api_client.get("/api/forms/submissions/?identity=unverified").json()
    assert [item["submitter_email"] for item in unverified["results"]] == ["boss@example.com"]

    ann = UserFactory(username="ann", email="ann@example.com", role=Role.REQUESTER)
    api_client.force_authenticate(None)
    api_client.post(
        f"/api/forms/{public_form.slug}/submit/",
        {**ANSWERS, "submitter_email": "ann@example.com"},
        format="json",
    )
    api_client.force_authenticate(ann)  # the account sees nothing it didn't confirm
    assert api_client.get("/api/forms/submissions/").json()["count"] == 0


def test_the_admin_list_shows_and_filters_unverified_submissions(
    client: Client, public_form: CustomForm, boss: User, agent: User
) -> None:
    submit_anonymously(public_form, "boss@example.com")
    submit_anonymously(public_form, "someone.new@example.com")
    client.force_login(agent)
    url = reverse("admin:forms_builder_formsubmission_changelist")

    everything = client.get(url)
    only = client.get(url + "?identity__exact=unverified")

    assert "Unverified: an existing account&#x27;s address" in everything.content.decode()
    assert "New address (a requester was created)" in everything.content.decode()
    assert everything.context["cl"].result_count == 2
    assert only.context["cl"].result_count == 1
    assert only.context["cl"].result_list[0].submitter_email == "boss@example.com"


def test_a_form_name_with_a_line_break_still_gets_its_confirmation_mail(
    boss: User, django_capture_on_commit_callbacks: Capture
) -> None:
    form = CustomFormFactory(name="Report\r\nan outage", slug="outage-two")
    submission = services.submission_create(
        form=form, data={"name": "Bo"}, submitter=None, submitter_email="boss@example.com"
    )

    sent = send_confirmation_mail(submission, django_capture_on_commit_callbacks)

    assert [m.subject for m in sent] == ["Please confirm your request: Report an outage"]
    assert "http://localhost:8000/forms/confirm/" in str(sent[0].body)  # no site given


def test_a_confirmation_whose_ticket_never_opened_opens_it_on_the_next_click(
    client: Client, public_form: CustomForm, boss: User
) -> None:
    submission = submit_anonymously(public_form, "boss@example.com")
    token = services.confirmation_token(submission=submission, user=boss)
    crash = RuntimeError("the web worker was killed")
    target = "forms_builder.services.confirmation.convert_open_submission"
    with mock.patch(target, side_effect=crash), pytest.raises(RuntimeError):
        services.submission_confirm(token=token)
    submission.refresh_from_db()
    assert submission.identity == SubmitterIdentity.CONFIRMED
    assert submission.ticket is None

    page = client.post(reverse("forms_builder:confirm", args=[token]))

    assert page.status_code == 200
    submission.refresh_from_db()
    assert submission.ticket is not None
    assert submission.ticket.requester == boss
    assert f'<strong class="ticket-key">{submission.ticket.key}</strong>' in (page.content.decode())
    assert EventLog.objects.filter(type=events.FORM_CONFIRMED).count() == 1


def test_a_mail_server_that_fails_is_tried_again_until_the_link_goes_out(
    public_form: CustomForm, boss: User, django_capture_on_commit_callbacks: Capture
) -> None:
    submission = submit_anonymously(public_form, "boss@example.com")
    refused = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    with mock.patch(
        "forms_builder.notifications.send_mail", side_effect=[refused, refused, 1]
    ) as server:
        send_confirmation_mail(submission, django_capture_on_commit_callbacks)

    assert server.call_count == 3
    subjects_and_recipients = {(c.args[0], tuple(c.args[3])) for c in server.call_args_list}
    assert subjects_and_recipients == {
        ("Please confirm your request: Report an outage", ("Boss@Example.com",))
    }


def test_a_confirmation_mail_that_never_goes_out_is_shown_to_staff_who_send_it_again(
    public_form: CustomForm,
    boss: User,
    agent: User,
    agent_client: Client,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    submission = submit_anonymously(public_form, "boss@example.com")
    refused = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    with mock.patch("forms_builder.notifications.send_mail", side_effect=refused) as server:
        assert send_confirmation_mail(submission, django_capture_on_commit_callbacks) == []
    assert server.call_count == 11  # the first try and ten retries, then given up

    submission.refresh_from_db()
    assert submission.status == FormSubmissionStatus.AWAITING_CONFIRMATION
    assert submission.status_reason == (
        "The confirmation mail could not be sent (11 attempts): "
        "SMTPServerDisconnected: Connection unexpectedly closed"
    )
    failed = EventLog.objects.get(type=events.FORM_CONFIRMATION_MAIL_FAILED)
    assert (failed.payload["user_id"], failed.payload["attempts"]) == (boss.pk, 11)

    changelist = reverse("admin:forms_builder_formsubmission_changelist")
    page = agent_client.post(
        changelist,
        {"action": "resend_confirmation", "_selected_action": [submission.pk]},
        follow=True,
    )
    assert "Confirmation mail queued for 1 submission." in page.content.decode()
    submission.refresh_from_db()
    assert submission.status_reason == ""
    again = EventLog.objects.filter(type=events.FORM_CONFIRMATION_REQUESTED).order_by("-id")[0]
    assert again.actor_id == agent.pk

    with django_capture_on_commit_callbacks(execute=True):
        deliver(again)
    outbox.run_inline()
    (sent,) = mail.outbox
    assert sent.to == ["Boss@Example.com"]
    assert "http://testserver/forms/confirm/" in str(sent.body)  # the link, this time


def test_only_a_submission_still_awaiting_an_active_account_gets_its_mail_again(
    public_form: CustomForm, boss: User, agent: User
) -> None:
    submission = submit_anonymously(public_form, "boss@example.com")
    User.objects.filter(pk=boss.pk).update(is_active=False)
    with pytest.raises(ValidationError, match="No active account has the address"):
        services.confirmation_mail_resend(submission=submission, actor=agent, site="")

    services.submission_reject(submission=submission, actor=agent)
    with pytest.raises(ValidationError, match="does not await confirmation"):
        services.confirmation_mail_resend(submission=submission, actor=agent, site="")
