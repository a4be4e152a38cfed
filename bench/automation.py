"""Does a time-rule pass cost what is due, not what is stored? ``python -m bench.automation``.

    python -m bench.automation [--sizes 10000,1000000] [--due 1000] [--repeat 7] [--seed 0]
        [--act-sample 50] [--fresh] [--drop] [--load-only] [--output DIR]

**Data.** One kept database per size, ``nixflow_bench_automation_<size>`` (server of
``DATABASE_URL``, else the embedded PostgreSQL; ``bench.kept``: a later run with the
same load reuses it, ``--fresh`` rebuilds, ``--drop`` drops it at the end), filled by
``manage.py load_data --tickets N --comments-per-ticket 0 --no-history`` (every loaded
ticket has its ``stage_entered_at``). Each run then sets the scene in SQL: the tickets
of the default workflow's waiting stage entered it within the last two days, and the
``--due`` lowest-numbered tickets are moved into that stage 30 days ago; one active time
rule, "in Waiting on requester for more than 5 business days (Mon-Fri 09-17 UTC): tag
it and add an internal note", made through the rule service; ``VACUUM ANALYZE``.

**Timing**, in this process, after one warm-up pass per size, alternating between the
sizes ``--repeat`` times:

- **pass**: ``automation.time_rules.time_rules_scan()``, which must claim exactly the
  due tickets (a firing each, and an ``automation.time_rule_due`` event with its outbox
  row per 25 of them), inside a transaction rolled back afterwards, so that every
  repetition finds the same tickets due;
- **find**: the scan's SQL alone, counting the due tickets (``due_tickets``), the part
  whose cost could grow with the table, and whether its plan uses the
  ``nf_ticket_stage_entered`` index;
- **actions**, for information, once per size: the due events of ``--act-sample``
  tickets delivered to their subscriber as a worker would (the rule's tag and note through the
  services, with their history and events), per ticket. Workers run these after the
  pass, spread over them; they cost the same at any size.

Targets (issue 20): the pass at the largest size under 1 s, and at most 1.5 times the
pass at the smallest. Writes ``bench/results/automation.json`` and ``.md``; exits 1 when
a target is missed, 2 when the run failed. A quick run: ``--sizes 2000,20000 --due 100``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
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
    use,
    wanted_load,
)
from bench.tickets_api import BenchError, bench_main, machine, manage, say, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE_PREFIX = "nixflow_bench_automation"
LOAD_VERSION = 1
MAX_PASS_SECONDS = 1.0
MAX_PASS_RATIO = 1.5
RULE_NAME = "Bench: waiting 5 business days"

# The scene, reset by every run (the pass itself is rolled back, but an interrupted run
# or a manual one may have left firings).
SCENE = """
DELETE FROM automation_rulefiring;
UPDATE automation_rule SET is_active = false WHERE trigger = 'time';
UPDATE nixflow_ticket SET stage_entered_at = now() - (id %% 48) * interval '1 hour'
WHERE stage_id = %(waiting)s AND id > %(last_due)s;
UPDATE nixflow_ticket
SET workflow_id = %(workflow)s, stage_id = %(waiting)s, resolved_at = NULL, closed_at = NULL,
    stage_entered_at = now() - interval '30 days' - (id %% 1000) * interval '1 minute'
WHERE id <= %(last_due)s
"""


# --- the databases ----------------------------------------------------------------------
def size_args(args: argparse.Namespace, size: int) -> argparse.Namespace:
    """One size's view of the options, as ``bench.kept`` reads them."""
    database = kept_database_name(args, DATABASE_PREFIX, size)
    return argparse.Namespace(**{**vars(args), "tickets": size, "database": database})


def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """The size's database, kept from an earlier run when its recorded load matches,
    else built; what is known of its load."""
    from tests.support.processes import create_database

    wanted, database = wanted_load(args, LOAD_VERSION), args.database
    recorded = None if args.fresh else recorded_load(database)
    if recorded is not None and {k: recorded.get(k) for k in wanted} == wanted:
        say(f"== reusing {database} (loaded {recorded.get('loaded_at')})")
        manage(["migrate", "--noinput"], env, timeout=3 * 3600)
        return {**recorded, "reused": True}
    say(f"== building {database}: migrate, load_data --tickets {args.tickets:,}")
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
            "--no-history",
        ],
        env,
        timeout=12 * 3600,
        show_stderr=True,
    )
    load.append(os.getloadavg()[0])
    return load_recorded(database, wanted, started=started, output=output, load=load)


def set_scene(database: str, due: int) -> int:
    """The due tickets and the rule (see the module's docstring); the rule's id."""
    from tests.support.processes import admin_connection

    use(database)
    from nixflow.models import StageCategory, Workflow

    workflow = Workflow.objects.get(is_default=True)
    waiting = workflow.stages.filter(category=StageCategory.WAITING).order_by("position")[0]
    with admin_connection(database) as conn:
        row = conn.execute(
            "SELECT max(id) FROM (SELECT id FROM nixflow_ticket ORDER BY id LIMIT %s) AS first",
            [due],
        ).fetchone()
        last_due = row[0] if row else 0
        params = {"waiting": waiting.pk, "workflow": workflow.pk, "last_due": last_due}
        for statement in filter(str.strip, SCENE.split(";\n")):
            conn.execute(statement, params)
    rule = _rule(waiting.pk)
    with admin_connection(database) as conn:
        conn.execute("VACUUM ANALYZE nixflow_ticket")
        conn.execute("VACUUM ANALYZE automation_rulefiring")
    return rule


def _rule(waiting_stage: int) -> int:
    from automation import services as rule_services
    from automation.models import Rule, TimeBasis, TimeUnit, Trigger
    from nixflow.models import Role, User
    from sla.models import BusinessCalendar, WorkingInterval

    admin, _ = User.objects.get_or_create(
        username="bench-automation-admin", defaults={"role": Role.ADMIN, "is_staff": True}
    )
    calendar, created = BusinessCalendar.objects.get_or_create(
        name="Bench office", defaults={"time_zone": "UTC"}
    )
    if created:
        WorkingInterval.objects.bulk_create(
            WorkingInterval(calendar=calendar, weekday=day, start=dt.time(9), end=dt.time(17))
            for day in range(5)
        )
    data = {
        "trigger": Trigger.TIME,
        "is_active": True,
        "conditions": [{"field": "stage", "op": "is", "value": waiting_stage}],
        "actions": [
            {"type": "add_tags", "tags": ["reminded"]},
            {"type": "add_note", "body": "Waiting on the requester for a week: reminded."},
        ],
        "time_basis": TimeBasis.STAGE_ENTERED,
        "time_amount": 5,
        "time_unit": TimeUnit.BUSINESS_DAYS,
        "calendar": calendar.pk,
    }
    rule = Rule.objects.filter(name=RULE_NAME).first()
    if rule is None:
        rule = rule_services.rule_create(actor=admin, data={"name": RULE_NAME, **data})
    else:
        rule = rule_services.rule_update(rule=rule, actor=admin, data=data)
    return rule.pk


# --- the timings ----------------------------------------------------------------------
def time_pass(database: str, due: int, act_sample: int = 0) -> tuple[float, float | None]:
    """One pass, rolled back: its seconds, and with ``act_sample``, the mean seconds a
    ticket's actions then take (that many due events delivered to the subscriber as a
    worker would, in the same rolled-back transaction)."""
    from django.db import transaction

    from automation.time_rules import TIME_RULE_DUE, time_rules_scan
    from eventlog.models import EventLog
    from eventlog.subscribers import deliver

    use(database)
    act = None
    with transaction.atomic():
        started = time.perf_counter()
        result = time_rules_scan()
        elapsed = time.perf_counter() - started
        if act_sample:
            # Each event carries a group of firings: deliver events until the sample.
            sample, tickets = [], 0
            for event in EventLog.objects.filter(type=TIME_RULE_DUE).order_by("id"):
                if tickets >= act_sample:
                    break
                sample.append(event)
                tickets += len(event.payload["firings"])
            started = time.perf_counter()
            for event in sample:
                deliver(event)
            act = (time.perf_counter() - started) / max(1, tickets)
        transaction.set_rollback(True)
    if result.due != due:
        raise BenchError(f"the pass found {result.due} tickets due, not the {due} due")
    return elapsed, act


def time_find(database: str, rule_id: int, due: int) -> tuple[float, str]:
    """The scan's SQL alone: count the due tickets; the time, and the plan's index."""
    from django.db import connection
    from django.utils import timezone

    from automation.models import Rule
    from automation.time_rules import due_tickets, rule_cutoff

    use(database)
    rule = Rule.objects.select_related("calendar").get(pk=rule_id)
    started = time.perf_counter()
    tickets, _ = due_tickets(rule, cutoff=rule_cutoff(rule, timezone.now()))
    found = tickets.count()
    elapsed = time.perf_counter() - started
    if found != due:
        raise BenchError(f"the scan's query found {found} due tickets, not {due}")
    sql, params = tickets.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    index = "nf_ticket_stage_entered" if "nf_ticket_stage_entered" in plan else "other"
    return elapsed, index


def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "due": args.due,
        "sizes": {},
        "load_average": [round(os.getloadavg()[0], 2)],
        "problems": [],
    }
    databases: dict[int, str] = {}
    rules: dict[int, int] = {}
    with contextlib.ExitStack() as cleanup:
        for size in args.size_list:
            per_size = size_args(args, size)
            opened = open_kept(per_size, cleanup, prepare_database)
            if opened is None:
                continue
            databases[size] = per_size.database
            rules[size] = set_scene(per_size.database, args.due)
            results["sizes"][size] = {
                "database": per_size.database,
                "load": opened.load,
                "server_version": opened.server_version,
                "pass_ms": [],
                "find_ms": [],
            }
        if not databases:
            return 0
        for database in databases.values():  # warm-up: the first pass reads from disk
            time_pass(database, args.due)
        say(f"== timing {args.repeat} passes per size, alternating")
        for repetition in range(args.repeat):
            for size, database in databases.items():
                figures = results["sizes"][size]
                sample = args.act_sample if repetition == 0 else 0
                pass_seconds, act = time_pass(database, args.due, sample)
                figures["pass_ms"].append(round(pass_seconds * 1000, 1))
                if act is not None:
                    figures["act_ms_per_ticket"] = round(act * 1000, 1)
                find_seconds, index = time_find(database, rules[size], args.due)
                figures["find_ms"].append(round(find_seconds * 1000, 1))
                figures["index"] = index
        results["load_average"].append(round(os.getloadavg()[0], 2))
        from django.db import connections

        connections["default"].close()
    return report(args, results)


def report(args: argparse.Namespace, results: dict[str, Any]) -> int:
    sizes = results["sizes"]
    for figures in sizes.values():
        figures["pass_median_ms"] = round(statistics.median(figures["pass_ms"]), 1)
        figures["find_median_ms"] = round(statistics.median(figures["find_ms"]), 1)
    largest, smallest = max(sizes), min(sizes)
    big, small = sizes[largest], sizes[smallest]
    results["pass_ratio"] = round(big["pass_median_ms"] / small["pass_median_ms"], 2)
    if big["pass_median_ms"] > MAX_PASS_SECONDS * 1000:
        results["problems"].append(
            f"the pass at {largest:,} tickets took {big['pass_median_ms']} ms (> 1 s)"
        )
    if results["pass_ratio"] > MAX_PASS_RATIO:
        results["problems"].append(f"pass ratio {results['pass_ratio']} > {MAX_PASS_RATIO}")
    rows = "".join(
        f"| {size:,} tickets, {args.due:,} due | {f['pass_median_ms']} ms | "
        f"{f['find_median_ms']} ms | {f.get('index', '?')} | "
        f"{f.get('act_ms_per_ticket', '-')} ms |\n"
        for size, f in sizes.items()
    )
    md = (
        "# Time rules: one pass of the scan\n\n"
        f"{results['date']}, commit {results['machine'].get('commit', '?')}, "
        f"{results['machine'].get('cpus')} CPUs, load average "
        f"{' -> '.join(str(x) for x in results['load_average'])}\n\n"
        "| tickets | pass (median) | find, SQL alone (median) | index | actions, a ticket |\n"
        "|---|---|---|---|---|\n"
        + rows
        + f"\nPass ratio, largest / smallest: **{results['pass_ratio']}** (target <= "
        f"{MAX_PASS_RATIO}); the pass at {largest:,}: **{big['pass_median_ms']} ms** "
        f"(target < {MAX_PASS_SECONDS * 1000:.0f} ms).\n"
    )
    return write_results(args.output, "automation", results, md)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.automation", description=__doc__)
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--act-sample",
        type=int,
        default=50,
        help="Due tickets whose actions are timed once per size, for information (50).",
    )
    add_kept_arguments(parser, results=RESULTS, prefix=DATABASE_PREFIX)
    args = parser.parse_args(argv)
    args.size_list = sorted(int(s) for s in args.sizes.split(","))
    args.comments_per_ticket = 0
    if args.database and len(args.size_list) > 1:
        parser.error("--database names one database: give one size with it")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv, in_process=True)


if __name__ == "__main__":
    sys.exit(main())
