"""Time rules with the real background processes: the scan task sent to a Celery worker,
its due event published by the outbox relay, the rule's actions run by the worker.

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
    celery_worker_cmd,
    relay_cmd,
    run,
    running,
)

pytestmark = pytest.mark.subprocess

# A ticket waiting on its requester for three days, and a rule due after two.
SCENE = """
from datetime import timedelta
from django.utils import timezone
from automation import services as rules
from nixflow import services
from nixflow.models import Role, Stage, Ticket
from tests.factories import default_workflow
default_workflow()
admin = services.user_create(username="boss", email="boss@example.com", role=Role.ADMIN)
agent = services.user_create(username="ag", email="ag@example.com", role=Role.AGENT)
requester = services.user_create(username="req", email="req@example.com", role=Role.REQUESTER)
waiting = Stage.objects.get(workflow__is_default=True, name="Waiting on requester")
ticket = services.ticket_create(requester=requester, title="Printer", actor=requester)
services.ticket_transition(ticket=ticket, to_stage=waiting, actor=agent)
Ticket.objects.filter(pk=ticket.pk).update(stage_entered_at=timezone.now() - timedelta(days=3))
rules.rule_create(actor=admin, data={
    "name": "Remind", "trigger": "time", "is_active": True,
    "conditions": [{"field": "stage", "op": "is", "value": waiting.pk}],
    "actions": [{"type": "add_tags", "tags": ["reminded"]}],
    "time_basis": "stage_entered", "time_amount": 2, "time_unit": "days",
})
print(ticket.pk)
"""
SEND_SCAN = "from automation.tasks import time_rules_scan; time_rules_scan.delay()"


def wait_for(db: ScratchDatabase, query: str, timeout: float = 90) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        rows = db.sql(query)
        if rows and all(rows[0]):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {query}")
        time.sleep(0.3)


def test_the_worker_runs_the_scan_and_then_the_rules_actions(
    scratch_db: ScratchDatabase,
) -> None:
    env = scratch_db.env()
    scene = run([sys.executable, "manage.py", "shell", "-c", SCENE], env)
    assert scene.returncode == 0, scene.output
    ticket_id = int(scene.output.strip().splitlines()[-1])

    with running(celery_worker_cmd(), env, " ready."), running(relay_cmd(), env, RELAY_READY):
        sent = run([sys.executable, "manage.py", "shell", "-c", SEND_SCAN], env)
        assert sent.returncode == 0, sent.output
        wait_for(
            scratch_db,
            "SELECT count(*) FROM nixflow_ticket_tags tt JOIN nixflow_tag t ON t.id = tt.tag_id "
            f"WHERE tt.ticket_id = {ticket_id} AND t.name = 'reminded'",
        )

    assert scratch_db.sql(
        "SELECT type FROM eventlog_eventlog WHERE type LIKE 'automation.%' ORDER BY id"
    ) == [("automation.time_rule_due",), ("automation.rule_applied",)]
    assert scratch_db.sql("SELECT state FROM automation_rulefiring") == [
        (
            scratch_db.sql(
                "SELECT 'stage_entered:' || to_char(stage_entered_at AT TIME ZONE 'UTC', "
                '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') FROM nixflow_ticket WHERE id = %s',
                [ticket_id],
            )[0][0],
        )
    ]
