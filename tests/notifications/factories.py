"""factory-boy factories for the notifications app's rows.

Rows written directly, for setting the scene (an agent's list, the unread count); tests
of who is told what go through the core's services and the event log's delivery.
"""

from __future__ import annotations

import factory

from eventlog.services import event_record
from nixflow.models import Role
from notifications.models import Kind, Notification, NotificationPreference
from tests.factories import TicketFactory, UserFactory


class NotificationFactory(factory.django.DjangoModelFactory[Notification]):
    """An unread ``assigned`` notification of a new agent, for an event of its ticket."""

    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory, role=Role.AGENT)
    ticket = factory.SubFactory(TicketFactory)
    # Any event id will do for the row (no database constraint): one per notification.
    event = factory.LazyAttribute(
        lambda n: event_record(
            type="ticket.assigned",
            subject=n.ticket,
            actor=None,
            ticket_key=n.ticket.key,
            payload={"assignee_id": None},
        )
    )
    kind = Kind.ASSIGNED
    reasons = factory.LazyFunction(lambda: ["assigned"])
    text = factory.LazyAttribute(lambda n: f"{n.ticket.key} was assigned to you")
    in_admin = True
    email = False


class NotificationPreferenceFactory(factory.django.DjangoModelFactory[NotificationPreference]):
    class Meta:
        model = NotificationPreference

    user = factory.SubFactory(UserFactory, role=Role.AGENT)
    kind = Kind.STAGE_CHANGED
    in_admin = True
    email = True
