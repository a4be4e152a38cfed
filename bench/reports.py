"""Do the desk's reports stay fast at a million tickets? ``python -m bench.reports`` asks.

    python -m bench.reports [--sizes 10000,1000000] [--comments-per-ticket 2] [--runs 7]
        [--warmup 2] [--seed 0] [--fresh] [--drop] [--load-only]

**Data.** One named database per size, ``nixflow_bench_reports_<tickets>`` (on the server
of ``DATABASE_URL``, else the embedded PostgreSQL; ``--database`` gives another prefix),
migrated and filled by ``manage.py load_data --extras`` every loader but the event
log's (``EXTRAS``: no report reads the event log, and its hash chain is the slowest part
of a load): tickets over two years with their comments and history, SLA clocks, mail, a
KB search per ticket, and what the reports read besides: a survey per resolved ticket
and a rating for a quarter of them (``csat/load.py``), two article views a ticket,
deflection attempts, reopenings and mail that became no ticket (``reports/load.py``);
then ``VACUUM (ANALYZE)`` (load_data's last step). The load's parameters are recorded
on each database (``COMMENT ON DATABASE``, ``bench/kept.py``) and a later run with the
same ones reuses it, after ``migrate`` (``VACUUM ANALYZE`` again when that applied
anything). ``--fresh`` rebuilds them, ``--drop`` drops them at the end, ``--load-only``
stops after loading.

**Timing.** In this process, with Django's test client (the whole request: middleware,
session, the reports' queries, the template or the serializer; no network), signed in
as the loaded agent with the most tickets, on each size's database in turn. The reports
are found where an agent finds them: the admin's index links the reports' index
(``/admin/reports/``), and every report that links is timed over its default range and
over the last 90 days (``?range=90``, the widest preset), as page and as ``GET
/api/reports/<name>/``. Every request is made ``--warmup`` times, then ``--runs`` times
in rounds over every page of both sizes (a slow minute of the shared machine hits all
alike); figures are medians.

Targets (issue 21): every median under 500 ms at the largest size, and at most 1.5 times
its median at the smallest size of the same run. Writes ``bench/results/reports.json``
and ``.md``; exits 1 when a target is missed, 2 when the run failed (a page answered
something else than 200, a command failed). A quick run: ``--sizes 2000,20000``.
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.kept import (
    add_kept_arguments,
    load_recorded,
    open_kept,
    recorded_load,
    use,
    wanted_load,
)
from bench.tickets_api import BenchError, bench_main, machine, manage, say, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DATABASE_PREFIX = "nixflow_bench_reports"
# Bump when load_data's or a loader's output changes, so that a kept database is rebuilt.
LOAD_VERSION = 3
# The desk's staff at every size: load_data makes agents in proportion to the tickets (5
# at 10,000, 200 at a million) unless the desk has some, and the People report's table
# has a row per agent. The same staff at every size compares like with like: a desk
# with a longer history, not a bigger report.
AGENTS = 50
MAX_MEDIAN_MS = 500.0
MAX_RATIO = 1.5
EXTRAS = "sla,email_integration,knowledge,csat,reports"
REPORTS_PATH = "/admin/reports/"
API_PATH = "/api/reports/"
WIDE_RANGE = "range=90"


# --- the databases ------------------------------------------------------------------------
def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """One size's database, kept from an earlier run when its recorded load matches
    ``args``, else built. Returns what is known of its load."""
    from tests.support.processes import admin_connection, create_database, drop_database

    wanted = {**wanted_load(args, LOAD_VERSION), "extras": EXTRAS, "agents": AGENTS}
    database = args.database
    recorded = None if args.fresh else recorded_load(database)
    if recorded is not None and {k: recorded.get(k) for k in wanted} == wanted:
        say(f"== reusing {database} (loaded {recorded.get('loaded_at')})")
        output = manage(["migrate", "--noinput"], env, timeout=3 * 3600)
        if "Applying" in output:
            say("   migrations applied since the load: VACUUM ANALYZE")
            with admin_connection(database) as conn:
                conn.execute("VACUUM (ANALYZE)")
        return {**recorded, "reused": True}
    say(f"== building {database}: migrate, load_data --tickets {args.tickets:,} --extras {EXTRAS}")
    drop_database(database)
    create_database(database)
    manage(["migrate", "--noinput"], env, timeout=3600)
    staff(database)
    started = time.monotonic()
    load = [os.getloadavg()[0]]
    output = manage(
        [
            "load_data",
            f"--tickets={args.tickets}",
            f"--comments-per-ticket={args.comments_per_ticket}",
            f"--seed={args.seed}",
            f"--extras={EXTRAS}",
        ],
        env,
        timeout=12 * 3600,
        show_stderr=True,  # the progress line
    )
    load.append(os.getloadavg()[0])
    return load_recorded(database, wanted, started=started, output=output, load=load)


def staff(database: str) -> None:
    """``AGENTS`` agents on the new ``database``, which load_data then uses (it makes
    its own only on a desk without any), without a usable password as its own."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from nixflow.models import Role, User

    use(database)
    unusable = make_password(None)
    User.objects.bulk_create(
        User(
            username=f"bench-agent-{n:03d}",
            email=f"bench-agent-{n:03d}@load.example",
            role=Role.AGENT,
            is_staff=True,
            password=unusable,
        )
        for n in range(AGENTS)
    )
    connection.close()


# --- the pages ----------------------------------------------------------------------------
@dataclass
class Size:
    """One size's database, and a client signed in there (sessions live in it)."""

    tickets: int
    database: str
    load: dict[str, Any]
    client: Any = None
    agent: str = ""


@dataclass
class Target:
    kind: str  # "page" or "API"
    report: str
    range: str  # "default" or "90 days"
    path: str
    samples_ms: dict[int, list[float]] = field(default_factory=dict)  # tickets -> samples


def switch_to(size: Size) -> None:
    """Point Django at ``size``'s database. Content types are cached by the alias, not
    the database: the cache is dropped (each database numbers them its own way)."""
    from django.contrib.contenttypes.models import ContentType

    use(size.database)
    ContentType.objects.clear_cache()


def sign_in(size: Size) -> None:
    """A client signed in as the loaded agent with the most tickets (an agent's reports
    are the ones to be fast), on ``size``'s database."""
    from django.db.models import Count
    from django.test import Client

    from nixflow.models import Role, Ticket, User

    busiest = (
        Ticket.objects.filter(
            assignee__role=Role.AGENT, assignee__is_active=True, assignee__is_staff=True
        )
        .values("assignee")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if busiest is None:
        raise BenchError(f"{size.database}: no ticket assigned to an active staff agent")
    agent = User.objects.get(pk=busiest["assignee"])
    size.client, size.agent = Client(), agent.username
    size.client.force_login(agent)


def get(size: Size, path: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = size.client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise BenchError(f"{size.database}: GET {path} answered {response.status_code}")
    return elapsed, response.content


def report_names(index_html: str) -> list[str]:
    """The reports the reports' index links, by the name in their path, in page order."""
    names = re.findall(r'href="' + re.escape(REPORTS_PATH) + r'([\w-]+)/"', index_html)
    return list(dict.fromkeys(names))


def targets_for(names: Sequence[str]) -> list[Target]:
    targets = []
    for name in names:
        for kind, base in (("page", REPORTS_PATH), ("API", API_PATH)):
            path = f"{base}{name}/"
            targets.append(Target(kind, name, "default", path))
            targets.append(Target(kind, name, "90 days", f"{path}?{WIDE_RANGE}"))
    return targets


def measure(sizes: Sequence[Size], targets: Sequence[Target], runs: int, warmup: int) -> None:
    for size in sizes:
        switch_to(size)
        for target in targets:
            target.samples_ms[size.tickets] = []
            for _ in range(warmup):
                get(size, target.path)
    for _ in range(runs):
        for size in sizes:
            switch_to(size)
            get(size, targets[0].path)  # the new connection's set-up, untimed
            for target in targets:
                target.samples_ms[size.tickets].append(get(size, target.path)[0])


# --- the run ------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as cleanup:
        sizes = []
        for tickets in args.sizes:
            one = argparse.Namespace(**{**vars(args), "tickets": tickets})
            one.database = f"{args.database_prefix}_{tickets}"
            opened = open_kept(one, cleanup, prepare_database)
            if opened is None:
                continue
            sizes.append(Size(tickets, one.database, opened.load))
            server_version = opened.server_version
        if not sizes:
            return 0
        for size in sizes:
            switch_to(size)
            sign_in(size)
        largest = sizes[-1]
        switch_to(largest)
        if f'href="{REPORTS_PATH}"' not in get(largest, "/admin/")[1].decode():
            raise BenchError(f"the admin's index does not link the reports ({REPORTS_PATH})")
        names = report_names(get(largest, REPORTS_PATH)[1].decode())
        if not names:
            raise BenchError(f"the reports' index ({REPORTS_PATH}) links no report")
        targets = targets_for(names)
        say(f"== timing {len(targets)} requests x {len(sizes)} sizes, {args.runs} runs each")
        load_average = [os.getloadavg()[0]]
        measure(sizes, targets, args.runs, args.warmup)
        load_average.append(os.getloadavg()[0])
    results = report(targets, sizes, args, server_version, load_average)
    return write_results(args.output, "reports", results, markdown(results))


def report(
    targets: Sequence[Target],
    sizes: Sequence[Size],
    args: argparse.Namespace,
    server_version: str,
    load_average: list[float],
) -> dict[str, Any]:
    smallest, largest = sizes[0].tickets, sizes[-1].tickets
    rows, problems = [], []
    for t in targets:
        medians = {n: round(statistics.median(s), 1) for n, s in t.samples_ms.items()}
        ratio = medians[largest] / medians[smallest] if medians[smallest] else 0.0
        rows.append(
            {
                "kind": t.kind,
                "report": t.report,
                "range": t.range,
                "path": t.path,
                "median_ms": {str(n): m for n, m in medians.items()},
                "max_ms": {str(n): round(max(s), 1) for n, s in t.samples_ms.items()},
                "ratio": round(ratio, 2),
            }
        )
        name = f"{t.kind} {t.report} ({t.range})"
        if medians[largest] > MAX_MEDIAN_MS:
            problems.append(f"{name}: median {medians[largest]:.0f} ms > {MAX_MEDIAN_MS:g} ms")
        if len(sizes) > 1 and ratio > MAX_RATIO:
            problems.append(f"{name}: {ratio:.2f} x its time at {smallest:,} (> {MAX_RATIO:g})")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine(),
            "postgresql": server_version,
            "load_average_1min_before_after": [round(x, 2) for x in load_average],
        },
        "settings": {"runs": args.runs, "warmup": args.warmup},
        "sizes": {str(s.tickets): {**s.load, "agent": s.agent} for s in sizes},
        "targets": {"median_ms": MAX_MEDIAN_MS, "ratio": MAX_RATIO},
        "requests": rows,
        "problems": problems,
        "passed": not problems,
    }


def markdown(results: dict[str, Any]) -> str:
    m, sizes = results["machine"], list(results["sizes"])
    before, after = m["load_average_1min_before_after"]
    loads = "; ".join(
        f"{int(n):,}: {'reused' if s.get('reused') else 'loaded'} ({s.get('load_summary', '?')})"
        for n, s in results["sizes"].items()
    )
    lines = [
        "# Reports benchmark",
        "",
        (
            f"{results['date']} · commit {m.get('commit', '?')} · {m.get('cpus')} CPUs · "
            f"PostgreSQL {m['postgresql']} · load average {before:.1f} → {after:.1f}"
        ),
        "",
        (
            f"Tickets per size, `load_data --extras {EXTRAS}`: {loads}. Median of "
            f"{results['settings']['runs']} runs after {results['settings']['warmup']} "
            "warm-up, in process (Django's test client signed in as an agent, DEBUG off). "
            "Written by `python -m bench.reports`."
        ),
        "",
        "| request | report | range | "
        + " | ".join(f"median ms at {int(n):,}" for n in sizes)
        + " | ratio |",
        "|---|---|---|" + "---:|" * len(sizes) + "---:|",
    ]
    for r in results["requests"]:
        medians = " | ".join(f"{r['median_ms'][n]:.1f}" for n in sizes)
        lines.append(f"| {r['kind']} | {r['report']} | {r['range']} | {medians} | {r['ratio']} |")
    t = results["targets"]
    target = (
        f"Targets: every median under {t['median_ms']:g} ms at the largest size, and at most "
        f"{t['ratio']:g} times its median at the smallest."
    )
    lines.append("")
    if results["passed"]:
        lines.append(f"**Passed.** {target}")
    else:
        lines += [f"**Failed.** {target}", "", *(f"- {p}" for p in results["problems"])]
    return "\n".join([*lines, ""])


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument(
        "--sizes", default="10000,1000000", help="Ticket counts, comma-separated, smallest first."
    )
    parser.add_argument("--comments-per-ticket", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=7, help="Timed requests per page and size.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed requests first.")
    add_kept_arguments(parser, results=RESULTS, prefix=DATABASE_PREFIX)
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted(int(n) for n in args.sizes.split(",") if n.strip())
    except ValueError:
        parser.error("--sizes: ticket counts, comma-separated")
    if not args.sizes or min(args.sizes) < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("--sizes and --runs must be positive, --warmup 0 or more")
    # One database per size: --database names their prefix here.
    args.database_prefix = args.database or DATABASE_PREFIX
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv, in_process=True)


if __name__ == "__main__":
    sys.exit(main())
