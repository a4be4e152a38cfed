"""A requester's whole story (mail in, portal request, reply, CSAT comment, automation
mail, notifications, edits, deletion) leaves no trace of them in plain in the event log;
shredding their key erases what it holds, and the log still verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from pytest_django.fixtures import Settings

from automation import services as rule_services
from csat import services as csat_services
from csat.models import Survey, SurveyStatus
from email_integration import services as mail_services
from email_integration.models import EmailAccount, EmailMessageStatus, InboundProtocol
from eventlog import sealing
from eventlog.models import EventLog
from eventlog.personal import ERASED, events_about, legacy_events_mentioning, shred
from nixflow import services
from nixflow.models import Role, User
from portal import services as portal_services
from tests.email_integration.messages import mail
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADDRESS = "carol.flow@example.com"
NAME = "Carol Flowerdew"
# A word only Carol ever writes: wherever it shows, her text is in the log.
MARK = "Zebrafinch"


def plain_mentions() -> list[tuple[int, str]]:
    """Events holding Carol's address, name or words in plain, as stored."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id, type FROM eventlog_eventlog
            WHERE payload::text ILIKE ANY(%(needles)s) OR actor_label ILIKE ANY(%(needles)s)
            ORDER BY id
            """,
            {"needles": [f"%{ADDRESS}%", f"%{NAME}%", f"%{MARK}%", "%Flowerdew%"]},
        )
        return cursor.fetchall()


def test_a_requesters_story_leaves_nothing_personal_in_plain_and_shreds_cleanly(
    settings: Settings,
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    boss = UserFactory(username="boss", role=Role.ADMIN, is_staff=True)
    agent = UserFactory(username="agent7", role=Role.AGENT, is_staff=True)
    rule_services.rule_create(
        actor=boss,
        data={
            "name": "Acknowledge",
            "trigger": "ticket_created",
            "actions": [
                {
                    "type": "send_mail",
                    "to": "requester",
                    "subject": "We have {{ ticket.title }}",
                    "body": "Hello {{ requester.name }}, about {{ ticket.title }}.",
                },
                {
                    "type": "send_mail",
                    "to": "address",
                    "address": "ops@example.com",
                    "subject": "Copy: {{ ticket.title }}",
                    "body": "{{ ticket.key }}",
                },
            ],
            "conditions": [],
            "is_active": True,
        },
    )

    # Mail in: a new requester, a new ticket.
    stored = mail_services.messages_store(
        account=account,
        raws=[
            mail(
                sender=f"{NAME} <{ADDRESS}>",
                subject=f"{MARK} printer",
                body=f"My {MARK} printer smokes.",
            )
        ],
    )
    [processed] = mail_services.messages_process(messages=stored)
    assert processed.status == EmailMessageStatus.PROCESSED
    carol = User.objects.get(email=ADDRESS)
    by_mail = processed.ticket
    assert by_mail is not None

    # The portal: a request and a reply.
    ticket = portal_services.portal_request_create(
        requester=carol, subject=f"{MARK} again", description=f"{MARK} still smokes."
    )
    services.comment_create(ticket=ticket, author=agent, body="Looking")
    portal_services.portal_reply(ticket=ticket, requester=carol, body=f"{MARK} thanks")
    # An agent edits the title; an admin deletes the mail ticket.
    services.ticket_update(ticket=ticket, actor=agent, data={"title": f"{MARK} fixed"})
    services.ticket_delete(ticket=by_mail, actor=None, reason="Duplicate")
    # CSAT: a rating with a comment.
    now = timezone.now()
    survey = Survey.objects.create(
        ticket=ticket,
        status=SurveyStatus.SENT,
        resolved_at=now,
        due_at=now,
        sent_at=now,
        closes_at=now + timedelta(days=7),
        requester=carol,
    )
    csat_services.rating_record(
        survey=survey, requester=carol, rating="bad", comment=f"{MARK} was slow"
    )

    types = set(EventLog.objects.values_list("type", flat=True))
    assert {
        "email.received",
        "ticket.created",
        "ticket.commented",
        "ticket.updated",
        "ticket.deleted",
        "automation.mail_requested",
        "csat.rated",
        "user.created",
    } <= types
    assert plain_mentions() == []
    # Yet everything reads back in plain while Carol's key exists.
    requested = EventLog.objects.filter(type="automation.mail_requested").order_by("id").first()
    assert requested is not None
    assert requested.payload["subject"] == f"We have {MARK} printer"
    deleted = EventLog.objects.get(type="ticket.deleted")
    assert deleted.payload["title"] == f"{MARK} printer"
    received = EventLog.objects.get(type="email.received")
    assert received.payload["from"] == ADDRESS
    about = events_about(ADDRESS, actor_ids=[carol.pk])
    assert received in about
    assert legacy_events_mentioning(ADDRESS, also=[NAME]).count() == 0

    sealing.seal_pending()
    assert shred(ADDRESS) == 1

    assert EventLog.objects.get(pk=deleted.pk).payload["title"] == ERASED
    assert EventLog.objects.get(pk=received.pk).payload["from"] == ERASED
    assert sealing.verify()[0] == []
    call_command("verify_eventlog")
