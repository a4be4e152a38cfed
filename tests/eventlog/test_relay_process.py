"""`manage.py relay_outbox` as a process: it publishes what was committed before it
started, and, like web, worker and beat, refuses to run on a schema that does not match
the code."""

from __future__ import annotations

import pytest

from tests.support.processes import RELAY_READY, ScratchDatabase, relay_cmd, running

pytestmark = pytest.mark.subprocess

ENQUEUE = """
from eventlog.outbox import outbox_enqueue
outbox_enqueue(task="eventlog.tasks.seal_events", kwargs={})
"""


def test_the_relay_refuses_to_start_on_a_drifted_schema(scratch_db: ScratchDatabase) -> None:
    # The incident's v1 release: models whose migration it does not ship.
    refused = scratch_db.manage("relay_outbox", migrations="v1", timeout=60)
    assert refused.returncode == 78, refused.output
    assert "outbox relay refuses to start" in refused.output


def test_the_relay_publishes_rows_committed_while_it_was_not_running(
    scratch_db: ScratchDatabase,
) -> None:
    queued = scratch_db.manage("shell", "-c", ENQUEUE)
    assert queued.returncode == 0, queued.output
    once = scratch_db.manage("relay_outbox", "--once")
    assert once.returncode == 0, once.output
    assert "Published 1 message(s)." in once.output
    assert scratch_db.sql(
        "SELECT count(*) FROM eventlog_outboxmessage WHERE published_at IS NULL"
    ) == [(0,)]
    # And the long-running one starts, and stops on SIGTERM.
    with running(relay_cmd(), scratch_db.env(), RELAY_READY) as process:
        assert process.poll() is None
    assert process.returncode == 0  # SIGTERM ends the loop cleanly
