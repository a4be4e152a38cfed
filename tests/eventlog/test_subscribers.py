"""Subscribers run after commit, at least once, and a repeat delivery is harmless.

Deliveries are queued as outbox rows in the recording transaction; the relay that
publishes them is tested in test_outbox.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from pytest_django.fixtures import Settings

from eventlog import subscribers, tasks
from eventlog.models import Delivery, EventLog, OutboxMessage
from eventlog.services import event_record
from nixflow import services
from nixflow.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """A subscriber of ticket.commented that remembers the event ids it was given, alone
    in a registry of its own (the apps' real subscribers are tested with their apps)."""
    monkeypatch.setattr(subscribers, "_registry", {})
    seen: list[int] = []

    @subscribers.subscribe("ticket.commented", name="tests.recorder")
    def recorder(event: EventLog) -> None:
        seen.append(event.pk)

    yield seen
    subscribers.unsubscribe("ticket.commented", name="tests.recorder")


def queued() -> list[dict[str, object]]:
    """The deliveries waiting in the outbox, as their task's keyword arguments."""
    return [
        row.kwargs
        for row in OutboxMessage.objects.filter(
            task=subscribers.DELIVER_TASK, published_at__isnull=True
        ).order_by("id")
    ]


def comment(requester: User, agent: User) -> EventLog:
    ticket = services.ticket_create(requester=requester, title="Slow", actor=requester)
    services.comment_create(ticket=ticket, author=agent, body="Looking")
    return EventLog.objects.get(ticket_key=ticket.key, type="ticket.commented")


def test_delivery_is_written_to_the_outbox_with_the_change_only_for_subscribed_types(
    requester: User, agent: User, received: list[int]
) -> None:
    event = comment(requester, agent)
    # ticket.created has no subscriber here: only the comment's delivery is queued, one
    # row per (event, subscriber), under a key that queues it once.
    assert queued() == [{"event_id": event.pk, "subscriber": "tests.recorder"}]
    row = OutboxMessage.objects.get(task=subscribers.DELIVER_TASK)
    assert row.key == f"event:{event.pk}:tests.recorder"
    assert row.correlation_id == event.correlation_id


def test_a_rolled_back_change_queues_nothing(
    requester: User, agent: User, received: list[int]
) -> None:
    @transaction.atomic
    def comment_then_fail() -> None:
        comment(requester, agent)
        raise RuntimeError

    with pytest.raises(RuntimeError):
        comment_then_fail()
    assert queued() == []
    assert not OutboxMessage.objects.exists()


def test_each_subscriber_gets_its_own_delivery_and_task(
    requester: User, agent: User, received: list[int]
) -> None:
    calls: list[int] = []
    subscribers.subscribe("ticket.commented", name="tests.second")(lambda e: calls.append(e.pk))
    try:
        event = comment(requester, agent)
        assert {row["subscriber"] for row in queued()} == {"tests.recorder", "tests.second"}
        assert tasks.deliver_event(event.pk, "tests.second") == ["tests.second"]
        assert received == []  # the other subscriber waits for its own task
        assert tasks.deliver_event(event.pk, "tests.recorder") == ["tests.recorder"]
        assert (received, calls) == ([event.pk], [event.pk])
    finally:
        subscribers.unsubscribe("ticket.commented", name="tests.second")


def test_a_repeated_delivery_runs_the_handler_once(
    requester: User, agent: User, received: list[int]
) -> None:
    event = comment(requester, agent)
    assert tasks.deliver_event(event.pk) == ["tests.recorder"]
    assert tasks.deliver_event(event.pk) == []
    assert received == [event.pk]
    assert Delivery.objects.filter(event=event, subscriber="tests.recorder").count() == 1


def test_a_failing_handler_is_not_marked_delivered_and_does_not_block_others(
    requester: User, agent: User, received: list[int]
) -> None:
    calls = []

    @subscribers.subscribe("ticket.commented", name="tests.flaky")
    def flaky(event: EventLog) -> None:
        calls.append(event.pk)
        if len(calls) == 1:
            raise ConnectionError("mail server down")

    try:
        event = comment(requester, agent)
        with pytest.raises(ConnectionError):
            subscribers.deliver(event)
        assert received == [event.pk]
        assert not Delivery.objects.filter(event=event, subscriber="tests.flaky").exists()

        assert subscribers.deliver(event) == ["tests.flaky"]  # the retry
        assert calls == [event.pk, event.pk]
    finally:
        subscribers.unsubscribe("ticket.commented", name="tests.flaky")


def test_a_handlers_writes_roll_back_with_its_failure(
    requester: User, agent: User, received: list[int]
) -> None:
    @subscribers.subscribe("ticket.commented", name="tests.writer")
    def writer(event: EventLog) -> None:
        event_record(type="test.side_effect", subject=agent, actor=None)
        raise ValueError("after writing")

    try:
        event = comment(requester, agent)
        with pytest.raises(ValueError, match="after writing"):
            subscribers.deliver(event)
    finally:
        subscribers.unsubscribe("ticket.commented", name="tests.writer")
    assert not EventLog.objects.filter(type="test.side_effect").exists()


def age(event: EventLog, minutes: int) -> None:
    """Pretend ``event`` happened, and its delivery was published, ``minutes`` ago."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE eventlog_eventlog SET occurred_at = occurred_at - %s WHERE id = %s",
            [timedelta(minutes=minutes), event.pk],
        )
    OutboxMessage.objects.filter(kwargs__event_id=event.pk).update(
        published_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_redelivery_requeues_deliveries_published_long_ago_that_never_ran(
    requester: User, agent: User, received: list[int], settings: Settings
) -> None:
    settings.EVENTLOG_REDELIVERY_SETTLE_SECONDS = 600
    delivered = comment(requester, agent)
    tasks.deliver_event(delivered.pk, "tests.recorder")
    lost = comment(requester, agent)  # published, then lost (a broker restart, say)
    waiting = comment(requester, agent)  # never published: the broker is still down
    fresh = comment(requester, agent)  # published a minute ago: its task may be queued
    for event in (delivered, lost):
        age(event, 20)
    age(waiting, 20)
    OutboxMessage.objects.filter(kwargs__event_id=waiting.pk).update(published_at=None)
    age(fresh, 1)

    assert tasks.redeliver_missed() == 1
    assert queued() == [
        {"event_id": lost.pk, "subscriber": "tests.recorder"},
        {"event_id": waiting.pk, "subscriber": "tests.recorder"},
    ]
    assert tasks.redeliver_missed() == 0  # queued already: not twice
    assert OutboxMessage.objects.filter(kwargs__event_id=lost.pk).count() == 1


def test_an_event_whose_transaction_rolled_back_is_skipped_by_the_task() -> None:
    assert tasks.deliver_event(10**12) == []
