"""A realistic data subject: everything a requester leaves on the desk, made through the
desk's own services and pipelines (mail in, portal, forms, replies, CSAT, help center,
automation mail, webhooks, sign-in attempts)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from automation import services as rule_services
from automation.models import Trigger
from csat.models import Survey, SurveyStatus
from csat.services import rating_record
from email_integration.models import EmailAccount, EmailMessage, InboundProtocol
from email_integration.services import message_process, message_store
from eventlog import outbox
from forms_builder.models import FormFieldType
from forms_builder.services import submissions
from nixflow.models import Role, Ticket, User
from nixflow.services.replies import ticket_reply
from portal import services as portal
from tests.email_integration.messages import mail
from tests.factories import UserFactory
from tests.forms_builder.factories import PNG, CustomFormFactory, field
from tests.support.s3 import Bucket, object_storage, s3_server
from webhooks import receivers
from webhooks import services as webhooks

NAME = "Zelda Quartermain"
EMAIL = "zelda.quartermain@example.org"
# A string only the person ever wrote: found in their mail, files, answers and comments.
MARKER = "plover7731xyzzy"

__all__ = ["object_storage", "s3_server"]  # shared fixtures, used by name


@dataclass
class World:
    person: User
    agent: User
    admin: User
    mailed: Ticket
    requested: Ticket
    formed: Ticket


@pytest.fixture
def media(settings: Settings, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def _outside_world(settings: Settings) -> Iterator[None]:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    receivers.forget_endpoints()
    yield
    receivers.forget_endpoints()


def png(name: str) -> SimpleUploadedFile:
    # A valid PNG with the marker after its end: the file holds the person's data.
    return SimpleUploadedFile(name, PNG + MARKER.encode(), content_type="image/png")


@pytest.fixture
def world(media: Path, _outside_world: None, transactional_db: None) -> World:
    return build_world()


@pytest.fixture
def world_on_s3(object_storage: Bucket, _outside_world: None, transactional_db: None) -> World:
    """The same person, with every file in an S3 bucket (moto's server)."""
    return build_world()


def build_world() -> World:
    agent = UserFactory(username="agent", email="agent@desk.test", role=Role.AGENT)
    admin = UserFactory(username="boss", email="boss@desk.test", role=Role.ADMIN)
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    # Rendered mail to the requester, with their name in it.
    rule_services.rule_create(
        actor=admin,
        data={
            "name": "Greet",
            "trigger": Trigger.TICKET_CREATED,
            "conditions": [],
            "is_active": True,
            "actions": [
                {
                    "type": "send_mail",
                    "to": "requester",
                    "subject": "About {{ ticket.title }}",
                    "body": "Hello {{ requester.name }} <{{ requester.email }}> {{ ticket.title }}",
                }
            ],
        },
    )
    # Deliveries of every event to a receiver that is not there (they fail and keep
    # the receiver's error).
    webhooks.endpoint_create(
        actor=admin,
        data={"name": "CRM", "url": "http://127.0.0.1:9/hook", "event_types": ["*"]},
    )

    # 1. Mail in, with an attachment, through the pipeline.
    raw = mail(
        sender=f"{NAME} <{EMAIL}>",
        subject=f"Printer smokes {MARKER}",
        body=f"My printer smokes since {MARKER}.\n\nRegards,\n{NAME}",
        attachments=[("zelda-quartermain-printer.png", PNG + MARKER.encode(), "image/png")],
    )
    message, _ = message_store(account=account, raw=raw)
    message = message_process(message=message)
    mailed = message.ticket
    assert mailed is not None, message.error_reason or message.status
    person = mailed.requester
    assert person.email == EMAIL
    User.objects.filter(pk=person.pk).update(first_name="Zelda", last_name="Quartermain")
    person.refresh_from_db()

    # 2. A portal request, and the portal's search before it.
    requested = portal.portal_request_create(
        requester=person,
        subject=f"Badge lost {MARKER}",
        description=f"I lost my badge. {MARKER}",
        files=[png("badge.png")],
    )

    # 3. Replies: the agent names the person; the person answers with a file.
    ticket_reply(
        ticket=mailed,
        author=agent,
        body=f"Hello {NAME}, we will send a technician to {EMAIL}'s desk.",
        is_internal=False,
    )
    ticket_reply(
        ticket=mailed,
        author=agent,
        body="Zelda says it is urgent; Quartermain's floor.",
        is_internal=True,
    )
    portal.portal_reply(
        ticket=mailed,
        requester=person,
        body=f"Thanks, the smell is {MARKER}.",
        files=[png("smell.png")],
        confirmed=True,
    )

    # 4. A form submission with a file, signed in.
    form = CustomFormFactory(
        name="Report an outage",
        fields=[
            field("details", FormFieldType.TEXTAREA, label="What happens?", required=True),
            field(
                "screenshot",
                FormFieldType.FILE,
                label="Screenshot",
                allowed_file_types="png",
                max_file_size=10_000,
            ),
        ],
        title_template="Outage",
        description_field="details",
    )
    submission = submissions.submission_create(
        form=form,
        data={"details": f"The VPN is down, {MARKER}."},
        files={"screenshot": [png("vpn.png")]},
        submitter=person,
        ip_address="198.51.100.7",
    )
    formed = submission.ticket
    assert formed is not None, submission.status_reason

    # 5. A satisfaction rating with a comment.
    moment = timezone.now()
    survey = Survey.objects.create(
        ticket=mailed,
        status=SurveyStatus.SENT,
        agent=agent,
        resolved_at=moment,
        due_at=moment,
        sent_at=moment,
        closes_at=moment + timedelta(days=7),
        requester=person,
    )
    rating_record(survey=survey, requester=person, rating="bad", comment=f"Slow. {MARKER}")

    # 6. Help-center searches while signed in, and a failed sign-in with the address.
    client = Client()
    client.force_login(person)
    for query in (f"printer {MARKER}", "reset password"):
        assert client.get("/help/search/", {"q": query}).status_code == 200
    Client().post("/admin/login/", {"username": EMAIL, "password": "wrong"})

    # 7. Mail out (acknowledgements, the rule's greeting, the agent's reply), webhooks.
    outbox.run_inline()
    assert EmailMessage.objects.filter(to_addresses__contains=[EMAIL]).exists()
    return World(
        person=person, agent=agent, admin=admin, mailed=mailed, requested=requested, formed=formed
    )


def storage_files(directory: str = "") -> Iterator[str]:
    """Every file of the default storage, walked through the storage API (S3 alike)."""
    directories, files = default_storage.listdir(directory)
    for name in files:
        yield f"{directory}/{name}" if directory else name
    for sub in directories:
        yield from storage_files(f"{directory}/{sub}" if directory else sub)
