"""The clock and breach lists at any size: keyset pages along their indexes, found by
ticket key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from nixflow.models import User
from sla.admin import SLABreachAdmin, SLAMetricAdmin
from sla.models import MetricType, SLABreach, SLAMetric, SLAStatus
from tests.factories import TicketFactory
from tests.list_pages import rows, small_pages, walk
from tests.sla.conftest import logged_in
from tests.sla.factories import SLABreachFactory, SLAMetricFactory, SLAPolicyFactory


@pytest.fixture
def desk(agent: User) -> Client:
    """The admin as an agent (this package's ``agent_client`` is the API's)."""
    return logged_in(agent)


@pytest.fixture
def pages(monkeypatch: pytest.MonkeyPatch) -> None:
    small_pages(monkeypatch, SLAMetricAdmin, SLABreachAdmin, per_page=3, numbered=2)


def test_the_clock_list_pages_by_keys_and_finds_a_tickets_clocks(desk: Client, pages: None) -> None:
    policy = SLAPolicyFactory()
    tickets = TicketFactory.create_batch(4)
    for ticket in tickets:
        for metric_type in (MetricType.FIRST_RESPONSE, MetricType.RESOLUTION):
            SLAMetricFactory(ticket=ticket, policy=policy, metric_type=metric_type)
    url = reverse("admin:sla_slametric_changelist")

    seen, offsets = walk(desk, url)

    assert seen == list(SLAMetric.objects.order_by("-id"))
    assert max(offsets) <= 3
    found = rows(desk.get(url, {"q": tickets[1].key}))
    assert {metric.ticket_id for metric in found} == {tickets[1].pk}


def test_the_breach_list_pages_latest_first_by_keys(desk: Client, pages: None) -> None:
    policy = SLAPolicyFactory()
    now = timezone.now()
    for minutes in (5, 4, 4, 3, 2, 2, 1, 0):
        metric = SLAMetricFactory(
            policy=policy, status=SLAStatus.BREACHED, deadline=now - timedelta(minutes=minutes)
        )
        SLABreachFactory(metric=metric)
    url = reverse("admin:sla_slabreach_changelist")

    seen, offsets = walk(desk, url)

    assert seen == list(SLABreach.objects.order_by("-breached_at", "-id"))
    assert max(offsets) <= 3
