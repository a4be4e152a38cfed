"""Subscribers run after commit, at least once, and a repeat delivery is harmless."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.db import transaction

from eventlog import subscribers, tasks
from eventlog.models import Delivery, EventLog
from eventlog.services import event_record
from nixflow import services
from nixflow.models import User

pytestmark = pytest.mark.django_db

Capture = Callable[..., object]


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


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Event ids handed to Celery (instead of a broker)."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.deliver_event, "delay", ids.append)
    return ids


def comment(requester: User, agent: User) -> EventLog:
    ticket = services.ticket_create(requester=requester, title="Slow", actor=requester)
    services.comment_create(ticket=ticket, author=agent, body="Looking")
    return EventLog.objects.get(ticket_key=ticket.key, type="ticket.commented")


def test_delivery_is_queued_only_after_commit_and_only_for_subscribed_types(
    requester: User,
    agent: User,
    received: list[int],
    queued: list[int],
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        event = comment(requester, agent)
        assert queued == []  # not before commit
    assert queued == [event.pk]  # ticket.created has no subscriber: not queued
    assert len(callbacks) == 1


def test_a_rolled_back_change_queues_nothing(
    requester: User,
    agent: User,
    received: list[int],
    queued: list[int],
    django_capture_on_commit_callbacks: Capture,
) -> None:
    @transaction.atomic
    def comment_then_fail() -> None:
        comment(requester, agent)
        raise RuntimeError

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        comment_then_fail()
    assert queued == []


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


def test_redelivery_requeues_settled_events_a_subscriber_has_not_had(
    requester: User, agent: User, received: list[int], queued: list[int]
) -> None:
    delivered = comment(requester, agent)
    tasks.deliver_event(delivered.pk)
    missed = comment(requester, agent)
    fresh = comment(requester, agent)
    # Pretend the first two happened five minutes ago; `fresh` still has its own task.
    with transaction.atomic():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                "UPDATE eventlog_eventlog SET occurred_at = occurred_at - %s WHERE id = ANY(%s)",
                [timedelta(minutes=5), [delivered.pk, missed.pk]],
            )

    assert tasks.redeliver_missed() == 1
    assert queued == [missed.pk]
    assert fresh.pk not in queued


def test_an_event_whose_transaction_rolled_back_is_skipped_by_the_task() -> None:
    assert tasks.deliver_event(10**12) == []
