from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

from nixflow.models import Priority, Ticket, User
from sla.models import MetricType, SLAPolicy, SLATarget

# Monday 2 March 2026, 09:00 UTC: tests start the clock here.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

MINUTES = {
    # priority: first response, next response, resolution (business minutes)
    Priority.NORMAL: (60, 30, 480),
    Priority.HIGH: (15, 10, 120),
}


def add_targets(policy: SLAPolicy, minutes: dict[str, tuple[int, int, int]]) -> None:
    types = (MetricType.FIRST_RESPONSE, MetricType.NEXT_RESPONSE, MetricType.RESOLUTION)
    SLATarget.objects.bulk_create(
        SLATarget(policy=policy, priority=priority, metric_type=metric_type, minutes=m)
        for priority, values in minutes.items()
        for metric_type, m in zip(types, values, strict=True)
    )


@pytest.fixture
def policy(db: None) -> SLAPolicy:
    """24x7, warning at 75 %: NORMAL 60/30/480 minutes, HIGH 15/10/120."""
    policy = SLAPolicy.objects.create(
        name="Standard", order=10, escalation_email="escalation@example.com"
    )
    add_targets(policy, MINUTES)
    return policy


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    """Django's clock frozen at T0; move it with ``clock.shift(seconds)``."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def open_ticket(requester: User, **kwargs: object) -> Ticket:
    from nixflow import services

    return services.ticket_create(requester=requester, title="VPN down", actor=requester, **kwargs)
