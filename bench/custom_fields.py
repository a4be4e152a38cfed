"""Where do custom field values live? ``python -m bench.custom_fields``.

    python -m bench.custom_fields [--tickets 1000000] [--runs 15] [--keep]

Compares the two storages a desk's custom fields could have, at ``--tickets`` tickets,
on the PostgreSQL server of ``DATABASE_URL`` (a database of its own,
``nixflow_bench_custom_fields``, dropped at the end unless ``--keep``):

- **JSONB + GIN** (what NixFlow ships): one ``custom_fields jsonb`` per ticket with a
  ``jsonb_path_ops`` GIN index; a filter is ``custom_fields @> '{"name": value}'``.
- **Rows per value**: a ``(ticket_id, field, value)`` table with a btree on
  ``(field, value, ticket_id)``; a filter joins it.

(Typed columns per field, the third option, needs a migration, so a deploy, for every
field an admin adds: ruled out before measuring.)

**Data.** Tickets as wide as the real ones (title, description, created), bulk loaded
with ``INSERT ... SELECT generate_series``, then ``VACUUM ANALYZE``. Each ticket has
three fields: ``order_number`` (unique text), ``status`` (a choice: ``escalated`` on 0.1%
of tickets, ``refund`` 1%, ``exchange`` 10%, ``other`` the rest) and ``count`` (0-99).

**Timing.** Each query is the ticket list's: the filter, newest first, first page of 50
(``ORDER BY created DESC, id DESC LIMIT 50``), run ``--runs`` times after one warm-up,
median and p95 reported, with whether the plan uses the storage's index. Also the
sizes on disk and the time to write one ticket's value (the services' UPDATE, or the
rows' DELETE + INSERT).

Target (issue 20): filtering on a field over 1,000,000 tickets uses an index. Writes
``bench/results/custom_fields.json`` and ``.md``; exits 1 when a JSONB filter's plan
scans the whole table (which index it reads is the planner's choice: the GIN index for
rare values, ``created`` for values common enough that the newest 50 come quickly), 2
when the run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.tickets_api import machine, percentile, say, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE = "nixflow_bench_custom_fields"
PAGE = 50

SCHEMA = """
CREATE TABLE ticket (
    id bigint PRIMARY KEY,
    title text NOT NULL,
    description text NOT NULL,
    created timestamptz NOT NULL,
    custom_fields jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE ticket_value (
    ticket_id bigint NOT NULL REFERENCES ticket (id),
    field text NOT NULL,
    value text NOT NULL
);
"""
STATUS = """CASE WHEN i %% 1000 = 0 THEN 'escalated' WHEN i %% 100 = 1 THEN 'refund'
    WHEN i %% 10 = 2 THEN 'exchange' ELSE 'other' END"""
LOAD = f"""
INSERT INTO ticket (id, title, description, created, custom_fields)
SELECT i, 'Ticket ' || i || ': the printer on floor 3 is out of toner again',
       repeat('Something is broken and I need help with it. ', 4),
       now() - make_interval(secs => %(tickets)s - i),
       jsonb_build_object('order_number', 'A-' || i, 'status', {STATUS}, 'count', i %% 100)
FROM generate_series(1, %(tickets)s) AS i;
INSERT INTO ticket_value (ticket_id, field, value)
SELECT i, f.field, CASE f.field WHEN 'order_number' THEN 'A-' || i
                                WHEN 'status' THEN {STATUS}
                                ELSE (i %% 100)::text END
FROM generate_series(1, %(tickets)s) AS i,
     (VALUES ('order_number'), ('status'), ('count')) AS f (field);
"""  # noqa: S608 -- built from our own constants
INDEXES = {
    "created": "CREATE INDEX ticket_created ON ticket (created DESC, id DESC)",
    "jsonb_gin": "CREATE INDEX ticket_custom_fields ON ticket "
    "USING gin (custom_fields jsonb_path_ops)",
    "rows_btree": "CREATE INDEX ticket_value_lookup ON ticket_value (field, value, ticket_id)",
    # What showing and writing one ticket's values needs in that design.
    "rows_by_ticket": "CREATE INDEX ticket_value_ticket ON ticket_value (ticket_id, field)",
}
JSONB_QUERY = """SELECT id, title FROM ticket WHERE custom_fields @> %s::jsonb
ORDER BY created DESC, id DESC LIMIT 50"""
ROWS_QUERY = """SELECT t.id, t.title FROM ticket t
JOIN ticket_value v ON v.ticket_id = t.id AND v.field = %s AND v.value = %s
ORDER BY t.created DESC, t.id DESC LIMIT 50"""
# (label, field, value as stored in the document, value as text in the rows)
FILTERS = [
    ("one ticket (order_number)", "order_number", "A-777777", "A-777777"),
    ("0.1% (status=escalated)", "status", "escalated", "escalated"),
    ("1% (status=refund)", "status", "refund", "refund"),
    ("10% (status=exchange)", "status", "exchange", "exchange"),
    ("1% (count=42)", "count", 42, "42"),
]


def server_url(database: str) -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def timed(cursor: psycopg.Cursor[Any], sql: str, params: Sequence[Any], runs: int) -> list[float]:
    cursor.execute(sql, params)  # warm-up
    cursor.fetchall()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        cursor.execute(sql, params)
        cursor.fetchall()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def plan(cursor: psycopg.Cursor[Any], sql: str, params: Sequence[Any]) -> str:
    cursor.execute(f"EXPLAIN {sql}", params)
    return "\n".join(row[0] for row in cursor.fetchall())


def index_used(plan_text: str) -> str:
    """The bench's indexes a plan reads, or "none" when it reads none (a table scan)."""
    names = [
        name
        for name in ("ticket_custom_fields", "ticket_created", "ticket_value_lookup")
        if name in plan_text
    ]
    return ", ".join(names) if names and "Seq Scan on ticket " not in plan_text else "none"


def stats(samples: Sequence[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p95_ms": round(percentile(samples, 95), 3),
    }


def load(conn: psycopg.Connection[Any], tickets: int) -> dict[str, float]:
    seconds: dict[str, float] = {}
    with conn.cursor() as cursor:
        cursor.execute(SCHEMA)
        start = time.perf_counter()
        for statement in filter(str.strip, LOAD.split(";")):
            cursor.execute(statement, {"tickets": tickets})
        seconds["load_s"] = round(time.perf_counter() - start, 2)
        for name, sql in INDEXES.items():
            start = time.perf_counter()
            cursor.execute(sql)
            seconds[f"index_{name}_s"] = round(time.perf_counter() - start, 2)
    conn.execute("VACUUM ANALYZE")
    return seconds


def sizes(cursor: psycopg.Cursor[Any]) -> dict[str, int]:
    cursor.execute(
        """SELECT pg_relation_size('ticket'), pg_relation_size('ticket_custom_fields'),
                  pg_relation_size('ticket_value'), pg_relation_size('ticket_value_lookup')"""
    )
    row = cursor.fetchone()
    assert row is not None  # noqa: S101 -- one row by construction
    return {
        "ticket_table_mb": row[0] // 2**20,
        "jsonb_gin_index_mb": row[1] // 2**20,
        "rows_table_mb": row[2] // 2**20,
        "rows_btree_index_mb": row[3] // 2**20,
    }


def writes(cursor: psycopg.Cursor[Any], runs: int, tickets: int) -> dict[str, dict[str, float]]:
    """One ticket's value changed, as each storage writes it."""
    jsonb, rows = [], []
    for i in range(runs):
        ticket = 1 + (i * 7919) % tickets
        start = time.perf_counter()
        cursor.execute(
            "UPDATE ticket SET custom_fields = custom_fields || %s::jsonb WHERE id = %s",
            [json.dumps({"status": "refund"}), ticket],
        )
        jsonb.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        cursor.execute(
            "DELETE FROM ticket_value WHERE ticket_id = %s AND field = 'status'", [ticket]
        )
        cursor.execute("INSERT INTO ticket_value VALUES (%s, 'status', 'refund')", [ticket])
        rows.append((time.perf_counter() - start) * 1000)
    return {"jsonb_update": stats(jsonb), "rows_delete_insert": stats(rows)}


def run(args: argparse.Namespace) -> int:
    admin = psycopg.connect(server_url("postgres"), autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    admin.execute(f"CREATE DATABASE {DATABASE}")
    try:
        with psycopg.connect(server_url(DATABASE), autocommit=True) as conn:
            say(f"Loading {args.tickets:,} tickets ...")
            loading = load(conn, args.tickets)
            say(f"Loaded: {loading}")
            filters: list[dict[str, Any]] = []
            with conn.cursor() as cursor:
                for label, field, value, text in FILTERS:
                    document = json.dumps({field: value})
                    jsonb_plan = plan(cursor, JSONB_QUERY, [document])
                    rows_plan = plan(cursor, ROWS_QUERY, [field, text])
                    filters.append(
                        {
                            "filter": label,
                            "jsonb_gin": stats(timed(cursor, JSONB_QUERY, [document], args.runs)),
                            "jsonb_uses_gin": "ticket_custom_fields" in jsonb_plan,
                            "jsonb_index": index_used(jsonb_plan),
                            "jsonb_plan": jsonb_plan,
                            "rows": stats(timed(cursor, ROWS_QUERY, [field, text], args.runs)),
                            "rows_use_btree": "ticket_value_lookup" in rows_plan,
                            "rows_index": index_used(rows_plan),
                            "rows_plan": rows_plan,
                        }
                    )
                    say(
                        f"{label}: jsonb {filters[-1]['jsonb_gin']} "
                        f"(gin: {filters[-1]['jsonb_uses_gin']}), rows {filters[-1]['rows']}"
                    )
                on_disk = sizes(cursor)
                written = writes(cursor, args.runs, args.tickets)
    finally:
        if not args.keep:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.close()
    # The target: no filter reads the whole table. Which index serves it is the
    # planner's choice: a rare value through the GIN index, a common one (1% and more)
    # by walking the newest tickets along ``created`` until 50 match, which stops early.
    problems = [
        f"{f['filter']}: the JSONB filter's plan scans the whole table"
        for f in filters
        if f["jsonb_index"] == "none"
    ]
    results: dict[str, Any] = {
        "benchmark": "custom_fields",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "tickets": args.tickets,
        "runs": args.runs,
        "loading": loading,
        "sizes": on_disk,
        "filters": filters,
        "writes": written,
        "problems": problems,
    }
    return write_results(args.output, "custom_fields", results, markdown(results))


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# Custom field storage at {results['tickets']:,} tickets",
        "",
        "First page (50, newest first) of an equality filter; median / p95 ms.",
        "",
        "| filter | JSONB + GIN | its plan reads | rows per value | its plan reads |",
        "|---|---|---|---|---|",
    ]
    for f in results["filters"]:
        j, r = f["jsonb_gin"], f["rows"]
        lines.append(
            f"| {f['filter']} | {j['median_ms']} / {j['p95_ms']} | {f['jsonb_index']} "
            f"| {r['median_ms']} / {r['p95_ms']} | {f['rows_index']} |"
        )
    w = results["writes"]
    lines += [
        "",
        f"Sizes (MB): {results['sizes']}",
        "",
        (
            f"One value written (median ms): JSONB {w['jsonb_update']['median_ms']}, "
            f"rows {w['rows_delete_insert']['median_ms']}"
        ),
        "",
        f"Loading (s): {results['loading']}",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except (psycopg.Error, OSError) as error:
        say(f"The benchmark failed: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
