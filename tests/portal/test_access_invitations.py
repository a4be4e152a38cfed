"""A requester someone else opened a ticket for, who never signed in and has no password,
is invited to the portal once, by mail, with a sign-in link built when the mail is sent
and stored nowhere."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from eventlog import outbox
from eventlog.models import EventLog, OutboxMessage
from nixflow import services
from nixflow.models import Role, Ticket, User
from portal import access, events
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("invitations")]

LINK = re.compile(r"https?://[^/\s]+(/portal/signin/link/[^/\s]+/[^/\s]+/(?:\?next=\S+)?)")


@pytest.fixture
def newcomer(db: None) -> User:
    """A requester as mail or an agent creates them: an address, no usable password."""
    user, _created = services.requester_get_or_create(email="nina@example.com", name="Nina Neu")
    return user


@pytest.fixture
def desk_agent(db: None) -> User:
    return UserFactory(username="agnes", role=Role.AGENT)


def open_for(requester: User, actor: User | None, title: str = "New laptop") -> Ticket:
    return services.ticket_create(requester=requester, title=title, actor=actor)


def invitations_sent() -> list[mail.EmailMessage]:
    outbox.run_inline()  # deliveries and the mail they queue, as relay and worker would
    return [m for m in mail.outbox if "Follow your request" in m.subject]


def test_a_ticket_an_agent_opens_invites_the_requester_once(
    newcomer: User, desk_agent: User
) -> None:
    first = open_for(newcomer, desk_agent)
    sent = invitations_sent()

    assert len(sent) == 1
    assert sent[0].to == ["nina@example.com"]
    assert sent[0].subject == f"[{first.key}] Follow your request online"
    assert "Hello Nina Neu," in str(sent[0].body)
    assert "New laptop" in str(sent[0].body)
    assert LINK.search(str(sent[0].body)) is not None
    invited = EventLog.objects.get(type=events.PORTAL_INVITED)
    assert invited.subject_id == str(newcomer.pk)
    assert invited.payload == {"ticket_id": first.pk}

    open_for(newcomer, desk_agent, "And a mouse")
    mail.outbox.clear()
    assert invitations_sent() == []
    assert EventLog.objects.filter(type=events.PORTAL_INVITED).count() == 1


def test_the_invitation_link_signs_in_once(newcomer: User, desk_agent: User) -> None:
    open_for(newcomer, desk_agent)
    [message] = invitations_sent()
    found = LINK.search(str(message.body))
    assert found is not None
    link = found.group(1)

    client = Client()
    assert client.get(link).status_code == 200
    done = client.post(link)

    assert done.status_code == 302
    assert int(client.session["_auth_user_id"]) == newcomer.pk
    assert Client().post(link).status_code == 404


def test_the_link_is_stored_nowhere(newcomer: User, desk_agent: User) -> None:
    open_for(newcomer, desk_agent)
    [message] = invitations_sent()
    found = LINK.search(str(message.body))
    assert found is not None
    token = found.group(1).split("/")[5]

    stored = [str(e.payload) for e in EventLog.objects.all()]
    stored += [str(m.kwargs) for m in OutboxMessage.objects.all()]
    assert not [s for s in stored if token in s]


def test_a_ticket_the_requester_opens_themselves_invites_nobody(newcomer: User) -> None:
    open_for(newcomer, newcomer)
    assert invitations_sent() == []
    assert not EventLog.objects.filter(type=events.PORTAL_INVITED).exists()


def test_a_requester_with_a_password_or_a_past_sign_in_is_not_invited(desk_agent: User) -> None:
    with_password = UserFactory(username="pat")  # the factory gives a password
    signed_in_before, _ = services.requester_get_or_create(email="sam@example.com")
    User.objects.filter(pk=signed_in_before.pk).update(last_login=timezone.now())
    signed_in_before.refresh_from_db()

    open_for(with_password, desk_agent)
    open_for(signed_in_before, desk_agent)

    assert invitations_sent() == []


def test_an_invitation_queued_for_someone_who_signed_in_meanwhile_is_not_sent(
    newcomer: User, desk_agent: User
) -> None:
    ticket = open_for(newcomer, desk_agent)
    # Deliver the event (which queues the mail), then the person signs in before the
    # worker sends it.
    from eventlog.subscribers import deliver

    event = EventLog.objects.get(type="ticket.created", subject_id=str(ticket.pk))
    deliver(event, only=access.INVITATION_SUBSCRIBER)
    User.objects.filter(pk=newcomer.pk).update(last_login=timezone.now())

    assert invitations_sent() == []


def test_the_invitation_is_in_the_requesters_language(newcomer: User, desk_agent: User) -> None:
    from django.utils import translation
    from django.utils.translation import gettext

    User.objects.filter(pk=newcomer.pk).update(language="de")
    newcomer.refresh_from_db()
    ticket = open_for(newcomer, desk_agent)
    with translation.override("de"):
        expected = gettext("[%(key)s] Follow your request online") % {"key": ticket.key}
    outbox.run_inline()
    subjects = [m.subject for m in mail.outbox if ticket.key in m.subject]
    assert expected in subjects
