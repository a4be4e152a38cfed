"""Concurrent writers append without waiting for each other or the sealer, and the log
they leave verifies clean."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from eventlog import sealing
from eventlog.models import EventLog, Seal
from eventlog.services import event_record
from tests.factories import UserFactory

WRITERS = 8
EVENTS = 10_000


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_writers_and_a_sealer_leave_a_log_that_verifies_clean() -> None:
    subject = UserFactory(username="subject")
    per_writer = EVENTS // WRITERS
    start = threading.Barrier(WRITERS + 1)
    done = threading.Event()
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait()
            for n in range(per_writer):
                # Mostly single events, some pairs, and every 25th transaction rolls back:
                # its ids become gaps the sealer must recognise as such.
                with transaction.atomic():
                    event_record(
                        type="test.appended", subject=subject, actor=None,
                        payload={"writer": number, "n": n},
                    )  # fmt: skip
                    if n % 25 == 0:
                        transaction.set_rollback(True)
                if n % 25 == 0:
                    with transaction.atomic():
                        event_record(
                            type="test.appended", subject=subject, actor=None,
                            payload={"writer": number, "n": n, "retry": True},
                        )  # fmt: skip
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def sealer() -> None:
        try:
            start.wait()
            while not done.is_set():
                sealing.seal_pending(max_events=500)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    seal_thread = threading.Thread(target=sealer)
    for thread in [*threads, seal_thread]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    seal_thread.join()
    assert errors == []

    sealing.seal_pending()
    assert EventLog.objects.filter(type="test.appended").count() == EVENTS
    problems, events, seals = sealing.verify()
    assert problems == []
    assert events == EVENTS
    assert seals == Seal.objects.count() > 1
    last = Seal.objects.order_by("-last_event_id").first()
    assert last.last_event_id == EventLog.objects.order_by("-id").first().pk
    assert sum(Seal.objects.values_list("event_count", flat=True)) == EVENTS
    call_command("verify_eventlog")
