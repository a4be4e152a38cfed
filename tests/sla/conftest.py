"""What the SLA tests share: the frozen start time, the Standard and VIP policies, tickets
whose clocks have breached, and clients signed in to the API and to the admin."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from nixflow import services
from nixflow.models import Priority, Role, Ticket, User
from sla import services as sla_services
from sla.models import SLABreach, SLAPolicy
from tests.factories import UserFactory
from tests.sla.factories import SLAPolicyFactory

# Monday 2 March 2026, 09:00 UTC: tests start the clock here.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)

MINUTES = {
    # priority: first response, next response, resolution (business minutes)
    Priority.NORMAL: (60, 30, 480),
    Priority.HIGH: (15, 10, 120),
}


def open_ticket(requester: User, **kwargs: object) -> Ticket:
    """A ticket opened by ``requester`` through the core service (so its clocks start)."""
    return services.ticket_create(requester=requester, title="VPN down", actor=requester, **kwargs)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    """Django's clock frozen at T0; move it with ``clock.shift(seconds)``."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


# --- Policies -----------------------------------------------------------------------------
@pytest.fixture
def policy(db: None) -> SLAPolicy:
    """ "Standard": 24x7, warning at 75 %: NORMAL 60/30/480 minutes, HIGH 15/10/120."""
    return SLAPolicyFactory(
        name="Standard", order=10, escalation_email="escalation@example.com", targets=MINUTES
    )


@pytest.fixture
def vip(db: None) -> SLAPolicy:
    """Tried before Standard, for HIGH tickets only: 15/10/120 minutes."""
    return SLAPolicyFactory(
        name="VIP", order=5, priorities=[Priority.HIGH], targets={Priority.HIGH: (15, 10, 120)}
    )


# --- Tickets with breaches ------------------------------------------------------------------
@pytest.fixture
def tickets(policy: SLAPolicy, vip: SLAPolicy, requester: User) -> dict[str, Ticket]:
    """At T0 + 121 min: the NORMAL ticket (Standard) has breached its first response;
    the HIGH ticket (VIP) its first response and its resolution."""
    with time_machine.travel(T0, tick=False):
        normal = open_ticket(requester)
        high = open_ticket(requester, priority=Priority.HIGH)
    sla_services.sla_scan(now=T0 + 121 * M)
    return {"normal": normal, "high": high}


@pytest.fixture
def breaches(tickets: dict[str, Ticket]) -> dict[tuple[str, str], SLABreach]:
    """The three breaches of ``tickets`` by ("normal" | "high", breach type)."""
    return {
        ("normal" if b.ticket_id == tickets["normal"].pk else "high", b.breach_type): b
        for b in SLABreach.objects.all()
    }


@pytest.fixture
def breach(breaches: dict[tuple[str, str], SLABreach]) -> SLABreach:
    """The NORMAL ticket's first-response breach."""
    return breaches["normal", "first_response"]


def breaches_of(count: int, requester: User) -> None:
    """``count`` tickets, each with a breached first response (Standard, NORMAL)."""
    with time_machine.travel(T0, tick=False):
        for _ in range(count):
            open_ticket(requester)
    sla_services.sla_scan(now=T0 + 61 * M)


# --- Who is asking --------------------------------------------------------------------------
@pytest.fixture
def boss(db: None) -> User:
    """An admin: may change the SLA configuration."""
    return UserFactory(username="boss", role=Role.ADMIN)


def as_user(client: APIClient, user: User) -> APIClient:
    client.force_authenticate(user)
    return client


@pytest.fixture
def agent_client(api_client: APIClient, agent: User) -> APIClient:
    return as_user(api_client, agent)


@pytest.fixture
def admin_client(api_client: APIClient, boss: User) -> APIClient:
    """The API as ``boss``."""
    return as_user(api_client, boss)


def logged_in(user: User) -> Client:
    """A Django test client signed in as ``user``, for the admin's pages."""
    client = Client()
    client.force_login(user)
    return client


def management(prefix: str, total: int, initial: int = 0) -> dict[str, int]:
    """An inline formset's management form, as the admin page posts it."""
    return {
        f"{prefix}-TOTAL_FORMS": total,
        f"{prefix}-INITIAL_FORMS": initial,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }
