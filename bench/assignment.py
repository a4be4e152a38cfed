"""How fast does auto-assignment give out new tickets?

    python -m bench.assignment [--tickets 1000]

On a scratch database, one round-robin team of 5 agents is the default team; the
benchmark creates ``--tickets`` tickets through ``nixflow.services.ticket_create`` one
after the other, as mail intake does (each its own transaction: routing, the team
lock, the pick, the ``ticket.assigned`` history row and event), after 20 warm-up
tickets. For comparison it creates as many again with the team's assignment off
(routing only), in alternating rounds so both see the same machine. It checks that
every ticket was assigned and that the five agents got equal shares (+/- 1).

Target: at least 200 tickets/s with auto-assignment. Writes
``bench/results/assignment.json`` and ``.md``; exits 1 when the target is missed, 2 when
the run failed. ``--tickets 200`` makes a quick smoke run.
"""

from __future__ import annotations

import argparse
import collections
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

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MIN_TICKETS_PER_SECOND = 200.0
AGENTS = 5
ROUNDS = 5
WARM_UP = 20


def _scene() -> tuple[Any, Any, list[Any]]:
    from nixflow import services
    from nixflow.models import AssignmentMode, Role

    agents = [
        services.user_create(
            username=f"bench-agent-{n}", email=f"agent{n}@bench.example", role=Role.AGENT
        )
        for n in range(AGENTS)
    ]
    team = services.team_create(
        actor=None,
        data={"name": "Bench", "is_default": True, "assignment_mode": AssignmentMode.ROUND_ROBIN},
        members=[{"user": agent, "is_lead": False} for agent in agents],
    )
    requester = services.user_create(
        username="bench-requester", email="r@bench.example", role=Role.REQUESTER
    )
    return team, requester, agents


def time_creates(count: int) -> dict[str, Any]:
    """Seconds for ``count`` tickets with auto-assignment and as many without, in
    alternating rounds; the assigned tickets' shares per agent."""
    from nixflow import services
    from nixflow.models import AssignmentMode, Source, Team, Ticket

    team, requester, _ = _scene()

    def create(n: int, title: str) -> None:
        services.ticket_create(
            requester=requester, title=f"{title} {n}", source=Source.API, actor=None
        )

    for n in range(WARM_UP):
        create(n, "Warm-up")
    seconds = {"auto": 0.0, "off": 0.0}
    per_round = max(count // ROUNDS, 1)
    for _ in range(ROUNDS):
        for mode, label in ((AssignmentMode.ROUND_ROBIN, "auto"), (AssignmentMode.OFF, "off")):
            Team.objects.filter(pk=team.pk).update(assignment_mode=mode)
            started = time.perf_counter()
            for n in range(per_round):
                create(n, f"Bench {label}")
            seconds[label] += time.perf_counter() - started
    auto = Ticket.objects.filter(title__startswith="Bench auto ")
    shares = collections.Counter(auto.values_list("assignee__username", flat=True))
    return {
        "tickets_each": per_round * ROUNDS,
        "seconds": seconds,
        "shares": dict(shares),
        "unassigned": auto.filter(assignee__isnull=True).count(),
    }


def _load() -> list[float]:
    with contextlib.suppress(OSError):
        return [round(x, 2) for x in os.getloadavg()]
    return []


def run(args: argparse.Namespace) -> int:
    import django.db
    from django.conf import settings

    from tests.support.processes import create_database, database_url, drop_database, scratch_name

    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before": _load(),
    }
    with contextlib.ExitStack() as cleanup:
        var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
        database = scratch_name("nixflow_bench_assign")
        create_database(database)
        cleanup.callback(drop_database, database)
        env = child_env(database_url(database), var_dir)
        say(f"== migrating {database}")
        manage(["migrate", "--noinput"], env)
        settings.DEBUG = False  # as in production: no query log kept per statement
        connection = django.db.connections["default"]
        connection.settings_dict["NAME"] = database
        connection.close()
        say(f"== {args.tickets} tickets with round-robin over {AGENTS} agents, as many without")
        measured = time_creates(args.tickets)
        connection.close()
    count = measured["tickets_each"]
    shares = measured["shares"]
    per_second = count / measured["seconds"]["auto"]
    results.update(
        {
            "tickets": count,
            "tickets_per_second": round(per_second, 1),
            "tickets_per_second_without_assignment": round(count / measured["seconds"]["off"], 1),
            "ms_per_ticket": round(measured["seconds"]["auto"] / count * 1000, 2),
            "shares": shares,
            "unassigned": measured["unassigned"],
            "target_tickets_per_second": MIN_TICKETS_PER_SECOND,
            "load_average_after": _load(),
        }
    )
    if measured["unassigned"] or len(shares) != AGENTS:
        raise BenchError(f"not every ticket was assigned: {shares}, {measured['unassigned']}")
    if max(shares.values()) - min(shares.values()) > 1:
        raise BenchError(f"unequal round-robin shares: {shares}")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "assignment.json").write_text(json.dumps(results, indent=2) + "\n")
    md = (
        "# Auto-assignment\n\n"
        f"{results['date']}, commit {results['machine'].get('commit', '?')}, "
        f"{results['machine'].get('cpus')} CPUs, load average "
        f"{results['load_average_before']} before, {results['load_average_after']} after\n\n"
        "| measure | figure | target |\n|---|---|---|\n"
        f"| ticket_create with round-robin over {AGENTS} agents ({count} tickets) | "
        f"**{results['tickets_per_second']} tickets/s** | >= {MIN_TICKETS_PER_SECOND:.0f} |\n"
        f"| per ticket | {results['ms_per_ticket']} ms | |\n"
        f"| same tickets with assignment off (routing only) | "
        f"{results['tickets_per_second_without_assignment']} tickets/s | |\n"
        f"| shares per agent | {', '.join(str(n) for n in sorted(shares.values()))} | "
        f"equal +/- 1 |\n"
    )
    (args.output / "assignment.md").write_text(md)
    say(md)
    if per_second < MIN_TICKETS_PER_SECOND:
        say(f"FAILED: {per_second:.1f} tickets/s < {MIN_TICKETS_PER_SECOND:.0f}")
        return 1
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.assignment", description=__doc__)
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
