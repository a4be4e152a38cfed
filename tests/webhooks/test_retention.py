"""The delivery log's retention: old finished deliveries are purged in batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django.fixtures import Settings

from webhooks import services, tasks
from webhooks.models import Delivery, Endpoint, Status

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/in"
_events = iter(range(1_000_000, 2_000_000))


@pytest.fixture(autouse=True)
def _no_recent_purge() -> Iterator[None]:
    cache.delete(tasks.PURGE_CACHE_KEY)
    yield
    cache.delete(tasks.PURGE_CACHE_KEY)


@pytest.fixture
def endpoint(make_endpoint: Callable[..., tuple[Endpoint, str]]) -> Endpoint:
    return make_endpoint(URL)[0]


def delivery(endpoint: Endpoint, status: str, days_ago: float) -> Delivery:
    """A delivery whose last attempt (and creation) was ``days_ago`` days ago."""
    when = timezone.now() - timedelta(days=days_ago)
    return Delivery.objects.create(
        endpoint=endpoint,
        event_id=next(_events),
        event_type="demo.happened",
        ordering_key="NF-1",
        status=status,
        attempts=0 if status == Status.PENDING else 1,
        created=when,
        next_attempt_at=when,
        last_attempt_at=None if status == Status.PENDING else when,
        delivered_at=when if status == Status.DELIVERED else None,
    )


def remaining() -> set[int]:
    return set(Delivery.objects.values_list("pk", flat=True))


def test_old_finished_deliveries_go_open_and_recent_ones_stay(
    endpoint: Endpoint, settings: Settings
) -> None:
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 30
    old_delivered = delivery(endpoint, Status.DELIVERED, 40)
    old_gave_up = delivery(endpoint, Status.GAVE_UP, 31)
    old_pending = delivery(endpoint, Status.PENDING, 60)
    old_failing = delivery(endpoint, Status.FAILED, 45)
    recent = delivery(endpoint, Status.DELIVERED, 29)
    newest = delivery(endpoint, Status.GAVE_UP, 29.5)  # highest id: the page's latest

    assert services.deliveries_purge() == 2

    assert remaining() == {old_pending.pk, old_failing.pk, recent.pk, newest.pk}
    assert old_delivered.pk not in remaining()
    assert old_gave_up.pk not in remaining()


def test_a_delivery_created_long_ago_but_sent_again_lately_stays(endpoint: Endpoint) -> None:
    resent = delivery(endpoint, Status.DELIVERED, 90)
    Delivery.objects.filter(pk=resent.pk).update(last_attempt_at=timezone.now())
    delivery(endpoint, Status.DELIVERED, 1)

    assert services.deliveries_purge(days=30) == 0
    assert resent.pk in remaining()


def test_each_endpoint_keeps_its_newest_delivery_however_old(
    make_endpoint: Callable[..., tuple[Endpoint, str]],
) -> None:
    quiet, _ = make_endpoint(URL, name="Quiet")
    busy, _ = make_endpoint(URL, name="Busy")
    delivery(quiet, Status.DELIVERED, 100)
    quiet_last = delivery(quiet, Status.GAVE_UP, 90)
    delivery(busy, Status.DELIVERED, 100)
    busy_last = delivery(busy, Status.DELIVERED, 95)

    assert services.deliveries_purge(days=30) == 2

    assert remaining() == {quiet_last.pk, busy_last.pk}


def test_a_large_log_is_deleted_in_bounded_batches(endpoint: Endpoint) -> None:
    old = [delivery(endpoint, Status.DELIVERED, 40).pk for _ in range(7)]
    newest = delivery(endpoint, Status.DELIVERED, 1)

    with CaptureQueriesContext(connection) as queries:
        assert services.deliveries_purge(days=30, batch_size=3) == 7

    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "webhooks_delivery"')]
    assert len(deletes) == 3  # 3 + 3 + 1, each in its own transaction
    assert sum(1 for q in queries if q["sql"].startswith("SAVEPOINT")) >= 3
    assert remaining() == {newest.pk}
    assert not set(old) & remaining()


def test_each_batch_finds_its_rows_through_the_finished_index(endpoint: Endpoint) -> None:
    delivery(endpoint, Status.DELIVERED, 40)
    delivery(endpoint, Status.GAVE_UP, 35)
    delivery(endpoint, Status.DELIVERED, 1)

    with CaptureQueriesContext(connection) as queries:
        assert services.deliveries_purge(days=30) == 2

    (select,) = [
        q["sql"] for q in queries if q["sql"].startswith("SELECT") and "FOR UPDATE" in q["sql"]
    ]
    with connection.cursor() as cursor:
        # Three rows read fastest from the table; with sequential scans off, the planner
        # says whether the partial index can serve the batch's filter (it must: a table
        # of millions of deliveries is otherwise read whole by every batch).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {select}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using webhooks_delivery_finished" in plan
    assert "Index Cond: (COALESCE(last_attempt_at, created) <" in plan


def test_zero_days_keeps_every_delivery(endpoint: Endpoint, settings: Settings) -> None:
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 0
    rows = {delivery(endpoint, Status.DELIVERED, 400).pk for _ in range(2)}
    delivery(endpoint, Status.DELIVERED, 1)

    assert services.deliveries_purge() == 0
    assert services.deliveries_purge(days=0) == 0
    assert tasks.purge_if_due() is None
    tasks.deliver_due()
    assert rows <= remaining()


def test_the_setting_sets_the_retention(endpoint: Endpoint, settings: Settings) -> None:
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 10
    gone = delivery(endpoint, Status.DELIVERED, 11)
    kept = delivery(endpoint, Status.DELIVERED, 9)
    delivery(endpoint, Status.DELIVERED, 0)

    assert services.deliveries_purge() == 1
    assert gone.pk not in remaining()
    assert kept.pk in remaining()


def test_the_beat_sweep_purges_at_most_once_per_interval(
    endpoint: Endpoint, settings: Settings
) -> None:
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 30
    first = delivery(endpoint, Status.DELIVERED, 40)
    delivery(endpoint, Status.DELIVERED, 1)

    tasks.deliver_due()
    assert first.pk not in remaining()

    second = delivery(endpoint, Status.GAVE_UP, 40)
    delivery(endpoint, Status.DELIVERED, 1)
    tasks.deliver_due()  # a minute later: purged within the interval already
    assert second.pk in remaining()
    assert tasks.purge_if_due() is None

    cache.delete(tasks.PURGE_CACHE_KEY)  # the interval has passed
    assert tasks.purge_if_due() == 1
    assert second.pk not in remaining()


def test_the_command_prints_how_many_it_deleted(endpoint: Endpoint, settings: Settings) -> None:
    settings.WEBHOOKS_DELIVERY_RETENTION_DAYS = 30
    delivery(endpoint, Status.DELIVERED, 40)
    week_old = delivery(endpoint, Status.GAVE_UP, 7)
    delivery(endpoint, Status.DELIVERED, 0)

    out = StringIO()
    call_command("webhooks_purge", stdout=out)
    assert out.getvalue().strip() == "Deleted 1 webhook deliveries."
    assert week_old.pk in remaining()

    out = StringIO()
    call_command("webhooks_purge", "--days", "5", stdout=out)
    assert out.getvalue().strip() == "Deleted 1 webhook deliveries."
    assert week_old.pk not in remaining()

    out = StringIO()
    call_command("webhooks_purge", "--days", "0", stdout=out)
    assert out.getvalue().strip() == "Deleted 0 webhook deliveries."
    with pytest.raises(CommandError, match="0 or more"):
        call_command("webhooks_purge", "--days", "-1", stdout=StringIO())
