"""Fixtures of the notifications tests: a desk of agents, and the worker that delivers."""

from __future__ import annotations

import pytest

from eventlog import outbox
from nixflow import services
from nixflow.models import Role, Ticket, User
from notifications.models import Notification
from tests.factories import UserFactory
from tests.helpers import new_ticket


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice", role=Role.AGENT, email="alice@staff.test")


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory(username="bob", role=Role.AGENT, email="bob@staff.test")


@pytest.fixture
def carol(db: None) -> User:
    return UserFactory(username="carol", role=Role.ADMIN, email="carol@staff.test")


@pytest.fixture
def bobs_ticket(requester: User, alice: User, bob: User) -> Ticket:
    """The requester's ticket, assigned to bob by alice; what that told is delivered."""
    ticket = new_ticket(requester)
    services.ticket_assign(ticket=ticket, assignee=bob, actor=alice)
    deliver()
    return ticket


def deliver() -> None:
    """What the relay and the Celery worker do after commit: deliver the events to their
    subscribers (and the events those record, and the mail they queue)."""
    outbox.run_inline()


def told(user: User) -> list[Notification]:
    """The notifications a user has, oldest first."""
    return list(Notification.objects.filter(recipient=user).order_by("id"))
