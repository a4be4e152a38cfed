"""A new ticket in my team, unassigned: its members are told when routing brings a new
ticket into their team with nobody to work it, or when it is moved or routed there
later; not when auto-assignment gave it an agent (who hears "assigned to you"), nor the
one who moved it. A team with an address gets one mail per such ticket, without a reply
token, so a reply to it is only as trusted as its sender's own mail."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from email_integration import reply_tokens
from email_integration import services as mail_services
from email_integration.models import (
    EmailAccount,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
)
from eventlog.models import EventLog
from nixflow import services
from nixflow.models import AssignmentMode, Availability, Priority, Role, Team, User
from notifications.models import Kind, Notification
from notifications.services import notification_deliver, notification_preferences_update
from tests.email_integration.factories import EmailAccountFactory
from tests.email_integration.messages import mail
from tests.factories import RoutingRuleFactory, TeamFactory, UserFactory
from tests.helpers import new_ticket
from tests.notifications.conftest import deliver, told

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(db: None) -> EmailAccount:
    return EmailAccountFactory(address="help@desk.test")


@pytest.fixture
def support(alice: User, bob: User, carol: User) -> Team:
    """The default team, assigning by hand: alice and bob (agents), carol (an admin)."""
    return TeamFactory(name="Support", is_default=True, members=[alice, bob, carol])


def team_told(user: User) -> list[Notification]:
    return [n for n in told(user) if n.kind == Kind.TEAM_UNASSIGNED]


def team_mail(address: str) -> list[EmailMessage]:
    return list(
        EmailMessage.objects.filter(
            message_type=EmailMessageType.OUTBOUND, to_addresses__contains=[address]
        ).order_by("id")
    )


def test_a_new_ticket_routed_to_a_team_unassigned_tells_every_active_member(
    requester: User, support: Team, alice: User, bob: User, carol: User
) -> None:
    gone = UserFactory(username="gone", role=Role.AGENT, is_active=False)
    customer = UserFactory(username="customer", role=Role.REQUESTER)
    support.memberships.create(user=gone)
    support.memberships.create(user=customer)
    ticket = new_ticket(requester)
    deliver()
    for member in (alice, bob, carol):
        [notification] = told(member)
        assert notification.kind == Kind.TEAM_UNASSIGNED
        assert notification.reasons == ["team_member"]
        assert notification.ticket == ticket
        assert notification.text == f"New ticket {ticket.key} in Support, unassigned"
        assert (notification.in_admin, notification.email) == (True, False)  # the defaults
    assert told(gone) == []
    assert told(customer) == []
    assert told(requester) == []


def test_away_members_are_told_too_as_availability_only_decides_assignment(
    requester: User, support: Team, alice: User, bob: User
) -> None:
    User.objects.filter(pk=bob.pk).update(availability=Availability.AWAY)
    new_ticket(requester)
    deliver()
    assert len(team_told(bob)) == 1


def test_the_agent_who_opens_the_ticket_is_not_told_of_it(
    requester: User, support: Team, alice: User, bob: User
) -> None:
    services.ticket_create(requester=requester, title="Phone call", actor=alice)
    deliver()
    assert told(alice) == []
    assert len(team_told(bob)) == 1


def test_an_auto_assigned_ticket_tells_its_assignee_not_the_team(
    requester: User, support: Team, alice: User, bob: User, carol: User
) -> None:
    Team.objects.filter(pk=support.pk).update(assignment_mode=AssignmentMode.ROUND_ROBIN)
    ticket = new_ticket(requester)
    deliver()
    assert ticket.assignee is not None
    [notification] = told(ticket.assignee)
    assert notification.kind == Kind.ASSIGNED
    assert notification.text == f"{ticket.key} was assigned to you"
    assert Notification.objects.filter(kind=Kind.TEAM_UNASSIGNED).count() == 0


def test_a_ticket_opened_with_an_assignee_tells_the_team_nothing(
    requester: User, support: Team, alice: User, bob: User
) -> None:
    services.ticket_create(requester=requester, title="For bob", actor=alice, assignee=bob)
    deliver()
    assert Notification.objects.filter(kind=Kind.TEAM_UNASSIGNED).count() == 0


def test_a_ticket_taken_before_the_event_is_delivered_tells_the_team_nothing(
    requester: User, support: Team, alice: User, bob: User
) -> None:
    ticket = new_ticket(requester)
    services.ticket_assign(ticket=ticket, assignee=alice, actor=alice)
    deliver()  # ticket.created is delivered after alice took it
    assert team_told(bob) == []


def test_moving_an_unassigned_ticket_into_a_team_tells_its_members_but_not_the_mover(
    requester: User, alice: User, bob: User, carol: User
) -> None:
    network = TeamFactory(name="Network", members=[alice, bob])
    ticket = new_ticket(requester)  # no team: no default, no rule
    deliver()
    services.ticket_set_team(ticket=ticket, team=network, actor=alice)
    deliver()
    [notification] = told(bob)
    assert notification.kind == Kind.TEAM_UNASSIGNED
    assert notification.text == f"alice moved {ticket.key} to Network, unassigned"
    assert told(alice) == []
    assert told(carol) == []


def test_moving_an_assigned_ticket_tells_the_new_team_nothing(
    requester: User, alice: User, bob: User, carol: User
) -> None:
    network = TeamFactory(name="Network", members=[alice, bob])
    ticket = new_ticket(requester)
    services.ticket_assign(ticket=ticket, assignee=carol, actor=carol)
    services.ticket_set_team(ticket=ticket, team=network, actor=carol)
    deliver()
    assert Notification.objects.filter(kind=Kind.TEAM_UNASSIGNED).count() == 0


def test_moving_into_a_team_that_assigns_tells_the_assignee_only(
    requester: User, alice: User, bob: User, carol: User
) -> None:
    network = TeamFactory(name="Network", members=[bob], assignment_mode=AssignmentMode.ROUND_ROBIN)
    ticket = new_ticket(requester)
    services.ticket_set_team(ticket=ticket, team=network, actor=alice)
    deliver()
    assert [n.kind for n in told(bob)] == [Kind.ASSIGNED]
    assert Notification.objects.filter(kind=Kind.TEAM_UNASSIGNED).count() == 0


def test_a_ticket_routed_later_tells_the_team_it_went_to(
    requester: User, alice: User, bob: User
) -> None:
    urgent = TeamFactory(name="Urgent", members=[bob])
    RoutingRuleFactory(team=urgent, priority=Priority.URGENT)
    ticket = new_ticket(requester)
    services.ticket_update(ticket=ticket, actor=alice, data={"priority": Priority.URGENT})
    deliver()
    [notification] = team_told(bob)
    assert notification.text == f"{ticket.key} went to Urgent, unassigned"


def test_a_member_who_mutes_the_kind_is_not_told_and_one_who_wants_mail_gets_it(
    account: EmailAccount, requester: User, support: Team, alice: User, bob: User
) -> None:
    notification_preferences_update(
        actor=alice, user=alice, choices={Kind.TEAM_UNASSIGNED: {"in_admin": False}}
    )
    notification_preferences_update(
        actor=bob, user=bob, choices={Kind.TEAM_UNASSIGNED: {"email": True}}
    )
    ticket = new_ticket(requester)
    deliver()
    assert told(alice) == []
    [notification] = told(bob)
    assert (notification.in_admin, notification.email) == (True, True)
    [sent] = team_mail(bob.email)
    assert f"New ticket {ticket.key} in Support, unassigned." in sent.text_body
    # A member's own mail carries their reply token, as every agent notification does.
    [token] = [t for t in map(reply_tokens.verify, reply_tokens.find([sent.message_id])) if t]
    assert token.user_id == bob.pk
    assert team_mail(alice.email) == []


# --- The team's own address -----------------------------------------------------------------
def test_a_team_address_gets_one_mail_per_new_unassigned_ticket_without_a_reply_token(
    account: EmailAccount, requester: User, support: Team, settings: Settings
) -> None:
    settings.EMAIL_REPLY_TO_TOKENS = True
    Team.objects.filter(pk=support.pk).update(email="support-team@corp.test")
    ticket = new_ticket(requester, title="VPN down", description="Since 9 am")
    deliver()
    [sent] = team_mail("support-team@corp.test")
    assert sent.subject == f"[{ticket.key}] VPN down"
    assert sent.ticket == ticket
    assert sent.status == EmailMessageStatus.SENT  # sent by the inline worker
    assert f"New ticket {ticket.key} in Support, unassigned." in sent.text_body
    assert "Since 9 am" in sent.text_body
    assert reply_tokens.find([sent.message_id]) == []
    headers = bytes(sent.raw).decode()
    assert "Reply-To:" not in headers
    assert "To: Support <support-team@corp.test>" in headers
    # The log names the team and the ticket, never the address.
    [notice] = EventLog.objects.filter(type="notification.team_notice")
    assert notice.payload == {
        "team_id": support.pk,
        "ticket_id": ticket.pk,
        "kind": "team_unassigned",
        "text": f"New ticket {ticket.key} in Support, unassigned",
        "source_event_id": EventLog.objects.get(type="ticket.created").pk,
        # The sentence again, to be translated when read (notifications.events).
        "message": {
            "text": "New ticket %(key)s in %(team)s, unassigned",
            "params": {"key": ticket.key, "team": "Support"},
            "dates": [],
        },
    }
    assert "support-team@corp.test" not in str(notice.payload)


def test_a_repeated_delivery_mails_the_team_address_once(
    account: EmailAccount, requester: User, support: Team
) -> None:
    Team.objects.filter(pk=support.pk).update(email="support-team@corp.test")
    new_ticket(requester)
    deliver()
    created = EventLog.objects.get(type="ticket.created")
    assert notification_deliver(event=created) == []
    deliver()
    assert EventLog.objects.filter(type="notification.team_notice").count() == 1
    assert len(team_mail("support-team@corp.test")) == 1


def test_a_team_address_is_mailed_when_a_ticket_is_moved_there_unassigned(
    account: EmailAccount, requester: User, alice: User
) -> None:
    network = TeamFactory(name="Network", email="network@corp.test", members=[alice])
    ticket = new_ticket(requester)
    services.ticket_set_team(ticket=ticket, team=network, actor=alice)
    deliver()
    [sent] = team_mail("network@corp.test")
    assert f"alice moved {ticket.key} to Network, unassigned." in sent.text_body


def test_no_team_mail_for_a_ticket_auto_assigned_on_arrival(
    account: EmailAccount, requester: User, bob: User
) -> None:
    TeamFactory(
        name="Assigning",
        email="assigning@corp.test",
        members=[bob],
        assignment_mode=AssignmentMode.ROUND_ROBIN,
        is_default=True,
    )
    new_ticket(requester)
    deliver()
    assert team_mail("assigning@corp.test") == []
    assert not EventLog.objects.filter(type="notification.team_notice").exists()


def test_no_team_mail_without_an_address_nor_to_one_of_the_desks_own(
    account: EmailAccount, requester: User, alice: User, bob: User
) -> None:
    silent = TeamFactory(name="Silent", members=[alice])
    looping = TeamFactory(name="Looping", email="HELP@desk.test", members=[alice])
    for team in (silent, looping):
        services.ticket_set_team(ticket=new_ticket(requester), team=team, actor=bob)
    deliver()
    assert len(team_told(alice)) == 2  # the members are told all the same
    # Only the team with an address has a notice; its address is the desk's: no mail.
    notices = EventLog.objects.filter(type="notification.team_notice")
    assert [n.payload["team_id"] for n in notices] == [looping.pk]
    assert team_mail("help@desk.test") == []


def test_a_reply_to_the_team_mail_proves_nothing_about_its_sender(
    account: EmailAccount, requester: User, support: Team, alice: User
) -> None:
    Team.objects.filter(pk=support.pk).update(email="support-team@corp.test")
    ticket = new_ticket(requester)
    deliver()
    [sent] = team_mail("support-team@corp.test")
    reply = mail(
        sender="Alice <alice@staff.test>",
        subject=f"Re: [{ticket.key}] Printer on fire",
        body="I'll take it.",
        in_reply_to=f"<{sent.message_id}>",
    )
    message = mail_services.message_ingest(account=account, raw=reply)
    # An agent's unsigned mail is held, as any would be: no token vouches for it.
    assert message.status == EmailMessageStatus.SUSPENDED
    assert message.comment is None
