"""What do 100 enabled automation rules that match nothing cost ``ticket_create``?

    python -m bench.automation_rules [--tickets 400] [--rules 100]

On a scratch database (migrated) it opens tickets through
``nixflow.services.ticket_create``, in rounds: one round with no active rule, the next
with ``--rules`` active rules of the ticket_created trigger (and as many of
ticket_updated) whose conditions match none of them, and so on, so that both sides see
the same machine load and table sizes. The rules mix the kinds of conditions desks
write: text contains, priority, channel, requester domain, tags, a custom field, all
and any. A warm-up round of each comes first (caches, the rules' first load).

The figure is the ratio of the median time per ticket with rules to without. Target:
at most 1.3. Writes ``bench/results/automation_rules.json`` and ``.md``; exits 1 when
the target is missed, 2 when the run failed.
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
from typing import Any

from bench.tickets_api import BenchError, bench_main, child_env, machine, manage, say

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TARGET = 1.3
ROUNDS = 8


def _conditions(n: int) -> tuple[str, list[dict[str, Any]]]:
    """The n-th rule's conditions: never true of the benchmark's tickets."""
    kinds: list[tuple[str, list[dict[str, Any]]]] = [
        ("all", [{"field": "title", "op": "contains", "value": f"nothing-{n}"}]),
        (
            "all",
            [
                {"field": "priority", "op": "is", "value": "URGENT"},
                {"field": "channel", "op": "is", "value": "EMAIL"},
            ],
        ),
        ("any", [{"field": "requester_domain", "op": "in", "value": [f"vip{n}.example"]}]),
        ("all", [{"field": "tags", "op": "contains", "value": f"tag-{n}"}]),
        ("all", [{"field": "field.order", "op": "is", "value": f"A-{n}"}]),
        (
            "any",
            [
                {"field": "description", "op": "contains", "value": f"refund {n}"},
                {"field": "priority", "op": "gt", "value": "HIGH"},
            ],
        ),
    ]
    return kinds[n % len(kinds)]


def _scene(rules: int) -> Any:
    from automation import services as rule_services
    from nixflow import services
    from nixflow.models import Role, TicketField
    from nixflow.models.fields import FieldType

    TicketField.objects.create(name="order", label="Order", type=FieldType.TEXT)
    admin = services.user_create(
        username="bench-admin", email="admin@bench.example", role=Role.ADMIN
    )
    for trigger in ("ticket_created", "ticket_updated"):
        for n in range(rules):
            match, conditions = _conditions(n)
            rule_services.rule_create(
                actor=admin,
                data={
                    "name": f"{trigger} {n}",
                    "trigger": trigger,
                    "match": match,
                    "conditions": conditions,
                    "actions": [{"type": "set_priority", "priority": "URGENT"}],
                    "position": n,
                },
            )
    return services.user_create(
        username="bench-requester", email="r@bench.example", role=Role.REQUESTER
    )


def _round(requester: Any, count: int) -> list[float]:
    from nixflow import services
    from nixflow.models import Source

    seconds = []
    for n in range(count):
        started = time.perf_counter()
        services.ticket_create(
            requester=requester,
            title=f"Printer {n}",
            description="It smokes.",
            source=Source.API,
            actor=None,
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def _rules_active(on: bool) -> None:
    from automation import selectors
    from automation.models import Rule

    # Straight to the rows (the benchmark switches its own scene), then told to the
    # engine's cache as the model's save would.
    Rule.objects.update(is_active=on)
    selectors.rules_changed()


def measure(tickets: int, rules: int) -> dict[str, Any]:
    from automation.models import Rule
    from eventlog.models import EventLog

    requester = _scene(rules)
    per_round = max(tickets // ROUNDS, 1)
    samples: dict[bool, list[float]] = {False: [], True: []}
    for on in (False, True):  # warm-up
        _rules_active(on)
        _round(requester, 10)
    for n in range(ROUNDS * 2):
        on = n % 2 == 1
        _rules_active(on)
        samples[on].extend(_round(requester, per_round))
    if EventLog.objects.filter(type__startswith="automation.rule_").exists():
        raise BenchError("a rule acted: the scene's conditions were meant to match nothing")
    without = statistics.median(samples[False]) * 1000
    with_rules = statistics.median(samples[True]) * 1000
    return {
        "tickets_each_side": len(samples[True]),
        "rules_per_trigger": rules,
        "rules_total": Rule.objects.count(),
        "median_ms_without_rules": round(without, 3),
        "median_ms_with_rules": round(with_rules, 3),
        "ratio": round(with_rules / without, 3),
    }


def _markdown(results: dict[str, Any]) -> str:
    return (
        "# Automation rules: the cost of rules that match nothing\n\n"
        f"{results['date']}, commit {results['machine'].get('commit', '?')}, "
        f"{results['machine'].get('cpus')} CPUs\n\n"
        "| measure | figure | target |\n|---|---|---|\n"
        f"| ticket_create, median, no active rule | {results['median_ms_without_rules']} ms | |\n"
        f"| ticket_create, median, {results['rules_per_trigger']} rules of ticket_created "
        f"(and as many of ticket_updated) matching nothing | "
        f"{results['median_ms_with_rules']} ms | |\n"
        f"| ratio | **{results['ratio']}x** | at most {TARGET}x |\n"
        f"| tickets timed on each side | {results['tickets_each_side']} | |\n"
    )


def run(args: argparse.Namespace) -> int:
    from django.conf import settings

    from bench.outbox import use_database
    from tests.support.processes import create_database, database_url, drop_database, scratch_name

    with contextlib.ExitStack() as cleanup:
        var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
        database = scratch_name("nixflow_bench_rules")
        create_database(database)
        cleanup.callback(drop_database, database)
        say(f"== migrating {database}")
        manage(["migrate", "--noinput"], child_env(database_url(database), var_dir))
        settings.DEBUG = False
        use_database(database, "memory://")
        say(f"== {args.tickets} tickets each side, {args.rules} rules per trigger")
        results = measure(args.tickets, args.rules)
        import django.db

        django.db.connections["default"].close()
    results |= {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine()}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "automation_rules.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = _markdown(results)
    (args.output / "automation_rules.md").write_text(markdown)
    say(markdown)
    return 0 if results["ratio"] <= TARGET else 1


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv, in_process=True)


if __name__ == "__main__":
    sys.exit(main())
