"""Is a requester's ticket list fast among a million tickets? ``python -m bench.portal``.

    python -m bench.portal [--tickets 1000000] [--mine 2000] [--runs 200] [--warmup 20]
        [--comments-per-ticket 2] [--seed 0] [--fresh] [--drop] [--load-only]

**Data.** One named database per size, ``nixflow_bench_portal_<tickets>`` (on the server
of ``DATABASE_URL``, else the embedded PostgreSQL), migrated and filled by ``manage.py
load_data`` (COPY, then ``VACUUM (ANALYZE)``). Then one requester, ``bench-portal``, is
given ``--mine`` tickets: 95 % of them become theirs as requester (a random sample of
the loaded tickets, so their stages are spread as the desk's are: most closed) and 5 %
are tickets of others they watch. The load's parameters are recorded on the database
(``COMMENT ON DATABASE``, bench/kept.py) and a later run with the same ones reuses it
(``--fresh`` rebuilds, ``--drop`` drops it at the end, ``--load-only`` stops after
loading).

**Timing.** In this process, through Django's test client signed in as that requester
(the whole request: middleware, session, the selector's queries, the template), ``GET``
of each page, in alternating rounds after ``--warmup`` rounds:

- ``list``: ``/portal/`` (open tickets, newest activity first, first page);
- ``closed``: ``/portal/?status=closed``;
- ``search``: ``/portal/?q=<a word of the public conversation>&status=all``;
- ``page 2``: the second page (keyset: ``?after=``).

Target (issue 19): each median under 50 ms. Writes ``bench/results/portal.json`` and
``.md``; exits 1 when a target is missed, 2 when the run failed. A quick run:
``--tickets 20000 --mine 500``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.kept import (
    add_kept_arguments,
    kept_database_name,
    load_recorded,
    open_kept,
    recorded_load,
    wanted_load,
)
from bench.tickets_api import (
    BenchError,
    Stats,
    bench_main,
    machine,
    manage,
    say,
    write_results,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE_PREFIX = "nixflow_bench_portal"
LOAD_VERSION = 1
MAX_MEDIAN_MS = 50.0
REQUESTER = "bench-portal"
WATCHED_SHARE = 0.05


# --- the database -------------------------------------------------------------------------
def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """The benchmark's database, kept from an earlier run when its recorded load matches
    ``args``, else built. Returns what is known of its load."""
    from tests.support.processes import create_database, drop_database

    wanted = {**wanted_load(args, LOAD_VERSION), "mine": args.mine}
    database = args.database
    recorded = None if args.fresh else recorded_load(database)
    if recorded is not None and {k: recorded.get(k) for k in wanted} == wanted:
        say(f"== reusing {database} (loaded {recorded.get('loaded_at')})")
        output = manage(["migrate", "--noinput"], env, timeout=3 * 3600)
        if "Applying" in output:
            say("   migrations applied since the load: VACUUM ANALYZE")
            _vacuum(database)
        return {**recorded, "reused": True}
    say(f"== building {database}: migrate, load_data --tickets {args.tickets:,}")
    drop_database(database)
    create_database(database)
    manage(["migrate", "--noinput"], env, timeout=3600)
    started = time.monotonic()
    load = [os.getloadavg()[0]]
    output = manage(
        [
            "load_data",
            f"--tickets={args.tickets}",
            f"--comments-per-ticket={args.comments_per_ticket}",
            f"--seed={args.seed}",
        ],
        env,
        timeout=12 * 3600,
        show_stderr=True,
    )
    _give_tickets(database, args.mine, args.seed)
    load.append(os.getloadavg()[0])
    return load_recorded(database, wanted, started=started, output=output, load=load)


def _give_tickets(database: str, mine: int, seed: int) -> None:
    """``bench-portal`` requests ``mine`` minus the watched share of random tickets and
    watches the rest (tickets of other requesters)."""
    from tests.support.processes import admin_connection

    watched = round(mine * WATCHED_SHARE)
    with admin_connection(database) as conn:
        conn.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])
        user_id = conn.execute(
            "INSERT INTO nixflow_user (password, is_superuser, username, first_name, "
            "last_name, email, is_staff, is_active, date_joined, role, language) "
            "SELECT '!', false, %s, 'Bench', 'Portal', %s, false, true, now(), 'requester', '' "
            "RETURNING id",
            [REQUESTER, f"{REQUESTER}@bench.example"],
        ).fetchone()[0]
        count = conn.execute("SELECT max(id) FROM nixflow_ticket").fetchone()[0]
        # Random ids drawn without a sort of the whole table: oversample, keep distinct.
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT id FROM nixflow_ticket WHERE id IN "
                "(SELECT 1 + floor(random() * %s)::bigint FROM generate_series(1, %s))",
                [count, mine * 2],
            )
        ][:mine]
        conn.execute(
            "UPDATE nixflow_ticket SET requester_id = %s WHERE id = ANY(%s)",
            [user_id, ids[watched:]],
        )
        conn.execute(
            "INSERT INTO nixflow_ticketwatcher (ticket_id, user_id, created) "
            "SELECT unnest(%s::bigint[]), %s, now()",
            [ids[:watched], user_id],
        )
        conn.execute("VACUUM (ANALYZE) nixflow_ticket")
        conn.execute("VACUUM (ANALYZE) nixflow_ticketwatcher")


def _vacuum(database: str) -> None:
    from tests.support.processes import admin_connection

    with admin_connection(database) as conn:
        conn.execute("VACUUM (ANALYZE)")


# --- the timing ---------------------------------------------------------------------------
def search_word() -> str:
    """A word of the requester's public conversation that a few of their tickets have."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT word FROM (
                SELECT regexp_split_to_table(lower(t.title), '[^a-z]+') AS word
                FROM nixflow_ticket t JOIN nixflow_user u ON u.id = t.requester_id
                WHERE u.username = %s
            ) AS words
            WHERE length(word) >= 5 GROUP BY word ORDER BY count(*) ASC, word LIMIT 1
            """,
            [REQUESTER],
        )
        row = cursor.fetchone()
    return row[0] if row else "printer"


def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    from django.test import Client

    from nixflow.models import User

    client = Client()
    client.force_login(User.objects.get(username=REQUESTER))
    first = client.get("/portal/")
    if first.status_code != 200:
        raise BenchError(f"GET /portal/ answered {first.status_code}")
    found = re.search(rb'href="\?[^"]*after=([^"&]+)', first.content)
    after = found.group(1).decode() if found else ""
    paths = {
        "list": "/portal/",
        "closed": "/portal/?status=closed",
        "search": f"/portal/?status=all&q={search_word()}",
        "page 2": f"/portal/?after={after}",
    }
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for n in range(args.warmup + args.runs):
        for name, path in paths.items():
            began = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code != 200:
                raise BenchError(f"GET {path} answered {response.status_code}")
            if n >= args.warmup:
                samples[name].append(elapsed)
    args.paths = paths
    return samples


# --- the run ----------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as cleanup:
        opened = open_kept(args, cleanup, prepare_database)
        if opened is None:
            return 0
        load, server_version = opened.load, opened.server_version
        say(f"== timing the portal's list: {args.runs} runs after {args.warmup}")
        load_average = [os.getloadavg()[0]]
        samples = measure(args)
        load_average.append(os.getloadavg()[0])
    results = report(samples, args, load, server_version, load_average)
    return write_results(args.output, "portal", results, markdown(results))


def report(
    samples: dict[str, list[float]],
    args: argparse.Namespace,
    load: dict[str, Any],
    server_version: str,
    load_average: list[float],
) -> dict[str, Any]:
    stats = {name: Stats.of(s) for name, s in samples.items()}
    problems = [
        f"{name}: median {s.median_ms:.1f} ms > {MAX_MEDIAN_MS:.0f} ms"
        for name, s in stats.items()
        if s.median_ms > MAX_MEDIAN_MS
    ]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine(), "load_average_during_run": load_average},
        "postgresql": server_version,
        "data": load,
        "targets": {"median_ms": MAX_MEDIAN_MS},
        "pages": {name: {"path": args.paths[name], **s.__dict__} for name, s in stats.items()},
        "overall_median_ms": round(statistics.median(x for s in samples.values() for x in s), 3),
        "problems": problems,
    }


def markdown(results: dict[str, Any]) -> str:
    data = results["data"]
    lines = [
        "# Portal ticket list benchmark",
        "",
        (
            f"{results['date']}, PostgreSQL {results['postgresql']}, "
            f"{data['tickets']:,} tickets x {data['comments_per_ticket']} comments, one "
            f"requester with {data['mine']:,} of them "
            f"({'reused' if data.get('reused') else 'loaded'}); load average "
            f"{results['machine']['load_average_during_run']}."
        ),
        "",
        "| page | path | median ms | p95 ms | min ms | max ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, p in results["pages"].items():
        lines.append(
            f"| {name} | `{p['path']}` | {p['median_ms']:.1f} | {p['p95_ms']:.1f} | "
            f"{p['min_ms']:.1f} | {p['max_ms']:.1f} |"
        )
    lines += [
        "",
        f"Target: every median under {results['targets']['median_ms']:.0f} ms.",
        "",
        "Problems: " + ("; ".join(results["problems"]) or "none"),
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--mine", type=int, default=2_000, help="The requester's tickets.")
    parser.add_argument("--comments-per-ticket", type=int, default=2)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    add_kept_arguments(parser, results=RESULTS, prefix=DATABASE_PREFIX)
    args = parser.parse_args(argv)
    args.database = kept_database_name(args, DATABASE_PREFIX, args.tickets)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv, in_process=True)


if __name__ == "__main__":
    sys.exit(main())
