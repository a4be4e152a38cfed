"""The reports' only writes: keeping their own tally (``TicketDayTally``) small and in
the desk's zone. Nothing here writes another app's rows."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from reports.filters import report_zone

# Folds the tally rows of each key that has more than one into a single row (dropping
# keys that net to zero). The DELETE takes only rows it sees and still finds: a row
# appended meanwhile stays for the next run, and of two compactions at once each sums
# only the rows it deleted itself, so nothing is counted twice or lost (as the SLA
# tally's compaction, sla.services.monitor).
_COMPACT = """
    WITH crowded AS (
        SELECT day, workflow_id, team_id, source, priority FROM reports_ticketdaytally
        GROUP BY day, workflow_id, team_id, source, priority HAVING count(*) > 1
    ), folded AS (
        DELETE FROM reports_ticketdaytally AS t USING crowded AS c
        WHERE t.day = c.day AND t.workflow_id = c.workflow_id
          AND t.team_id IS NOT DISTINCT FROM c.team_id
          AND t.source = c.source AND t.priority = c.priority
        RETURNING t.day, t.workflow_id, t.team_id, t.source, t.priority,
                  t.created, t.resolved, t.reopened, t.opened
    ), summed AS (
        INSERT INTO reports_ticketdaytally
            (day, workflow_id, team_id, source, priority, created, resolved, reopened, opened)
        SELECT day, workflow_id, team_id, source, priority,
               sum(created), sum(resolved), sum(reopened), sum(opened)
        FROM folded
        GROUP BY day, workflow_id, team_id, source, priority
        HAVING sum(created) <> 0 OR sum(resolved) <> 0 OR sum(reopened) <> 0
            OR sum(opened) <> 0
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM folded), (SELECT count(*) FROM summed)
"""


NULLABLE_KEYS = {"team_id", "agent_id"}


def _compact_sql(table: str, keys: list[str], values: list[str]) -> str:
    """``_COMPACT`` for another tally: its key columns and its counted ones (names from
    the code below only, never from outside)."""
    key_list, value_list = ", ".join(keys), ", ".join(values)
    # Plain equality (and coalesce for the nullable keys, ids that are never -1): the
    # planner can hash-join on it, where IS NOT DISTINCT FROM makes it compare every
    # crowded key with every row (minutes for a bulk load's reply tally).
    same = " AND ".join(
        f"coalesce(t.{k}, -1) = coalesce(c.{k}, -1)" if k in NULLABLE_KEYS else f"t.{k} = c.{k}"
        for k in keys
    )
    return f"""
    WITH crowded AS (
        SELECT {key_list} FROM {table} GROUP BY {key_list} HAVING count(*) > 1
    ), folded AS (
        DELETE FROM {table} AS t USING crowded AS c WHERE {same}
        RETURNING {", ".join(f"t.{c}" for c in keys + values)}
    ), summed AS (
        INSERT INTO {table} ({key_list}, {value_list})
        SELECT {key_list}, {", ".join(f"sum({v})" for v in values)} FROM folded
        GROUP BY {key_list}
        HAVING {" OR ".join(f"sum({v}) <> 0" for v in values)}
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM folded), (SELECT count(*) FROM summed)
    """  # noqa: S608 -- table and column names from this module only


_DIMENSIONS = ["workflow_id", "team_id", "source", "priority"]
COMPACTIONS = [
    _COMPACT,
    _compact_sql("reports_replydaytally", ["day", "author_id", *_DIMENSIONS], ["replies"]),
    # After the reply tally: its folding passes rows on to this one (net nothing).
    _compact_sql("reports_replyteamdaytally", ["day", "author_id", "team_id"], ["replies"]),
    _compact_sql("reports_articleviewdaytally", ["day", "article_id"], ["views"]),
    _compact_sql("reports_searchdaytally", ["day", "normalized_query"], ["searches", "no_result"]),
    _compact_sql(
        "reports_maildaytally", ["day", "account_id", "message_type", "status"], ["messages"]
    ),
    _compact_sql("reports_deflectiondaytally", ["day"], ["deflected"]),
    _compact_sql("reports_attemptdaytally", ["day"], ["attempts"]),
    _compact_sql("reports_ratingdaytally", ["day", "agent_id", "team_id"], ["good", "bad"]),
    _compact_sql("reports_opendaytally", ["day", "stage_id"], ["open"]),
]
# The recount functions of each tally (migrations reports 0002, 0008, 0010, 0012, 0014,
# 0016, 0021, 0023).
RECOUNTS = [
    "reports_tally_recount",
    "reports_reply_recount",
    "reports_articleviewdaytally_recount",
    "reports_searchdaytally_recount",
    "reports_mail_recount",
    "reports_deflection_recount",
    "reports_attempt_recount",
    "reports_rating_recount",
    "reports_open_recount",
]


def deflection_minutes() -> int:
    """The portal's deflection window in minutes, as ``portal.selectors`` reads it."""
    return int(getattr(settings, "PORTAL_DEFLECTION_WINDOW_MINUTES", 30))


@dataclass(frozen=True)
class CompactResult:
    folded: int  # rows read and deleted
    kept: int  # rows written in their place


def tally_compact() -> CompactResult:
    """Fold the rows the triggers appended to every tally (``TicketDayTally``,
    ``ReplyDayTally``, ``ReplyTeamDayTally``, ``ArticleViewDayTally``, ``SearchDayTally``,
    ``MailDayTally``, ``DeflectionDayTally``, ``AttemptDayTally``, ``RatingDayTally``,
    ``OpenDayTally``).
    Readers sum, so this changes no figure, only how many rows they read;
    ``reports.tasks`` runs it."""
    folded = kept = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in COMPACTIONS:
            cursor.execute(sql)
            rows_folded, rows_kept = cursor.fetchone()
            folded, kept = folded + rows_folded, kept + rows_kept
    return CompactResult(folded=folded, kept=kept)


def tally_rebuild(*, zone: zoneinfo.ZoneInfo | None = None) -> int:
    """Recount every tally (tickets, open tickets, replies, help-center traffic, mail,
    deflections)
    with days cut in ``zone`` (default: the reports' zone, ``NIXFLOW_REPORTS_TIME_ZONE``)
    and deflections over the portal's window now (``PORTAL_DEFLECTION_WINDOW_MINUTES``);
    returns the ticket tally's rows written.

    The counted tables are locked against writes (SHARE mode: reads go on) for the
    recount, so that no change falls between the count and the triggers that follow
    it (the tallies' migrations depend on the apps' tables, so all are there)."""
    name = (zone or report_zone()).key
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "LOCK TABLE nixflow_ticket, nixflow_historylog, nixflow_comment"
            ", knowledge_knowledgearticleview, knowledge_knowledgesearchhistory"
            ", email_integration_emailmessage, portal_deflectionattempt, csat_rating"
            " IN SHARE MODE"
        )
        cursor.execute(
            "INSERT INTO reports_tallyzone (id, time_zone, deflection_window) VALUES (1, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET time_zone = EXCLUDED.time_zone, "
            "deflection_window = EXCLUDED.deflection_window",
            [name, deflection_minutes()],
        )
        for recount in RECOUNTS:
            cursor.execute(f"SELECT {recount}()")
        cursor.execute("SELECT count(*) FROM reports_ticketdaytally")
        (rows,) = cursor.fetchone()
    return int(rows)
