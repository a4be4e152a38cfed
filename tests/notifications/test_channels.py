"""The two channels and the preferences that choose them: the admin list and mail,
through email_integration's outbound mail (threaded per ticket, with the agent's reply
token), each only when the recipient's preference for that kind and channel is on."""

from __future__ import annotations

import pytest

from email_integration import reply_tokens
from email_integration.models import EmailAccount, EmailMessage, EmailMessageType
from eventlog.models import EventLog
from nixflow import services
from nixflow.models import Stage, Ticket, User
from notifications.models import DEFAULTS, Kind, Notification
from notifications.services import notification_preferences_update
from tests.email_integration.factories import EmailAccountFactory
from tests.helpers import new_ticket
from tests.notifications.conftest import deliver, told
from tests.notifications.factories import NotificationPreferenceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(db: None) -> EmailAccount:
    return EmailAccountFactory(address="help@desk.test")


def mail_to(user: User) -> list[EmailMessage]:
    return list(
        EmailMessage.objects.filter(
            message_type=EmailMessageType.OUTBOUND, to_addresses__contains=[user.email]
        ).order_by("id")
    )


def test_defaults_list_every_kind_and_mail_only_the_urgent_ones() -> None:
    assert {kind for kind, (in_admin, _) in DEFAULTS.items() if in_admin} == set(Kind.values)
    assert {kind for kind, (_, email) in DEFAULTS.items() if email} == {
        Kind.ASSIGNED,
        Kind.MENTIONED,
        Kind.REQUESTER_REPLIED,
        Kind.SLA_BREACHED,
    }


def test_an_assignment_is_mailed_to_the_agent_with_their_reply_token(
    account: EmailAccount, requester: User, alice: User, bob: User
) -> None:
    ticket = new_ticket(requester)
    services.ticket_assign(ticket=ticket, assignee=bob, actor=alice)
    deliver()
    [mail] = mail_to(bob)
    assert mail.subject == f"Re: [{ticket.key}] {ticket.title}"
    assert f"alice assigned {ticket.key} to you." in mail.text_body
    assert mail.ticket == ticket
    # The token in our Message-ID names this ticket and this agent: a reply by mail
    # comes back as bob's, on this ticket (email_integration.reply_tokens).
    [token] = [t for t in map(reply_tokens.verify, reply_tokens.find([mail.message_id])) if t]
    assert (token.ticket_id, token.user_id) == (ticket.pk, bob.pk)
    event = EventLog.objects.get(type="notification.created")
    assert event.payload["channels"] == ["in_admin", "email"]
    assert event.payload["recipient_id"] == bob.pk


def test_the_agents_mail_threads_with_the_tickets_earlier_mail(
    account: EmailAccount, requester: User, alice: User, bob: User
) -> None:
    ticket = new_ticket(requester)
    services.ticket_assign(ticket=ticket, assignee=bob, actor=alice)
    deliver()
    services.comment_create(ticket=ticket, author=requester, body="It smokes now")
    deliver()
    first, second = mail_to(bob)
    assert second.in_reply_to == first.message_id
    assert first.message_id in second.references
    assert "It smokes now" in second.text_body


def test_a_kind_mailed_off_by_default_is_only_listed(
    account: EmailAccount, requester: User, alice: User, bob: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)
    services.ticket_watch(ticket=ticket, user=bob, actor=alice)
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=alice)
    deliver()
    [notification] = told(bob)
    assert (notification.kind, notification.in_admin, notification.email) == (
        Kind.STAGE_CHANGED,
        True,
        False,
    )
    assert mail_to(bob) == []


def test_turning_mail_on_for_a_kind_mails_it(
    account: EmailAccount, requester: User, alice: User, bob: User, stages: dict[str, Stage]
) -> None:
    NotificationPreferenceFactory(user=bob, kind=Kind.STAGE_CHANGED, in_admin=True, email=True)
    ticket = new_ticket(requester)
    services.ticket_watch(ticket=ticket, user=bob, actor=alice)
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=alice)
    deliver()
    [mail] = mail_to(bob)
    assert f"alice moved {ticket.key} from New to Open." in mail.text_body


def test_mail_only_is_mailed_but_not_listed(
    account: EmailAccount, requester: User, alice: User, bob: User
) -> None:
    notification_preferences_update(
        actor=bob, user=bob, choices={Kind.ASSIGNED: {"in_admin": False}}
    )
    ticket = new_ticket(requester)
    services.ticket_assign(ticket=ticket, assignee=bob, actor=alice)
    deliver()
    [notification] = told(bob)
    assert (notification.in_admin, notification.email) == (False, True)
    assert len(mail_to(bob)) == 1
    assert not Notification.objects.filter(recipient=bob, in_admin=True).exists()


def test_both_channels_off_tells_nothing(
    account: EmailAccount, bobs_ticket: Ticket, requester: User, bob: User
) -> None:
    notification_preferences_update(
        actor=bob,
        user=bob,
        choices={Kind.REQUESTER_REPLIED: {"in_admin": False, "email": False}},
    )
    services.comment_create(ticket=bobs_ticket, author=requester, body="Anyone?")
    deliver()
    assert [n.kind for n in told(bob)] == [Kind.ASSIGNED]


def test_a_reason_muted_for_a_channel_still_comes_through_another_kind_that_wants_it(
    account: EmailAccount, alice: User, bob: User
) -> None:
    # Mentions are not mailed to bob, requesters' replies are: a comment that is both
    # is mailed (its kind stays the stronger, "mentioned").
    notification_preferences_update(actor=bob, user=bob, choices={Kind.MENTIONED: {"email": False}})
    ticket = new_ticket(alice)
    services.ticket_assign(ticket=ticket, assignee=bob, actor=alice)
    services.comment_create(ticket=ticket, author=alice, body="@bob any news?")
    deliver()
    assert told(bob)[-1].kind == Kind.MENTIONED
    assert told(bob)[-1].email is True


def test_no_mail_without_a_desk_account_nor_to_an_agent_without_an_address(
    requester: User, alice: User, bob: User
) -> None:
    ticket = new_ticket(requester)
    services.ticket_assign(ticket=ticket, assignee=bob, actor=alice)
    deliver()
    assert told(bob)[0].email is True
    assert mail_to(bob) == []  # the desk sends no mail at all without an account


def test_preferences_are_an_agents_own_and_record_what_changed(alice: User, bob: User) -> None:
    with pytest.raises(Exception, match="your own"):
        notification_preferences_update(
            actor=alice, user=bob, choices={Kind.ASSIGNED: {"email": False}}
        )
    notification_preferences_update(
        actor=bob, user=bob, choices={Kind.ASSIGNED: {"email": False, "in_admin": True}}
    )
    notification_preferences_update(actor=bob, user=bob, choices={Kind.ASSIGNED: {"email": False}})
    [event] = EventLog.objects.filter(type="notification.preferences.updated")
    assert event.payload == {"changes": {"assigned": {"email": [True, False]}}}
    assert event.actor_id == bob.pk


def test_requesters_have_no_preferences(requester: User) -> None:
    with pytest.raises(Exception, match="Only agents"):
        notification_preferences_update(
            actor=requester, user=requester, choices={Kind.ASSIGNED: {"email": True}}
        )
