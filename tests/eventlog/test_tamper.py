"""Append-only at the database, and tamper evidence for what the database owner can still
do with the triggers off: verify_eventlog names the first bad event or seal."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from eventlog import sealing
from eventlog.models import EventLog, Seal
from eventlog.services import event_record
from nixflow.models import User

pytestmark = pytest.mark.django_db


def record_events(subject: User, count: int) -> list[EventLog]:
    with transaction.atomic():
        return [
            event_record(type="test.happened", subject=subject, actor=None, payload={"n": n})
            for n in range(count)
        ]


@contextmanager
def triggers_off() -> Iterator[None]:
    """What an attacker with the owner's rights does first (needs a superuser)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = origin")


def sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def verify_message() -> str:
    with pytest.raises(CommandError) as error:
        call_command("verify_eventlog")
    return str(error.value)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE eventlog_eventlog SET payload = '{}'",
        "DELETE FROM eventlog_eventlog",
        "TRUNCATE eventlog_eventlog CASCADE",
        "UPDATE eventlog_seal SET event_count = 0",
        "DELETE FROM eventlog_seal",
        "TRUNCATE eventlog_seal",
    ],
)
def test_the_database_refuses_to_change_or_remove_events_and_seals(
    requester: User, statement: str
) -> None:
    record_events(requester, 3)
    assert sealing.seal_pending()
    with pytest.raises(DatabaseError, match="is append-only"), transaction.atomic():
        sql(statement)
    assert EventLog.objects.filter(type="test.happened").count() == 3
    assert Seal.objects.count() == 1


def test_the_database_sets_recorded_at_and_the_row_hash_not_the_writer(requester: User) -> None:
    with transaction.atomic():
        event = event_record(type="test.happened", subject=requester, actor=None)
    stored = EventLog.objects.get(pk=event.pk)
    assert len(bytes(stored.row_hash)) == 32
    assert stored.recorded_at >= stored.occurred_at
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO eventlog_eventlog (type, occurred_at, recorded_at, actor_label, "
            "subject_app, subject_model, subject_id, ticket_key, payload, correlation_id, "
            "row_hash) VALUES ('test.forged', now(), '2000-01-01', 'x', 'a', 'b', '1', '', "
            "'{}', gen_random_uuid(), '\\x00') RETURNING recorded_at, row_hash"
        )
        recorded_at, row_hash = cursor.fetchone()
    assert recorded_at.year != 2000
    assert bytes(row_hash) != b"\x00"


def test_an_intact_log_verifies_clean_and_seals_chain(requester: User) -> None:
    record_events(requester, 25)
    first = sealing.seal_pending(max_events=10)
    record_events(requester, 5)
    second = sealing.seal_pending(max_events=10)

    assert [s.event_count for s in first] == [10, 10, 5]
    assert [s.event_count for s in second] == [5]
    seals = list(Seal.objects.order_by("first_event_id"))
    for before, after in itertools.pairwise(seals):
        assert after.first_event_id == before.last_event_id + 1
        assert bytes(after.previous_digest) == bytes(before.digest)
    assert sealing.seal_pending() == []  # nothing new: no empty seal
    call_command("verify_eventlog")  # raises CommandError on any problem


def test_ids_of_rolled_back_events_are_sealed_as_gaps_not_reported_missing(
    requester: User,
) -> None:
    # Seal what earlier tests' rolled-back transactions left in the sequence.
    record_events(requester, 1)
    sealing.seal_pending()
    record_events(requester, 2)
    with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
        event_record(type="test.happened", subject=requester, actor=None)
        raise RuntimeError("rolled back")
    record_events(requester, 2)

    (seal,) = sealing.seal_pending()
    assert len(seal.gaps) == 1
    assert seal.event_count == seal.last_event_id - seal.first_event_id
    call_command("verify_eventlog")


def test_verify_names_an_edited_event(requester: User) -> None:
    events = record_events(requester, 5)
    sealing.seal_pending()
    with triggers_off():
        sql("UPDATE eventlog_eventlog SET payload = '{\"n\": 99}' WHERE id = %s", [events[2].pk])

    message = verify_message()
    assert f"Event #{events[2].pk} was altered" in message


def test_verify_names_an_edited_event_even_before_it_is_sealed(requester: User) -> None:
    events = record_events(requester, 3)
    with triggers_off():
        sql("UPDATE eventlog_eventlog SET actor_label = 'mallory' WHERE id = %s", [events[0].pk])
    assert f"Event #{events[0].pk} was altered" in verify_message()


def test_verify_names_a_deleted_event(requester: User) -> None:
    events = record_events(requester, 5)
    (seal,) = sealing.seal_pending()
    with triggers_off():
        sql("DELETE FROM eventlog_eventlog WHERE id = %s", [events[3].pk])

    message = verify_message()
    assert f"Event #{events[3].pk} is missing: it was sealed by Seal #{seal.pk}" in message


def test_verify_names_reordered_events(requester: User) -> None:
    events = record_events(requester, 5)
    sealing.seal_pending()
    a, b = events[1].pk, events[2].pk
    with triggers_off():  # swap the two events' places in the log, hashes and all
        sql("UPDATE eventlog_eventlog SET id = -1 WHERE id = %s", [a])
        sql("UPDATE eventlog_eventlog SET id = %s WHERE id = %s", [a, b])
        sql("UPDATE eventlog_eventlog SET id = %s WHERE id = -1", [b])

    message = verify_message()
    assert f"Event #{a} was altered" in message


def test_verify_names_a_rehashed_event_by_its_seal(requester: User) -> None:
    events = record_events(requester, 5)
    (seal,) = sealing.seal_pending()
    with triggers_off():  # edit and recompute the row hash: only the seal can tell
        sql("UPDATE eventlog_eventlog SET payload = '{}' WHERE id = %s", [events[1].pk])
        sql(
            "UPDATE eventlog_eventlog AS e SET row_hash = eventlog_row_hash(e) WHERE id = %s",
            [events[1].pk],
        )

    message = verify_message()
    assert f"Seal #{seal.pk} (events {seal.first_event_id}-{seal.last_event_id})" in message
    assert "does not match its events" in message


def test_verify_notices_a_removed_seal_and_an_inserted_event(requester: User) -> None:
    record_events(requester, 6)
    first, second = sealing.seal_pending(max_events=3)
    with triggers_off():
        sql("DELETE FROM eventlog_seal WHERE id = %s", [first.pk])
    assert f"Seal #{second.pk}" in verify_message()
    assert "a seal was removed" in verify_message()


def test_verify_command_seals_first_when_asked_and_reports_counts(
    requester: User, capsys: pytest.CaptureFixture[str]
) -> None:
    record_events(requester, 4)
    call_command("verify_eventlog", "--seal")
    out = capsys.readouterr().out
    assert "Sealed 1 new range(s)." in out
    assert "Event log intact:" in out
    assert Seal.objects.count() == 1
