"""Does the SLA monitor's cost follow what is due, not what is running? And the dashboard?

    python -m bench.sla [--sizes 10000,1000000] [--due 1000] [--repeat 7]

For each size it clones a migrated scratch database (server of ``DATABASE_URL``, else
the embedded PostgreSQL), loads that many tickets with ``load_data`` and gives each a
running resolution clock under one policy, ``--due`` of them past their deadline, plus
completed (met and breached) clocks and breaches over the last 30 days for the
dashboard (all by ``INSERT ... SELECT``), folds the dashboard's daily tally as the
monitor task would have, then runs ``VACUUM ANALYZE``. It then times, in this process:

- **scan**: one ``sla.services.sla_scan`` pass, which must breach exactly the due clocks,
  inside a transaction that is rolled back afterwards so every repetition sees the same
  state; repetitions alternate between the sizes. Targets: under 1 s at the largest
  size, and at most 1.5 times the smallest size.
- **dashboard**: ``GET /admin/sla/dashboard/`` through Django's test client as an agent
  (view, the summary's queries and the template; no network). Target: under 500 ms at
  the largest size.

Writes ``bench/results/sla.json`` and ``.md``; exits 1 when a target is missed, 2 when the
run failed. ``--sizes 2000,20000 --due 100`` makes a quick smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.tickets_api import BenchError, bench_main, child_env, machine, manage, say

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MAX_SCAN_SECONDS = 1.0
MAX_SCAN_RATIO = 1.5
MAX_DASHBOARD_MS = 500.0

CLOCKS = """
INSERT INTO sla_slapolicy (name, "order", is_active, priorities, sources, warning_threshold,
                           escalation_email, updated)
VALUES ('Bench', 1, true, '{}', '{}', 75, '', now());
INSERT INTO sla_slatarget (policy_id, priority, metric_type, minutes)
SELECT p.id, pr, 'resolution', 480
FROM sla_slapolicy p, unnest(ARRAY['LOW', 'NORMAL', 'HIGH', 'URGENT']) pr;
-- One running resolution clock per ticket; the first ones are past their deadline.
INSERT INTO sla_slametric (ticket_id, policy_id, metric_type, status, target_seconds,
    started_at, running_since, deadline, warning_at, paused_seconds, elapsed_seconds, created)
SELECT t.id, p.id, 'resolution', 'running', 28800, now() - interval '1 hour',
    now() - interval '1 hour',
    CASE WHEN row_number() OVER (ORDER BY t.id) <= %(due)s
         THEN now() - interval '10 minutes' ELSE now() + interval '7 hours' END,
    now() + interval '5 hours', 0, 0, now()
FROM nixflow_ticket t, sla_slapolicy p;
-- Completed first-response clocks over 30 days, a tenth breached, with their breaches.
INSERT INTO sla_slametric (ticket_id, policy_id, metric_type, status, target_seconds,
    started_at, deadline, warning_at, paused_seconds, elapsed_seconds, completed_at, created)
SELECT t.id, p.id, 'first_response', CASE WHEN t.id % 10 = 0 THEN 'breached' ELSE 'met' END,
    3600, c, c + interval '1 hour', c + interval '45 minutes', 0,
    CASE WHEN t.id % 10 = 0 THEN 5400 ELSE 1800 END,
    c + CASE WHEN t.id % 10 = 0 THEN interval '90 minutes' ELSE interval '30 minutes' END,
    c
FROM (SELECT id, now() - (id % 43200) * interval '1 minute' AS c FROM nixflow_ticket) t,
     sla_slapolicy p;
INSERT INTO sla_slabreach (metric_id, ticket_id, policy_id, breach_type, breached_at,
                           acknowledgement_note)
SELECT id, ticket_id, policy_id, 'first_response', deadline, ''
FROM sla_slametric WHERE status = 'breached';
"""


def prepare(database: str, size: int, due: int, env: dict[str, str]) -> float:
    from tests.support.processes import admin_connection

    say(f"== {size:,} tickets")
    started = time.monotonic()
    manage(["load_data", f"--tickets={size}", "--comments-per-ticket=0"], env, timeout=3 * 3600)
    with admin_connection(database) as conn:
        for statement in filter(str.strip, CLOCKS.split(";\n")):
            conn.execute(statement, {"due": due} if "%(due)s" in statement else None)
    # The triggers appended a tally row per completed clock; the monitor task folds them
    # every minute in production, so do it once here as it would have.
    manage(["shell", "-c", "from sla.services import tally_compact; tally_compact()"], env)
    with admin_connection(database) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def use(database: str) -> None:
    from django.db import connections

    connections["default"].close()
    connections["default"].settings_dict["NAME"] = database


def time_scan(database: str, due: int) -> float:
    from django.db import transaction

    from sla.services import sla_scan

    use(database)
    with transaction.atomic():
        started = time.perf_counter()
        result = sla_scan()
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    if result.breached != due:
        raise BenchError(f"the scan breached {result.breached} clocks, not the {due} due")
    return elapsed


def time_dashboard(database: str, runs: int) -> list[float]:
    from django.test import Client

    from nixflow.models import Role, User

    use(database)
    agent, _ = User.objects.get_or_create(
        username="bench-agent", defaults={"role": Role.AGENT, "is_staff": True}
    )
    client = Client()
    client.force_login(agent)
    samples = []
    for index in range(runs + 2):
        started = time.perf_counter()
        response = client.get("/admin/sla/dashboard/")
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise BenchError(f"the dashboard answered {response.status_code}")
        if index >= 2:  # warm-up
            samples.append(elapsed)
    return samples


def run(args: argparse.Namespace) -> int:
    from tests.support.processes import create_database, database_url, drop_database, scratch_name

    results: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "due": args.due,
        "sizes": {},
    }
    with contextlib.ExitStack() as cleanup:
        var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
        template = scratch_name("nixflow_bench_sla_tpl")
        create_database(template)
        cleanup.callback(drop_database, template)
        manage(["migrate", "--noinput"], child_env(database_url(template), var_dir))
        databases = {}
        for size in args.size_list:
            database = scratch_name(f"nixflow_bench_sla_{size}")
            create_database(database, template=template)
            cleanup.callback(drop_database, database)
            env = child_env(database_url(database), var_dir)
            load_seconds = prepare(database, size, args.due, env)
            databases[size] = database
            results["sizes"][size] = {"prepare_seconds": round(load_seconds, 1), "scan_ms": []}
        say(f"== timing {args.repeat} scans per size, alternating")
        for _ in range(args.repeat):
            for size, database in databases.items():
                results["sizes"][size]["scan_ms"].append(
                    round(time_scan(database, args.due) * 1000, 1)
                )
        largest = max(databases)
        say("== timing the dashboard")
        dashboard = time_dashboard(databases[largest], args.repeat)
        from django.db import connections

        connections["default"].close()

    smallest = min(results["sizes"])
    for figures in results["sizes"].values():
        figures["scan_median_ms"] = round(statistics.median(figures["scan_ms"]), 1)
    big, small = results["sizes"][largest], results["sizes"][smallest]
    ratio = big["scan_median_ms"] / small["scan_median_ms"]
    results["scan_ratio"] = round(ratio, 2)
    results["dashboard_median_ms"] = round(statistics.median(dashboard), 1)
    problems = []
    if big["scan_median_ms"] > MAX_SCAN_SECONDS * 1000:
        problems.append(f"scan at {largest:,} took {big['scan_median_ms']} ms (> 1 s)")
    if ratio > MAX_SCAN_RATIO:
        problems.append(f"scan ratio {ratio:.2f} > {MAX_SCAN_RATIO}")
    if results["dashboard_median_ms"] > MAX_DASHBOARD_MS:
        problems.append(f"dashboard {results['dashboard_median_ms']} ms > {MAX_DASHBOARD_MS} ms")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "sla.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = "".join(
        f"| {size:,} running clocks, {args.due:,} due | {f['scan_median_ms']} ms |\n"
        for size, f in results["sizes"].items()
    )
    md = (
        "# SLA monitor and dashboard\n\n"
        f"{results['date']}, commit {results['machine'].get('commit', '?')}, "
        f"{results['machine'].get('cpus')} CPUs\n\n"
        "| measure | median |\n|---|---|\n"
        + rows
        + f"| scan ratio, largest / smallest | **{results['scan_ratio']}** (target <= 1.5) |\n"
        f"| dashboard over {largest:,} tickets | **{results['dashboard_median_ms']} ms** "
        "(target < 500 ms) |\n"
    )
    (args.output / "sla.md").write_text(md)
    say(md)
    if problems:
        say("FAILED: " + "; ".join(problems))
        return 1
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sla", description=__doc__)
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.size_list = sorted(int(s) for s in args.sizes.split(","))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
