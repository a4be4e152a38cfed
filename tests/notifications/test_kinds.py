"""Who is told of what: every kind, never the actor, never a requester, one notification
per recipient per event, and a repeated delivery that tells nobody twice. Events are
made by the core's services (and the SLA app's publishers) and delivered as the relay
and a worker deliver them."""

from __future__ import annotations

import pytest

from eventlog import subscribers
from eventlog.models import EventLog
from nixflow import services
from nixflow.models import Role, Stage, Ticket, User
from notifications.models import Kind, Notification
from notifications.services import notification_deliver
from notifications.subscribers import subscriber_name
from sla import events as sla_events
from tests.factories import TicketWatcherFactory, UserFactory
from tests.helpers import new_ticket
from tests.notifications.conftest import deliver, told
from tests.sla.factories import SLABreachFactory, SLAMetricFactory

pytestmark = pytest.mark.django_db


def kinds(notifications: list[Notification]) -> list[str]:
    return [n.kind for n in notifications]


def test_an_agent_assigned_a_ticket_is_told_who_assigned_it(
    bobs_ticket: Ticket, alice: User, bob: User
) -> None:
    [notification] = told(bob)
    assert notification.kind == Kind.ASSIGNED
    assert notification.reasons == ["assigned"]
    assert notification.ticket == bobs_ticket
    assert notification.text == f"alice assigned {bobs_ticket.key} to you"
    assert notification.read_at is None
    assert told(alice) == []


def test_a_ticket_opened_with_an_assignee_tells_that_assignee(
    requester: User, alice: User, bob: User
) -> None:
    ticket = services.ticket_create(
        requester=requester, title="Printer on fire", assignee=bob, actor=alice
    )
    mine = services.ticket_create(requester=requester, title="Mine", assignee=alice, actor=alice)
    deliver()

    [notification] = told(bob)
    assert (notification.kind, notification.ticket) == (Kind.ASSIGNED, ticket)
    assert notification.text == f"alice opened {ticket.key} and assigned it to you"
    assert told(alice) == []  # her own ticket: nobody is told of their own change
    created = EventLog.objects.get(type="ticket.created", subject_id=str(mine.pk))
    assert created.payload["assignee_id"] == alice.pk
    assert created.payload["changes"]["assignee"] == ["", "alice"]


def test_nobody_is_told_of_their_own_change(requester: User, bob: User) -> None:
    ticket = new_ticket(requester)
    services.ticket_assign(ticket=ticket, assignee=bob, actor=bob)
    services.ticket_watch(ticket=ticket, user=bob, actor=bob)
    services.comment_create(ticket=ticket, author=bob, body="Note to @bob", is_internal=True)
    deliver()
    assert told(bob) == []


def test_unassigning_tells_nobody(bobs_ticket: Ticket, alice: User, bob: User) -> None:
    services.ticket_assign(ticket=bobs_ticket, assignee=None, actor=alice)
    deliver()
    assert kinds(told(bob)) == [Kind.ASSIGNED]  # the first assignment only


def test_the_assignee_is_told_when_the_requester_replies(
    bobs_ticket: Ticket, requester: User, bob: User
) -> None:
    comment = services.comment_create(ticket=bobs_ticket, author=requester, body="Still broken")
    deliver()
    latest = told(bob)[-1]
    assert latest.kind == Kind.REQUESTER_REPLIED
    assert latest.comment == comment
    assert latest.text == f"requester, the requester, replied on {bobs_ticket.key}"
    assert told(requester) == []  # requesters get the desk's customer mail instead


def test_a_reply_on_an_unassigned_ticket_tells_nobody(requester: User) -> None:
    ticket = new_ticket(requester)
    services.comment_create(ticket=ticket, author=requester, body="Hello?")
    deliver()
    assert Notification.objects.count() == 0


def test_an_agents_reply_is_not_the_requester_replying(
    bobs_ticket: Ticket, alice: User, bob: User
) -> None:
    services.comment_create(ticket=bobs_ticket, author=alice, body="We are on it")
    deliver()
    assert kinds(told(bob)) == [Kind.ASSIGNED]


def test_an_internal_note_mentioning_an_agent_tells_them(
    requester: User, alice: User, bob: User
) -> None:
    ticket = new_ticket(requester)
    services.comment_create(
        ticket=ticket,
        author=alice,
        body="@BOB, can you look? (cc bob@example.com)",
        is_internal=True,
    )
    deliver()
    [notification] = told(bob)
    assert notification.kind == Kind.MENTIONED
    assert notification.text == f"alice mentioned you in an internal note on {ticket.key}"


def test_a_public_agent_comment_mentioning_an_agent_tells_them(
    requester: User, alice: User, bob: User
) -> None:
    ticket = new_ticket(requester)
    services.comment_create(ticket=ticket, author=alice, body="My colleague @bob. will call you")
    deliver()
    assert [n.text for n in told(bob)] == [f"alice mentioned you in a comment on {ticket.key}"]


def test_a_requester_cannot_summon_agents_by_mentioning_them(requester: User, bob: User) -> None:
    ticket = new_ticket(requester)
    services.comment_create(ticket=ticket, author=requester, body="@bob help me now")
    deliver()
    assert told(bob) == []


def test_mentioning_a_requester_or_nobody_tells_no_one(
    requester: User, other_requester: User, alice: User
) -> None:
    ticket = new_ticket(requester)
    body = "@requester and @other and @nobody and mail@alice"
    services.comment_create(ticket=ticket, author=alice, body=body, is_internal=True)
    deliver()
    assert Notification.objects.count() == 0


def test_watchers_and_the_assignee_are_told_of_a_stage_change(
    bobs_ticket: Ticket, alice: User, bob: User, carol: User, stages: dict[str, Stage]
) -> None:
    services.ticket_watch(ticket=bobs_ticket, user=carol, actor=alice)
    services.ticket_transition(ticket=bobs_ticket, to_stage=stages["Open"], actor=alice)
    deliver()
    text = f"alice moved {bobs_ticket.key} from New to Open"
    assert [(n.kind, n.reasons, n.text) for n in told(carol)] == [
        (Kind.STAGE_CHANGED, ["watcher"], text)
    ]
    assert told(bob)[-1].reasons == ["assignee"]
    assert kinds(told(alice)) == []


def test_an_sla_clock_at_risk_tells_the_assignee_and_the_watchers(
    bobs_ticket: Ticket, alice: User, bob: User, carol: User
) -> None:
    services.ticket_watch(ticket=bobs_ticket, user=carol, actor=alice)
    metric = SLAMetricFactory(ticket=bobs_ticket)
    sla_events.publish_at_risk([metric])
    deliver()
    assert told(bob)[-1].kind == Kind.SLA_AT_RISK
    assert told(bob)[-1].text.startswith(
        f"The resolution clock on {bobs_ticket.key} is at risk: due "
    )
    assert kinds(told(carol)) == [Kind.SLA_AT_RISK]
    assert told(alice) == []  # neither assignee nor watcher


def test_a_breach_tells_an_assignee_who_also_watches_once_with_both_reasons(
    bobs_ticket: Ticket, alice: User, bob: User
) -> None:
    services.ticket_watch(ticket=bobs_ticket, user=bob, actor=alice)
    breach = SLABreachFactory(metric__ticket=bobs_ticket)
    sla_events.publish_breaches([breach])
    deliver()
    [notification] = [n for n in told(bob) if n.kind == Kind.SLA_BREACHED]
    assert notification.reasons == ["assignee", "watcher"]
    assert notification.text == f"The resolution target on {bobs_ticket.key} was breached"


def test_an_event_with_several_reasons_gives_one_notification_of_the_strongest_kind(
    alice: User, bob: User
) -> None:
    # An agent opened a ticket for themselves; their public comment mentions its
    # assignee: a requester's reply and a mention, one event, one notification.
    ticket = new_ticket(alice)
    services.ticket_assign(ticket=ticket, assignee=bob, actor=alice)
    services.comment_create(ticket=ticket, author=alice, body="@bob any news?")
    deliver()
    assigned, commented = told(bob)
    assert assigned.kind == Kind.ASSIGNED
    assert commented.kind == Kind.MENTIONED
    assert commented.reasons == ["mentioned", "requester_replied"]


def test_requesters_and_inactive_agents_are_never_told(requester: User, alice: User) -> None:
    gone = UserFactory(username="gone", role=Role.AGENT, is_active=False)
    ticket = new_ticket(requester)
    services.ticket_watch(ticket=ticket, user=requester, actor=alice)
    TicketWatcherFactory(ticket=ticket, user=gone)  # watching since before they left
    services.comment_create(ticket=ticket, author=alice, body="@gone @requester", is_internal=True)
    breach = SLABreachFactory(metric__ticket=ticket)
    sla_events.publish_breaches([breach])
    deliver()
    assert Notification.objects.count() == 0


def test_a_repeated_delivery_tells_nobody_twice(bobs_ticket: Ticket, bob: User) -> None:
    event = EventLog.objects.get(type="ticket.assigned", ticket_key=bobs_ticket.key)
    name = subscriber_name("ticket.assigned")
    assert subscribers.deliver(event, only=name) == []  # delivered already: skipped
    # Even past the delivery record (a renamed subscriber), the (event, recipient) pair
    # is written once and its notification.created event recorded once.
    assert notification_deliver(event=event) == []
    assert len(told(bob)) == 1
    assert EventLog.objects.filter(type="notification.created").count() == 1
