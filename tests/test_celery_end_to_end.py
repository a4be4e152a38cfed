"""The whole background path with real processes: a change commits, the outbox relay
publishes its delivery, the Celery worker delivers the event to a subscriber, beat
schedules the sealer, the log verifies.

Uses the default broker (kombu's filesystem transport under the test's var/ directory),
as `make run` does with no CELERY_BROKER_URL.
"""

from __future__ import annotations

import sys
import time

import pytest

from tests.support.processes import (
    RELAY_READY,
    ScratchDatabase,
    celery_beat_cmd,
    celery_worker_cmd,
    relay_cmd,
    run,
    running,
)

pytestmark = pytest.mark.subprocess

CREATE_AND_COMMENT = """
import uuid
from eventlog import context
from nixflow import services
from nixflow.models import Role, User
from tests.factories import default_workflow
default_workflow()
requester = services.user_create(username="req", email="req@example.com", role=Role.REQUESTER)
agent = services.user_create(username="ag", email="ag@example.com", role=Role.AGENT)
with context.correlated(uuid.UUID("{correlation}")):
    ticket = services.ticket_create(requester=requester, title="Printer", actor=requester)
    services.comment_create(ticket=ticket, author=agent, body="On it")
print(ticket.key)
"""


def wait_for(db: ScratchDatabase, query: str, timeout: float = 60) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        rows = db.sql(query)
        if rows and all(rows[0]):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {query}")
        time.sleep(0.3)


def test_worker_delivers_events_after_commit_and_beat_seals_the_log(
    scratch_db: ScratchDatabase,
) -> None:
    env = scratch_db.env(EVENTLOG_SEAL_INTERVAL_SECONDS="1")
    correlation = "6f1f9a8e-2b7c-4d55-9a0e-0d4c3b2a1f00"
    with (
        running(celery_worker_cmd(), env, " ready."),
        running(celery_beat_cmd(scratch_db.var_dir), env, "beat: Ticking with max interval"),
        running(relay_cmd(), env, RELAY_READY),
    ):
        created = run(
            [sys.executable, "manage.py", "shell", "-c",
             CREATE_AND_COMMENT.format(correlation=correlation)],
            env,
        )  # fmt: skip
        assert created.returncode == 0, created.output

        # The worker ran the subscriber: its own event, in the request's correlation.
        (echo,) = wait_for(
            scratch_db,
            "SELECT e.correlation_id::text, d.subscriber FROM eventlog_eventlog AS e "
            "JOIN eventlog_delivery AS d ON d.subscriber = 'incident.echo' "
            "WHERE e.type = 'incident.echoed'",
        )
        assert echo == (correlation, "incident.echo")

        # Beat scheduled the sealer and the worker sealed every event.
        wait_for(
            scratch_db,
            "SELECT (SELECT max(last_event_id) FROM eventlog_seal) "
            "= (SELECT max(id) FROM eventlog_eventlog)",
        )

    # Two users created, the ticket, the comment, and the subscriber's echo.
    types = [row[0] for row in scratch_db.sql("SELECT type FROM eventlog_eventlog ORDER BY id")]
    assert types == [
        "user.created", "user.created", "ticket.created", "ticket.commented", "incident.echoed",
    ]  # fmt: skip
    sealed = scratch_db.sql("SELECT sum(event_count) FROM eventlog_seal")[0][0]
    assert sealed == len(types)
    verified = scratch_db.manage("verify_eventlog")
    assert verified.returncode == 0, verified.output
    assert f"Event log intact: {len(types)} events" in verified.output


def test_migrate_creates_the_sla_monitors_beat_schedule(scratch_db: ScratchDatabase) -> None:
    # A fresh clone of the migrated template: exactly what `migrate` leaves on deploy.
    rows = scratch_db.sql(
        "SELECT t.task, t.enabled, i.every, i.period FROM django_celery_beat_periodictask t "
        "JOIN django_celery_beat_intervalschedule i ON i.id = t.interval_id "
        "WHERE t.name = 'SLA monitor'"
    )
    assert rows == [("sla.tasks.sla_scan", True, 1, "minutes")]
