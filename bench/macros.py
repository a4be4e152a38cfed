"""How fast does a macro apply to many tickets at once?

    python -m bench.macros [--tickets 1000]

On a scratch database, a requester opens ``--tickets`` tickets (plus 20 for warming up)
through ``nixflow.services.ticket_create``; then one global macro, a public reply with
placeholders that also moves the ticket from New to "Waiting on requester" and adds a
tag, is applied to all of them with ``macros.services.macro_apply_bulk``, as the ticket
list's bulk action does: each ticket in its own savepoint (the reply, the transition, the
tag, their history rows and events, the SLA clocks' reactions, the ``macro.applied``
event), committed in chunks. It checks that every ticket got its reply, its stage and
its tag, and that the macro counted every use.

Target: the whole bulk apply under 10 s. Writes ``bench/results/macros.json`` and
``.md``; exits 1 when the target is missed, 2 when the run failed. ``--tickets 100``
makes a quick smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.tickets_api import BenchError, bench_main, child_env, machine, manage, say

# The service's defaults, as the admin's bulk action uses them (no Django needed to read).
BULK_WORKERS = 4
BULK_CHUNK = 100
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MAX_SECONDS = 10.0
WARM_UP = 20
BODY = (
    "Hello {{ requester.first_name|default:'there' }},\n\n"
    "thank you for {{ ticket.key }} ({{ ticket.title }}). Could you tell us which "
    "version you use?\n\n{{ agent.name }}"
)


def _scene(count: int) -> tuple[Any, Any, list[Any], list[Any]]:
    from macros import services as macro_services
    from macros.models import Scope
    from nixflow import services
    from nixflow.models import Role, Source, Stage

    agent = services.user_create(
        username="bench-agent", email="agent@bench.example", role=Role.AGENT
    )
    requester = services.user_create(
        username="bench-requester", email="r@bench.example", role=Role.REQUESTER
    )
    waiting = Stage.objects.get(workflow__is_default=True, name="Waiting on requester")
    macro = macro_services.macro_create(
        actor=None,
        data={
            "name": "Ask for the version",
            "body": BODY,
            "scope": Scope.GLOBAL,
            "set_stage": waiting,
            "add_tags": ["needs-info"],
        },
    )
    tickets = [
        services.ticket_create(
            requester=requester, title=f"Bench {n}", source=Source.API, actor=None
        )
        for n in range(count + WARM_UP)
    ]
    return agent, macro, tickets[:WARM_UP], tickets[WARM_UP:]


def time_bulk(count: int, workers: int, chunk: int) -> dict[str, Any]:
    """Seconds to apply the macro to ``count`` tickets in bulk, and the checks."""
    from macros import services as macro_services
    from macros.models import Macro
    from nixflow.models import Comment, Ticket

    agent, macro, warm, tickets = _scene(count)
    macro_services.macro_apply_bulk(macro=macro, tickets=warm, actor=agent)
    started, cpu_started = time.perf_counter(), time.process_time()
    outcomes = macro_services.macro_apply_bulk(
        macro=macro, tickets=tickets, actor=agent, workers=workers, chunk_size=chunk
    )
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    ids = [t.pk for t in tickets]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "failed": [o.message for o in outcomes if not o.ok][:5],
        "done": sum(o.ok for o in outcomes),
        "replies": Comment.objects.filter(ticket_id__in=ids, author=agent).count(),
        "moved": Ticket.objects.filter(pk__in=ids, stage=macro.set_stage).count(),
        "tagged": Ticket.objects.filter(pk__in=ids, tags__name="needs-info").count(),
        "usage_count": Macro.objects.get(pk=macro.pk).usage_count - len(warm),
    }


def _load() -> list[float]:
    with contextlib.suppress(OSError):
        return [round(x, 2) for x in os.getloadavg()]
    return []


def _check(measured: dict[str, Any], count: int) -> None:
    for name in ("done", "replies", "moved", "tagged", "usage_count"):
        if measured[name] != count:
            raise BenchError(f"{name}: {measured[name]} of {count} ({measured['failed']})")


def _measure(count: int, workers: int, chunk: int) -> dict[str, Any]:
    import django.db
    from django.conf import settings

    from tests.support.processes import create_database, database_url, drop_database, scratch_name

    with contextlib.ExitStack() as cleanup:
        var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
        database = scratch_name("nixflow_bench_macros")
        create_database(database)
        cleanup.callback(drop_database, database)
        env = child_env(database_url(database), var_dir)
        say(f"== migrating {database}")
        manage(["migrate", "--noinput"], env)
        settings.DEBUG = False  # as in production: no query log kept per statement
        connection = django.db.connections["default"]
        connection.settings_dict["NAME"] = database
        connection.close()
        say(f"== {count} tickets, then one macro applied to all of them in bulk")
        measured = time_bulk(count, workers, chunk)
        connection.close()
    return measured


def run(args: argparse.Namespace) -> int:
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before": _load(),
    }
    count = args.tickets
    measured = _measure(count, args.workers, args.chunk)
    _check(measured, count)
    seconds = measured["seconds"]
    results.update(
        {
            "tickets": count,
            "seconds": round(seconds, 2),
            "ms_per_ticket": round(seconds / count * 1000, 2),
            # CPU time of this process (all its threads), without the database server's.
            "client_cpu_ms_per_ticket": round(measured["cpu_seconds"] / count * 1000, 2),
            "tickets_per_second": round(count / seconds, 1),
            "target_seconds_for_1000": MAX_SECONDS,
            "workers": args.workers,
            "chunk_size": args.chunk,
            "load_average_after": _load(),
        }
    )
    # The target is for 1,000 tickets; a smaller run is judged pro rata.
    limit = MAX_SECONDS * count / 1000
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "macros.json").write_text(json.dumps(results, indent=2) + "\n")
    md = (
        "# Macros: bulk apply\n\n"
        f"{results['date']}, commit {results['machine'].get('commit', '?')}, "
        f"{results['machine'].get('cpus')} CPUs, load average "
        f"{results['load_average_before']} before, {results['load_average_after']} after\n\n"
        "| measure | figure | target |\n|---|---|---|\n"
        f"| one macro (reply + stage + tag) applied to {count} tickets in bulk | "
        f"**{results['seconds']} s** | < {limit:g} s |\n"
        f"| per ticket | {results['ms_per_ticket']} ms | |\n"
        f"| of which CPU in this process (Python, without PostgreSQL) | "
        f"{results['client_cpu_ms_per_ticket']} ms | |\n"
        f"| connections, tickets per commit | {args.workers}, {args.chunk} | |\n"
        f"| throughput | {results['tickets_per_second']} tickets/s | |\n"
    )
    (args.output / "macros.md").write_text(md)
    say(md)
    if seconds >= limit:
        say(f"FAILED: {seconds:.2f} s >= {limit:g} s")
        return 1
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.macros", description=__doc__)
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--workers", type=int, default=BULK_WORKERS, help="connections (the service's default)"
    )
    parser.add_argument("--chunk", type=int, default=BULK_CHUNK, help="tickets per commit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
