"""The transactional outbox: rows written with the change, published by the relay.

The relay's publisher is the real ``send_task`` where a broker's behaviour matters (a
port with nothing listening); elsewhere a recording publisher stands in for the broker.
Real processes and a real broker are in tests/test_faults.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from celery import current_app
from django.db import connection, transaction
from django.utils import timezone
from pytest_django.fixtures import Settings

from eventlog import context, outbox
from eventlog.models import OutboxMessage
from tests.support.processes import free_port

Published = list[tuple[str, dict[str, Any], uuid.UUID | None]]


class BrokerDownError(ConnectionRefusedError):
    pass


def recorder(into: Published, fail_after: int | None = None) -> outbox.Publisher:
    def publish(task: str, kwargs: dict[str, Any], correlation_id: uuid.UUID | None) -> None:
        if fail_after is not None and len(into) >= fail_after:
            raise BrokerDownError("Connection refused")
        into.append((task, kwargs, correlation_id))

    return publish


@transaction.atomic
def enqueue_then_fail(task: str) -> None:
    outbox.outbox_enqueue(task=task, kwargs={"n": 2})
    raise RuntimeError


@pytest.mark.django_db
def test_a_message_is_written_with_its_transaction_and_gone_when_it_rolls_back() -> None:
    with transaction.atomic():
        outbox.outbox_enqueue(task="tests.kept", kwargs={"n": 1})
    with pytest.raises(RuntimeError):
        enqueue_then_fail("tests.dropped")
    assert list(OutboxMessage.objects.values_list("task", "kwargs")) == [("tests.kept", {"n": 1})]


@pytest.mark.django_db
def test_a_key_queues_its_message_once() -> None:
    for _ in range(3):
        outbox.outbox_enqueue(task="tests.once", kwargs={}, key="tests:1")
    outbox.outbox_enqueue(task="tests.unkeyed", kwargs={})
    outbox.outbox_enqueue(task="tests.unkeyed", kwargs={})
    assert OutboxMessage.objects.filter(key="tests:1").count() == 1
    assert OutboxMessage.objects.filter(task="tests.unkeyed").count() == 2


@pytest.mark.django_db
def test_the_relay_publishes_due_rows_in_order_with_their_correlation_and_marks_them() -> None:
    correlation = uuid.uuid4()
    with context.correlated(correlation):
        for n in range(3):
            outbox.outbox_enqueue(task="tests.task", kwargs={"n": n})
    published: Published = []

    result = outbox.relay_once(publish=recorder(published))

    assert result.published == 3
    assert published == [("tests.task", {"n": n}, correlation) for n in range(3)]
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()
    assert outbox.relay_once(publish=recorder(published)).published == 0  # not twice


@pytest.mark.django_db
def test_a_broker_error_keeps_the_row_with_its_error_and_backs_off_then_publishes(
    settings: Settings,
) -> None:
    settings.EVENTLOG_OUTBOX_MAX_BACKOFF_SECONDS = 30
    for n in range(3):
        outbox.outbox_enqueue(task="tests.task", kwargs={"n": n})
    published: Published = []

    result = outbox.relay_once(publish=recorder(published, fail_after=1))

    assert (result.published, result.failed) == (1, True)
    assert "Connection refused" in result.error
    failed = OutboxMessage.objects.get(kwargs__n=1)
    assert (failed.attempts, failed.published_at) == (1, None)
    assert "BrokerDownError: Connection refused" in failed.last_error
    assert failed.available_at > timezone.now()  # waits out its backoff
    untouched = OutboxMessage.objects.get(kwargs__n=2)
    assert (untouched.attempts, untouched.published_at) == (0, None)

    # The broker is back: the row that is due goes at once, the failed one after its wait.
    assert outbox.relay_once(publish=recorder(published)).published == 1
    OutboxMessage.objects.filter(pk=failed.pk).update(available_at=timezone.now())
    assert outbox.relay_once(publish=recorder(published)).published == 1
    assert sorted(kwargs["n"] for _, kwargs, _ in published) == [0, 1, 2]


def test_backoff_doubles_up_to_its_cap(settings: Settings) -> None:
    settings.EVENTLOG_OUTBOX_MAX_BACKOFF_SECONDS = 10
    assert [outbox.backoff(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def use_broker(url: str) -> str:
    """Point this process's Celery app at ``url``; the URL it used before."""
    previous = current_app.conf.broker_url
    current_app.conf.broker_url = url
    current_app._pool = None  # the next publish takes a pool for the new URL
    current_app.amqp._producer_pool = None
    return previous


@pytest.mark.django_db
def test_a_dead_broker_fails_the_publish_and_keeps_the_row_for_later() -> None:
    outbox.outbox_enqueue(task="eventlog.tasks.seal_events", kwargs={})
    original = use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        started = time.monotonic()
        result = outbox.relay_once()
        elapsed = time.monotonic() - started
    finally:
        use_broker(original)
    assert result.failed, result
    assert "Connection refused" in result.error
    # No retry loop of Celery's: only the Redis client's own few reconnects (~6 s here),
    # and that in the relay, never in a request.
    assert elapsed < 15
    row = OutboxMessage.objects.get()
    assert (row.attempts, row.published_at) == (1, None)


@pytest.mark.django_db
def test_run_inline_runs_the_tasks_and_what_they_queue(settings: Settings) -> None:
    from sla.notifications import SEND_TASK

    outbox.outbox_enqueue(
        task=SEND_TASK, kwargs={"subject": "Hi", "body": "Body", "to": ["a@example.com"]}
    )
    from django.core import mail

    assert outbox.run_inline() == 1
    assert [m.subject for m in mail.outbox] == ["Hi"]
    assert outbox.run_inline() == 0


@pytest.mark.django_db
def test_published_rows_are_purged_after_the_retention_and_pending_ones_never() -> None:
    outbox.outbox_enqueue(task="tests.old", kwargs={})
    outbox.outbox_enqueue(task="tests.new", kwargs={})
    outbox.outbox_enqueue(task="tests.pending", kwargs={})
    now = timezone.now()
    OutboxMessage.objects.filter(task="tests.old").update(published_at=now - timedelta(days=3))
    OutboxMessage.objects.filter(task="tests.new").update(published_at=now)
    assert outbox.purge_published(older_than=timedelta(days=2)) == 1
    left = set(OutboxMessage.objects.values_list("task", flat=True))
    assert left == {"tests.new", "tests.pending"}


@pytest.mark.django_db(transaction=True)
def test_two_relays_share_the_rows_without_publishing_any_twice() -> None:
    outbox.outbox_enqueue_many(
        messages=[outbox.Message(task="tests.task", kwargs={"n": n}) for n in range(200)]
    )
    published: Published = []
    lock = threading.Lock()

    def slow(task: str, kwargs: dict[str, Any], correlation_id: uuid.UUID | None) -> None:
        time.sleep(0.002)  # keep each batch's rows locked a while
        with lock:
            published.append((task, kwargs, correlation_id))

    def relay() -> None:
        try:
            while outbox.relay_once(batch_size=10, publish=slow).published:
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    numbers = [kwargs["n"] for _, kwargs, _ in published]
    assert sorted(numbers) == list(range(200))


@pytest.mark.django_db(transaction=True)
def test_a_commit_wakes_a_listening_relay_and_a_rollback_does_not() -> None:
    dsn = connection.get_connection_params()
    dsn.pop("cursor_factory", None)
    dsn.pop("context", None)
    dsn.pop("prepare_threshold", None)
    dsn.pop("server_side_binding", None)
    with psycopg.connect(**dsn, autocommit=True) as listener:
        listener.execute(f"LISTEN {outbox.CHANNEL}")
        with pytest.raises(RuntimeError):
            enqueue_then_fail("tests.dropped")
        assert list(listener.notifies(timeout=0.3)) == []
        with transaction.atomic():
            outbox.outbox_enqueue(task="tests.first", kwargs={})
            outbox.outbox_enqueue(task="tests.second", kwargs={})
        woken = list(listener.notifies(timeout=2, stop_after=1))
        assert [n.channel for n in woken] == [outbox.CHANNEL]
        assert list(listener.notifies(timeout=0.3)) == []  # one per transaction


@pytest.mark.django_db(transaction=True)
def test_the_relay_loop_publishes_a_commit_promptly_and_stops_when_asked() -> None:
    published: Published = []
    stop = threading.Event()

    def relay() -> None:
        try:
            outbox.relay_forever(stop=stop.is_set, poll=30, publish=recorder(published))
        finally:
            connection.close()

    thread = threading.Thread(target=relay)
    thread.start()
    try:
        time.sleep(0.5)  # the relay is waiting now, with a 30 s poll
        committed = time.monotonic()
        outbox.outbox_enqueue(task="tests.task", kwargs={"n": 1})
        while not published and time.monotonic() - committed < 10:
            time.sleep(0.01)
        latency = time.monotonic() - committed
        assert published == [("tests.task", {"n": 1}, None)]
        assert latency < 2  # woken by the NOTIFY, not by the 30 s poll
    finally:
        stop.set()
        outbox.outbox_enqueue(task="tests.wake", kwargs={})  # ends the wait
        thread.join(10)
    assert not thread.is_alive()
