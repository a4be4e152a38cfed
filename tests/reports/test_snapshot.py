"""A report reads one snapshot, even when its longest queries run side by side on
further connections (``reports.figures.side_by_side``, NIXFLOW_REPORTS_PARALLEL): those
take up the report's exported snapshot, so a ticket committed meanwhile is in none of
its figures."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction

from nixflow.models import Ticket
from reports.figures import side_by_side, snapshot
from reports.selectors import report_build
from tests.factories import AgentFactory, TeamFactory
from tests.reports.support import SPRING, at, report_filters, ticket_at

pytestmark = pytest.mark.django_db(transaction=True)


def backend_and_tickets() -> tuple[int, int]:
    """This thread's server process and the tickets its transaction sees."""
    from reports.figures import replica  # the connection reports read through

    with replica.reads_connection().cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), (SELECT count(*) FROM nixflow_ticket)")
        pid, tickets = cursor.fetchone()
    return pid, tickets


def commit_a_ticket_elsewhere() -> None:
    """A ticket written and committed by another connection (another thread's)."""

    def write() -> None:
        try:
            ticket_at(at(SPRING, 12))
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    writer.join()


def test_calls_side_by_side_run_on_other_connections_in_the_reports_snapshot() -> None:
    ticket_at(at(SPRING, 9))
    with snapshot():
        here = backend_and_tickets()
        commit_a_ticket_elsewhere()
        results = side_by_side(backend_and_tickets, backend_and_tickets, backend_and_tickets)

    pids = {pid for pid, _tickets in results}
    assert len(pids) == 3  # each call on a connection of its own
    assert results[0] == here  # the first one here
    assert [tickets for _pid, tickets in results] == [1, 1, 1]  # none sees the new one
    assert Ticket.objects.count() == 2


@pytest.mark.parametrize("outside", ["setting off", "caller's transaction"])
def test_calls_run_here_one_after_the_other_when_the_snapshot_is_not_shared(
    settings: Any, outside: str
) -> None:
    settings.NIXFLOW_REPORTS_PARALLEL = outside != "setting off"
    with contextlib.ExitStack() as stack:
        if outside == "caller's transaction":
            stack.enter_context(transaction.atomic())
        stack.enter_context(snapshot())
        results = side_by_side(backend_and_tickets, backend_and_tickets)

    assert results[0] == results[1]
    assert results[0][0] == connection.cursor().connection.info.backend_pid


def test_people_side_by_side_equals_people_one_after_the_other(settings: Any) -> None:
    team = TeamFactory()
    for n, agent in enumerate([AgentFactory(), AgentFactory(), None]):
        for hour in range(6):
            created = at(SPRING, 8) + timedelta(hours=hour, minutes=7 * n)
            ticket = ticket_at(
                created, created + timedelta(minutes=35 * (hour + 1)), assignee=agent, team=team
            )
            Ticket.objects.filter(pk=ticket.pk).update(
                first_response_at=created + timedelta(minutes=3 * hour + n)
            )
    filters = report_filters(**{"from": "2026-03-28", "to": "2026-03-30"})

    before = sessions()
    settings.NIXFLOW_REPORTS_PARALLEL = True
    parallel = report_build(name="people", filters=filters)
    settings.NIXFLOW_REPORTS_PARALLEL = False
    serial = report_build(name="people", filters=filters)

    assert [f.value for f in parallel.figures] == [f.value for f in serial.figures]
    assert parallel.table("agents").rows == serial.table("agents").rows
    assert parallel.table("teams").rows == serial.table("teams").rows
    assert {f.key: f.value for f in parallel.figures}["resolved"] == 18
    # The threads' connections were closed: the database has as many as before.
    assert sessions_settle_at(before)


def sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def sessions_settle_at(expected: int) -> bool:
    """Whether the database's sessions come back to ``expected`` (a closed connection's
    server process leaves a moment after the client)."""
    deadline = time.monotonic() + 5
    while sessions() != expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
