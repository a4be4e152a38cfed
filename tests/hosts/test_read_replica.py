"""DATABASE_REPLICA_URL against a real streaming replica: reports and the SLA dashboard
read from it, writes go to the primary, and a replica that is down costs a log line,
not an error (nixflow/platform/replica.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.hosts.conftest import host_env
from tests.support import streaming
from tests.support.processes import ScratchDatabase, run

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(900),
    pytest.mark.skipif(not streaming.available(), reason="Debian's PostgreSQL 15 binaries"),
]

# Run on the primary and the replica by a subprocess: with HOSTS_WRITE set it first opens
# a ticket (a write); then it builds the volume report and the SLA dashboard, counting
# the queries each database connection ran.
SCRIPT = """
import json, os
from django.db import connections
from nixflow.models import Role, Ticket
from nixflow.services import ticket_create, user_create
from reports.filters import ReportFilters, desk_today, report_zone
from reports.selectors import report_build
from sla.selectors import sla_summary
from tests.factories import default_workflow

if os.environ.get("HOSTS_WRITE"):
    default_workflow()
    dave = user_create(username="dave", email="dave@example.com", role=Role.REQUESTER)
    ticket_create(requester=dave, title="Printer on fire", actor=dave)
counts = {"default": 0, "replica": 0}

def counting(alias):
    def wrapper(execute, sql, params, many, context):
        counts[alias] += 1
        return execute(sql, params, many, context)
    return wrapper

zone = report_zone()
filters = ReportFilters(start=desk_today(zone), end=desk_today(zone), zone=zone)
with connections["default"].execute_wrapper(counting("default")), \\
        connections["replica"].execute_wrapper(counting("replica")):
    report = report_build(name="volume", filters=filters)
    report_queries = dict(counts)
    counts.update(default=0, replica=0)
    sla_summary()
    sla_queries = dict(counts)
print("RESULT " + json.dumps({
    "tickets_on_primary": Ticket.objects.count(),
    "created_in_report": {f.key: f.value for f in report.figures}["created"],
    "report_queries": report_queries,
    "sla_queries": sla_queries,
}))
"""


def _run(env: dict[str, str], **extra: str) -> tuple[dict[str, object], str]:
    done = run([sys.executable, "manage.py", "shell", "-c", SCRIPT], {**env, **extra})
    assert done.returncode == 0, done.output
    line = next(line for line in done.output.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), done.output


def test_reports_and_the_sla_dashboard_read_from_the_replica_and_fall_back_when_it_is_down(
    host_db: ScratchDatabase, tmp_path: Path
) -> None:
    with streaming.streaming_pair(host_db.name) as pair:
        env = host_env(
            host_db,
            tmp_path / "host",
            DATABASE_URL=pair.primary.url("nixflow"),
            DATABASE_REPLICA_URL=pair.replica.url("nixflow"),
        )
        assert pair.replica.sql("SELECT pg_is_in_recovery()") == [(True,)]
        # Replay paused: what the primary writes now is not on the replica yet.
        pair.replica.sql("SELECT pg_wal_replay_pause()")
        paused, _ = _run(env, HOSTS_WRITE="1")
        assert paused["tickets_on_primary"] == 1  # the write went to the primary
        assert pair.primary.sql("SELECT count(*) FROM nixflow_ticket") == [(1,)]
        assert pair.replica.sql("SELECT count(*) FROM nixflow_ticket") == [(0,)]
        assert paused["created_in_report"] == 0  # the report read the replica
        assert paused["report_queries"]["default"] == 0, paused
        assert paused["report_queries"]["replica"] > 0, paused
        assert paused["sla_queries"]["default"] == 0, paused
        assert paused["sla_queries"]["replica"] > 0, paused

        pair.replica.sql("SELECT pg_wal_replay_resume()")
        pair.wait_replayed()
        caught_up, _ = _run(env)
        assert caught_up["created_in_report"] == 1

        pair.replica.stop()
        fallback, output = _run(env)
        assert fallback["created_in_report"] == 1
        assert fallback["report_queries"]["replica"] == 0, fallback
        assert fallback["report_queries"]["default"] > 0, fallback
        assert fallback["sla_queries"]["default"] > 0, fallback
        assert "The read replica cannot be reached; reading from the primary" in output
