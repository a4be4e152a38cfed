"""The background bulk apply with real processes: the request's transaction queues the
job, the outbox relay publishes its chunks, a Celery worker with two processes applies
them, and the job ends counted with its refusal kept."""

from __future__ import annotations

import sys
import time

import pytest

from tests.support.processes import RELAY_READY, ScratchDatabase, relay_cmd, run, running

pytestmark = pytest.mark.subprocess

QUEUE = """
from django.db import transaction
from macros import services as macros
from nixflow import services
from nixflow.models import Role, Stage
from tests.factories import default_workflow
stages = {s.name: s for s in default_workflow().stages.all()}
requester = services.user_create(username="req", email="req@example.com", role=Role.REQUESTER)
agent = services.user_create(username="ag", email="ag@example.com", role=Role.AGENT)
tickets = [
    services.ticket_create(requester=requester, title=f"T{n}", actor=requester)
    for n in range(5)
]
services.ticket_transition(ticket=tickets[3], to_stage=stages["Closed"], actor=agent)
macro = macros.macro_create(actor=None, data={
    "name": "Ask", "body": "Hi {{ ticket.key }}", "scope": "global",
    "set_stage": stages["Waiting on requester"], "add_tags": ["bulk"],
})
with transaction.atomic():
    job = macros.macro_bulk_enqueue(macro=macro, tickets=tickets, actor=agent, chunk_size=2)
print(job.pk, tickets[3].key)
"""


def test_a_worker_applies_a_queued_bulk_apply(scratch_db: ScratchDatabase) -> None:
    env = scratch_db.env()
    worker = [sys.executable, "-m", "celery", "-A", "nixflow", "worker", "--concurrency", "2"]
    with (
        running([*worker, "-l", "INFO"], env, " ready."),
        running(relay_cmd(), env, RELAY_READY),
    ):
        queued = run([sys.executable, "manage.py", "shell", "-c", QUEUE], env)
        assert queued.returncode == 0, queued.output
        job_id, refused_key = queued.output.split()[-2:]
        deadline = time.monotonic() + 90
        while not scratch_db.sql(
            "SELECT 1 FROM macros_bulkapply WHERE id = %s AND finished_at IS NOT NULL",
            [int(job_id)],
        ):
            assert time.monotonic() < deadline, "the worker did not finish the job"
            time.sleep(0.3)

    ((done, failed, failures, chunks),) = scratch_db.sql(
        "SELECT done_count, failed_count, failures, chunks_done FROM macros_bulkapply "
        "WHERE id = %s",
        [int(job_id)],
    )
    assert (done, failed, sorted(chunks)) == (4, 1, [0, 1, 2])
    assert failures[0]["ticket"] == refused_key
    assert "cannot move from 'Closed'" in failures[0]["message"]
    replies = scratch_db.sql("SELECT count(*) FROM nixflow_comment WHERE body LIKE 'Hi NF-%'")
    assert replies == [(4,)]
    tagged = scratch_db.sql(
        "SELECT count(*) FROM nixflow_ticket_tags tt JOIN nixflow_tag t ON t.id = tt.tag_id "
        "WHERE t.name = 'bulk'"
    )
    assert tagged == [(4,)]
    events = scratch_db.sql(
        "SELECT type, count(*) FROM eventlog_eventlog WHERE type LIKE 'macro.%' "
        "GROUP BY type ORDER BY type"
    )
    assert events == [
        ("macro.applied", 4),
        ("macro.bulk_applied", 1),
        ("macro.bulk_queued", 1),
        ("macro.created", 1),
    ]
