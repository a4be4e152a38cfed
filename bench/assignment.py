"""How fast does auto-assignment give out new tickets?

    python -m bench.assignment [--tickets 1000]

On a scratch database, one round-robin team of 5 agents is the default team. Three
measures, each over ``--tickets`` new tickets, in alternating rounds where two are
compared (so both see the same machine), after 20 warm-up tickets:

1. **The assignment service** (the target): ``--tickets`` new tickets wait unassigned in
   the team's queue (created while the team assigned by hand); the team switches to
   round-robin and ``nixflow.services.assignment.auto_assign`` gives each out in its own
   transaction, as a ticket routed to the team is given out: the ticket's lock, the
   team's lock, the pick, the stamp, and ``ticket_assign``'s history row, event and the
   subscribers' work (the assignee's notification).
2. **Draining the queue**: the same, through ``assignment.drain`` (what runs when a team
   switches auto-assignment on or an agent comes back: up to 100 waiting tickets a
   transaction, oldest first).
3. **Creating tickets**: ``nixflow.services.ticket_create`` one after the other, as mail
   intake does (each its own transaction: routing, the team lock, the pick, the
   ``ticket.assigned`` history row and event, besides everything creating a ticket
   costs), with the team's assignment on and off: the difference is what
   auto-assignment adds to a creation.

Each checks that every ticket was assigned and that the five agents got equal shares
(+/- 1). Target (issue 17): auto-assigning 1,000 new tickets through the service at
200 tickets/s or more (measure 1). Writes ``bench/results/assignment.json`` and ``.md``;
exits 1 when the target is missed, 2 when the run failed. ``--tickets 200`` makes a
quick smoke run.
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


def _shares(titles: str) -> tuple[dict[str, int], int]:
    """Tickets per agent among those whose title starts with ``titles``, and how many of
    them are unassigned."""
    from nixflow.models import Ticket

    tickets = Ticket.objects.filter(title__startswith=titles)
    shares = collections.Counter(tickets.values_list("assignee__username", flat=True))
    shares.pop(None, None)
    return dict(shares), tickets.filter(assignee__isnull=True).count()


def _waiting(team: Any, requester: Any, count: int, title: str) -> list[Any]:
    """``count`` new tickets waiting unassigned in ``team``'s queue."""
    from nixflow import services
    from nixflow.models import AssignmentMode, Source, Team

    Team.objects.filter(pk=team.pk).update(assignment_mode=AssignmentMode.OFF)
    tickets = [
        services.ticket_create(
            requester=requester, title=f"{title} {n}", source=Source.API, actor=None
        )
        for n in range(count)
    ]
    Team.objects.filter(pk=team.pk).update(assignment_mode=AssignmentMode.ROUND_ROBIN)
    return tickets


def time_auto_assign(team: Any, requester: Any, count: int) -> dict[str, Any]:
    """Seconds for ``auto_assign`` of ``count`` waiting tickets, one transaction each,
    and for draining as many through ``drain``, in alternating rounds."""
    from django.db import transaction

    from nixflow.models import Ticket
    from nixflow.services import assignment

    def one_by_one(tickets: list[Any]) -> None:
        for ticket in tickets:
            with transaction.atomic():
                locked = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
                assignment.auto_assign(ticket=locked)

    def drained(tickets: list[Any]) -> None:
        left = len(tickets)
        while left > 0:
            with transaction.atomic():
                given = assignment.drain(team_ids=[team.pk])
            if given == 0:
                raise BenchError(f"drain gave nothing out with {left} tickets waiting")
            left -= given

    one_by_one(_waiting(team, requester, WARM_UP, "Warm-up assign"))
    seconds = {"auto_assign": 0.0, "drain": 0.0}
    per_round = max(count // ROUNDS, 1)
    for n in range(ROUNDS):
        for label, give in (("auto_assign", one_by_one), ("drain", drained)):
            tickets = _waiting(team, requester, per_round, f"Bench {label} {n}")
            started = time.perf_counter()
            give(tickets)
            seconds[label] += time.perf_counter() - started
    return {
        "tickets_each": per_round * ROUNDS,
        "seconds": seconds,
        "shares": {label: _shares(f"Bench {label} ") for label in seconds},
    }


def time_creates(team: Any, requester: Any, count: int) -> dict[str, Any]:
    """Seconds for ``count`` tickets created with auto-assignment and as many without,
    in alternating rounds; the assigned tickets' shares per agent."""
    from nixflow import services
    from nixflow.models import AssignmentMode, Source, Team

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
                create(n, f"Create {label}")
            seconds[label] += time.perf_counter() - started
    return {
        "tickets_each": per_round * ROUNDS,
        "seconds": seconds,
        "shares": {"create": _shares("Create auto ")},
    }


def _check_shares(shares: dict[str, tuple[dict[str, int], int]]) -> None:
    for label, (per_agent, unassigned) in shares.items():
        if unassigned or len(per_agent) != AGENTS:
            raise BenchError(f"{label}: not every ticket was assigned: {per_agent}, {unassigned}")
        if max(per_agent.values()) - min(per_agent.values()) > 1:
            raise BenchError(f"{label}: unequal round-robin shares: {per_agent}")


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
        team, requester, _ = _scene()
        say(f"== {args.tickets} waiting tickets given out one by one, as many drained")
        assigned = time_auto_assign(team, requester, args.tickets)
        say(f"== {args.tickets} tickets created with round-robin, as many without")
        created = time_creates(team, requester, args.tickets)
        connection.close()
    _check_shares({**assigned["shares"], **created["shares"]})

    def rate(measured: dict[str, Any], label: str) -> float:
        return round(measured["tickets_each"] / measured["seconds"][label], 1)

    def ms_each(measured: dict[str, Any], label: str) -> float:
        return round(measured["seconds"][label] / measured["tickets_each"] * 1000, 2)

    per_second = rate(assigned, "auto_assign")
    count = assigned["tickets_each"]
    results.update(
        {
            "tickets": count,
            "tickets_per_second": per_second,
            "ms_per_ticket": ms_each(assigned, "auto_assign"),
            "drain_tickets_per_second": rate(assigned, "drain"),
            "drain_ms_per_ticket": ms_each(assigned, "drain"),
            "create_tickets_per_second": rate(created, "auto"),
            "create_ms_per_ticket": ms_each(created, "auto"),
            "create_without_assignment_tickets_per_second": rate(created, "off"),
            "create_without_assignment_ms_per_ticket": ms_each(created, "off"),
            "shares": {
                label: sorted(per_agent.values())
                for label, (per_agent, _) in {**assigned["shares"], **created["shares"]}.items()
            },
            "target_tickets_per_second": MIN_TICKETS_PER_SECOND,
            "load_average_after": _load(),
        }
    )
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "assignment.json").write_text(json.dumps(results, indent=2) + "\n")
    md = _report(results)
    (args.output / "assignment.md").write_text(md)
    say(md)
    if per_second < MIN_TICKETS_PER_SECOND:
        say(f"FAILED: {per_second:.1f} tickets/s < {MIN_TICKETS_PER_SECOND:.0f}")
        return 1
    return 0


def _report(results: dict[str, Any]) -> str:
    r = results
    shares = "; ".join(f"{label} {values}" for label, values in r["shares"].items())
    return (
        "# Auto-assignment\n\n"
        f"{r['date']}, commit {r['machine'].get('commit', '?')}, "
        f"{r['machine'].get('cpus')} CPUs, load average "
        f"{r['load_average_before']} before, {r['load_average_after']} after\n\n"
        "| measure | tickets/s | ms a ticket | target |\n|---|---|---|---|\n"
        f"| `auto_assign` of {r['tickets']} new tickets, one transaction each "
        f"(round-robin over {AGENTS} agents) | **{r['tickets_per_second']}** | "
        f"{r['ms_per_ticket']} | >= {MIN_TICKETS_PER_SECOND:.0f}/s |\n"
        f"| `drain` of as many waiting tickets (100 a transaction) | "
        f"{r['drain_tickets_per_second']} | {r['drain_ms_per_ticket']} | |\n"
        f"| `ticket_create` with round-robin | {r['create_tickets_per_second']} | "
        f"{r['create_ms_per_ticket']} | |\n"
        f"| `ticket_create` with the team's assignment off (routing only) | "
        f"{r['create_without_assignment_tickets_per_second']} | "
        f"{r['create_without_assignment_ms_per_ticket']} | |\n\n"
        f"Shares per agent (equal +/- 1): {shares}\n"
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.assignment", description=__doc__)
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
