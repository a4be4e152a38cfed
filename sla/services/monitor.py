"""The monitor: marking clocks at risk and breached, and folding the dashboard's tally.

Both run on their own (the ``sla_scan`` task, every minute), not inside a ticket's
transaction; clock changes caused by ticket changes live in ``sla.clocks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from sla import events
from sla.models import SLABreach, SLAMetric

# Rows claimed per statement: bounds each transaction after a long outage.
SCAN_BATCH = 1000


@dataclass(frozen=True)
class ScanResult:
    at_risk: int
    breached: int


# The monitor's statements. Each claims due clocks with FOR UPDATE SKIP LOCKED, so scans
# running at once take disjoint rows (and a clock a ticket transaction holds is left for
# the next scan), and works through the partial indexes on deadline / warning_at: its
# cost follows the clocks that are due, not all running clocks.
_MARK_AT_RISK = """
    UPDATE sla_slametric AS m SET status = 'at_risk'
    FROM (
        SELECT id FROM sla_slametric
        WHERE status = 'running' AND warning_at <= %(now)s AND deadline > %(now)s
        ORDER BY warning_at LIMIT %(batch)s
        FOR UPDATE SKIP LOCKED
    ) AS due
    WHERE m.id = due.id
    RETURNING m.id, m.ticket_id, m.policy_id, m.metric_type, m.deadline
"""
# One breach per clock: the unique metric_id makes a breach already recorded by the
# clock's own completion (or by anything else) a no-op.
_MARK_BREACHED = """
    WITH due AS (
        SELECT id FROM sla_slametric
        WHERE status IN ('running', 'at_risk') AND deadline <= %(now)s
        ORDER BY deadline LIMIT %(batch)s
        FOR UPDATE SKIP LOCKED
    ), breached AS (
        UPDATE sla_slametric AS m SET status = 'breached'
        FROM due WHERE m.id = due.id
        RETURNING m.id, m.ticket_id, m.policy_id, m.metric_type, m.deadline
    )
    INSERT INTO sla_slabreach
        (metric_id, ticket_id, policy_id, breach_type, breached_at, acknowledgement_note)
    SELECT id, ticket_id, policy_id, metric_type, deadline, '' FROM breached
    ON CONFLICT (metric_id) DO NOTHING
    RETURNING id, metric_id, ticket_id, policy_id, breach_type, breached_at
"""


# Same shape as _mark_breached below: another statement, row type and event; one helper taking all
# three would read worse.
def _mark_at_risk(now: datetime) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_MARK_AT_RISK, {"now": now, "batch": SCAN_BATCH})
        rows = cursor.fetchall()
        events.publish_at_risk(
            [
                SLAMetric(
                    pk=pk,
                    ticket_id=ticket_id,
                    policy_id=policy_id,
                    metric_type=metric_type,
                    deadline=deadline,
                )
                for pk, ticket_id, policy_id, metric_type, deadline in rows
            ]
        )
    return len(rows)


def _mark_breached(now: datetime) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_MARK_BREACHED, {"now": now, "batch": SCAN_BATCH})
        rows = cursor.fetchall()
        events.publish_breaches(
            [
                SLABreach(
                    pk=pk,
                    metric_id=metric_id,
                    ticket_id=ticket_id,
                    policy_id=policy_id,
                    breach_type=breach_type,
                    breached_at=breached_at,
                )
                for pk, metric_id, ticket_id, policy_id, breach_type, breached_at in rows
            ]
        )
    return len(rows)


def sla_scan(*, now: datetime | None = None) -> ScanResult:
    """One pass of the monitor: mark clocks at risk, then breached, in batches until none
    is due. Idempotent and safe to run concurrently; after an outage it catches up every
    clock that came due meanwhile, once."""
    now = now or timezone.now()
    at_risk = breached = 0
    while True:
        marked = _mark_at_risk(now)
        at_risk += marked
        if marked < SCAN_BATCH:
            break
    while True:
        # A full batch may mean more are due. (A batch is short of full also when a
        # claimed clock already had its breach; the rest waits for the next scan.)
        marked = _mark_breached(now)
        breached += marked
        if marked < SCAN_BATCH:
            break
    return ScanResult(at_risk=at_risk, breached=breached)


# Folds the tally rows of each (day, policy, metric type) that has more than one into a
# single row (dropping groups that net to zero). The DELETE takes only rows it sees and
# still finds: a row appended meanwhile stays for the next run, and of two compactions
# at once each sums only the rows it deleted itself, so nothing is counted twice or lost.
_COMPACT_TALLY = """
    WITH crowded AS (
        SELECT day, policy_id, metric_type FROM sla_sladailytally
        GROUP BY day, policy_id, metric_type HAVING count(*) > 1
    ), folded AS (
        DELETE FROM sla_sladailytally AS t USING crowded AS c
        WHERE t.day = c.day AND t.policy_id = c.policy_id AND t.metric_type = c.metric_type
        RETURNING t.day, t.policy_id, t.metric_type, t.met, t.breached
    ), summed AS (
        INSERT INTO sla_sladailytally (day, policy_id, metric_type, met, breached)
        SELECT day, policy_id, metric_type, sum(met), sum(breached) FROM folded
        GROUP BY day, policy_id, metric_type
        HAVING sum(met) <> 0 OR sum(breached) <> 0
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM folded), (SELECT count(*) FROM summed)
"""


@dataclass(frozen=True)
class CompactResult:
    folded: int  # rows read and deleted
    kept: int  # rows written in their place


def tally_compact() -> CompactResult:
    """Fold the rows the triggers appended to ``SLADailyTally`` (see its docstring).
    Readers sum, so this changes no figure, only how many rows they read; the monitor
    task runs it after each scan."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_COMPACT_TALLY)
        folded, kept = cursor.fetchone()
    return CompactResult(folded=folded, kept=kept)
