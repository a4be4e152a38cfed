"""Every mail the desk sends is written in its recipient's language (``User.language``,
else the desk's LANGUAGE_CODE), whoever caused it, with dates in the recipient's time
zone: the acknowledgement, replies, agents' notifications, the team's notice, the form
confirmation mail and the SLA breach mail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.utils import translation
from pytest_django.fixtures import Settings

from email_integration.models import EmailAccount, EmailMessage
from email_integration.outbound import notification_sentence
from eventlog import outbox
from eventlog.models import EventLog
from forms_builder.notifications import confirmation_mail
from nixflow import services as core_services
from nixflow.models import Role, User
from nixflow.toolkit.language import language_for, local_datetime, user_set_language
from sla import events as sla_events
from sla.notifications import notify_breach
from tests.factories import TeamFactory, UserFactory
from tests.forms_builder.factories import CustomFormFactory, FormSubmissionFactory
from tests.helpers import new_ticket
from tests.sla.factories import SLABreachFactory

pytestmark = pytest.mark.django_db


def mail_to(address: str) -> list[EmailMessage]:
    return list(
        EmailMessage.objects.filter(message_type="outbound", to_addresses=[address]).order_by("id")
    )


@pytest.fixture
def anna(db: None) -> User:
    """A requester who reads German."""
    return UserFactory(username="anna", email="anna@example.de", language="de")


@pytest.fixture
def carol(db: None) -> User:
    """A requester who chose no language: the desk's (English)."""
    return UserFactory(username="carol", email="carol@example.com")


@pytest.fixture
def agent(db: None) -> User:
    return UserFactory(username="bob", email="bob@desk.test", role=Role.AGENT, language="de")


def test_a_german_requester_gets_the_acknowledgement_in_german_with_the_portal_link(
    account: EmailAccount, anna: User
) -> None:
    ticket = new_ticket(anna, title="Drucker brennt")
    outbox.run_inline()
    [ack] = mail_to("anna@example.de")
    assert ack.subject == f"[{ticket.key}] Anfrage eingegangen: Drucker brennt"
    assert ack.text_body.startswith("Hallo anna,\n\nwir haben Ihre Anfrage erhalten")
    assert f"das Ticket {ticket.key} eröffnet" in ack.text_body
    assert "Ihre Anfragen im Web verfolgen: http://localhost:8000/portal/" in ack.text_body
    assert b"\nContent-Language: de\n" in bytes(ack.raw)


def test_an_english_requester_gets_it_in_english_whatever_the_agents_language(
    account: EmailAccount, carol: User, agent: User
) -> None:
    ticket = core_services.ticket_create(requester=carol, title="Printer on fire", actor=agent)
    outbox.run_inline()
    [ack] = mail_to("carol@example.com")
    assert ack.subject == f"[{ticket.key}] Request received: Printer on fire"
    assert "we received your request and opened ticket" in ack.text_body
    assert "Follow your requests on the web: http://localhost:8000/portal/" in ack.text_body
    assert b"\nContent-Language: en\n" in bytes(ack.raw)


def test_an_agents_reply_reaches_each_reader_in_their_own_language(
    account: EmailAccount, anna: User, carol: User, agent: User
) -> None:
    ticket = new_ticket(anna, title="VPN")
    core_services.ticket_watch(ticket=ticket, user=carol, actor=agent)
    core_services.comment_create(ticket=ticket, author=agent, body="Wir sind dran.")
    outbox.run_inline()
    german = mail_to("anna@example.de")[-1]
    english = mail_to("carol@example.com")[-1]
    assert german.subject == f"AW: [{ticket.key}] VPN"
    assert german.text_body == "bob schrieb:\n\nWir sind dran.\n"
    assert english.subject == f"Re: [{ticket.key}] VPN"
    assert english.text_body == "bob wrote:\n\nWir sind dran.\n"


def test_the_language_chosen_later_is_the_one_the_next_mail_uses(
    account: EmailAccount, carol: User, agent: User
) -> None:
    user_set_language(user=carol, language="de", actor=carol)
    new_ticket(carol, title="Hilfe")
    outbox.run_inline()
    assert mail_to("carol@example.com")[-1].text_body.startswith("Hallo carol,")
    updated = EventLog.objects.filter(type="user.updated", subject_id=str(carol.pk)).last()
    assert updated is not None
    assert updated.payload["changes"] == {"language": ["", "de"]}


def test_an_agents_notification_mail_is_in_the_agents_language(
    account: EmailAccount, carol: User, agent: User
) -> None:
    alice = UserFactory(username="alice", role=Role.AGENT)
    ticket = new_ticket(carol, title="Printer on fire")
    core_services.ticket_assign(ticket=ticket, assignee=agent, actor=alice)
    outbox.run_inline()
    [told] = mail_to("bob@desk.test")
    assert told.subject == f"AW: [{ticket.key}] Printer on fire"
    assert told.text_body.startswith(f"Hallo bob,\n\nalice hat Ihnen {ticket.key} zugewiesen.")
    assert "als Ihr öffentlicher Kommentar" in told.text_body
    # The event keeps the English sentence and what it was made of.
    created = EventLog.objects.get(type="notification.created")
    assert created.payload["text"] == f"alice assigned {ticket.key} to you"
    assert created.payload["message"] == {
        "text": "%(who)s assigned %(key)s to you",
        "params": {"who": "alice", "key": ticket.key},
        "dates": [],
    }


def test_a_teams_address_gets_the_desks_language(
    account: EmailAccount, carol: User, settings: Settings
) -> None:
    settings.LANGUAGE_CODE = "de"
    TeamFactory(name="Support", is_default=True, email="support@corp.test")
    ticket = new_ticket(carol, title="VPN")
    outbox.run_inline()
    [notice] = mail_to("support@corp.test")
    assert notice.text_body.startswith(
        f"Hallo Support,\n\nNeues Ticket {ticket.key} in Support, nicht zugewiesen."
    )
    # The requester chose nothing: the desk's language for her too.
    assert mail_to("carol@example.com")[0].text_body.startswith("Hallo carol,")


def test_an_old_notification_event_without_its_message_is_mailed_in_its_english_text() -> None:
    with translation.override("de"):
        assert notification_sentence({"text": "alice assigned NF-1 to you"}, None) == (
            "alice assigned NF-1 to you"
        )
        broken = {"text": "fallback", "message": {"text": "%(nobody)s", "params": {}}}
        assert notification_sentence(broken, None) == "fallback"


def test_a_due_date_in_a_notification_is_shown_in_the_readers_zone_and_language() -> None:
    reader = User(username="bob", language="de", time_zone="Europe/Berlin")
    payload = {
        "text": "The resolution clock on NF-7 is at risk: due 2026-12-07 13:00 UTC",
        "message": {
            "text": "The resolution clock on %(key)s is at risk: due %(due)s",
            "params": {"key": "NF-7", "due": "2026-12-07T13:00:00+00:00"},
            "dates": ["due"],
        },
    }
    with translation.override(language_for(reader)):
        sentence = notification_sentence(payload, reader)
    assert (
        sentence == "Die Lösungsfrist für NF-7 ist gefährdet: fällig am 7. Dezember 2026 14:00 CET"
    )


def test_a_german_confirmation_mail_for_a_form_gives_the_time_in_the_readers_zone() -> None:
    reader = UserFactory(
        username="maria", email="maria@example.de", language="de", time_zone="Europe/Vienna"
    )
    form = CustomFormFactory(name="Störung melden")
    submission = FormSubmissionFactory(form=form)
    submission.created = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    subject, body = confirmation_mail(submission, reader, "https://desk.example.com/")
    assert subject == "Bitte bestätigen Sie Ihre Anfrage: Störung melden"
    assert body.startswith("Hallo maria,\n\njemand hat am 1. Juli 2026 10:30 CEST")
    assert "Der Link ist 7 Tage gültig." in body
    english = UserFactory(username="sam", email="sam@example.com")
    subject, body = confirmation_mail(submission, english, "https://desk.example.com/")
    assert subject == "Please confirm your request: Störung melden"
    assert "on 1 Jul 2026, 08:30 UTC" in body


def test_a_breach_mail_goes_to_each_reader_in_their_language(settings: Settings) -> None:
    breach = SLABreachFactory(
        metric__policy__escalation_email="oncall@example.com",
        breached_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
    )
    german = UserFactory(
        username="jan",
        email="jan@desk.test",
        role=Role.AGENT,
        language="de",
        time_zone="Europe/Berlin",
    )
    breach.ticket.assignee = german
    breach.ticket.save(update_fields=["assignee"])
    sla_events.publish_breaches([breach])
    notify_breach(EventLog.objects.get(type="sla.breached"))
    outbox.run_inline()
    by_address = {message.to[0]: message for message in mail.outbox}
    assert set(by_address) == {"jan@desk.test", "oncall@example.com"}
    key = breach.ticket.key
    assert by_address["jan@desk.test"].subject.startswith(f"[{key}] SLA verletzt: ")
    assert by_address["jan@desk.test"].extra_headers["Content-Language"] == "de"
    assert "wurde am 7. Dezember 2026 10:00 CET verletzt." in by_address["jan@desk.test"].body
    assert by_address["oncall@example.com"].subject.startswith(f"[{key}] SLA breached: ")
    assert "was breached at 7 Dec 2026, 09:00 UTC." in by_address["oncall@example.com"].body


def test_local_datetime_falls_back_to_the_desks_zone_for_an_unknown_one() -> None:
    nobody = User(username="x", time_zone="Mars/Olympus")
    with translation.override("en"):
        shown = local_datetime(datetime(2026, 1, 2, 3, 4, tzinfo=UTC), nobody)
    assert shown == "2 Jan 2026, 03:04 UTC"
