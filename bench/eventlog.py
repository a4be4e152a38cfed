"""What does the audit trail cost, and does reading it stay fast at 10 million events?

    python -m bench.eventlog [--events 10000000] [--tickets 2000] [--requests 300]

1. **Write cost.** In one process on a scratch database, creates ``--tickets`` tickets
   through ``nixflow.services.ticket_create`` with the event log on, and as many with
   ``event_record`` writing no event (the same service minus the audit row; the delivery
   to subscribers such as the acknowledgement mail is still queued in the outbox, see
   ``time_writes``),
   in alternating rounds so both see the same machine. Target: the median with the
   event is at most 1.3 times the median without. The ratio to a bare variant that
   queues nothing either is reported too.
2. **Read cost.** Fills the event log with ``--events`` events (10 per ticket over
   ``events / 10`` tickets, by ``INSERT ... SELECT generate_series``: the database's own
   insert trigger stamps and hashes every row, as in production), runs ``VACUUM
   ANALYZE``, starts gunicorn and times ``GET /api/events/?ticket=NF-<random>&page_size=50``
   (the newest 50 events of one ticket) over HTTP. Target: median under 20 ms.

Writes ``bench/results/eventlog.json`` and ``.md``; exits 1 when a target is missed,
2 when the run failed. ``--events 100000`` makes a quick smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

from bench.tickets_api import (
    BenchError,
    bench_main,
    child_env,
    get,
    machine,
    manage,
    percentile,
    say,
    web_server,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MAX_WRITE_RATIO = 1.3
MAX_READ_MEDIAN_MS = 20.0
ROUNDS = 10

FILL = """
INSERT INTO eventlog_eventlog (type, occurred_at, recorded_at, actor_label, subject_app,
    subject_model, subject_id, ticket_key, payload, correlation_id, row_hash)
SELECT
    (ARRAY['ticket.created', 'ticket.commented', 'ticket.transitioned', 'ticket.assigned',
           'sla.at_risk'])[1 + n %% 5],
    now() - make_interval(secs => %(total)s - n),
    now(),
    'bench',
    'nixflow',
    'ticket',
    (n %% %(tickets)s + 1)::text,
    'NF-' || (n %% %(tickets)s + 1),
    jsonb_build_object(
        'n', n, 'changes', jsonb_build_object('stage', jsonb_build_array('New', 'Open'))
    ),
    gen_random_uuid(),
    ''::bytea
FROM generate_series(%(start)s, %(stop)s - 1) AS n
"""


def time_writes(count: int) -> dict[str, list[float]]:
    """Milliseconds per ticket_create in three variants, interleaved round by round:

    - ``with_event``: as in production;
    - ``without_event``: ``event_record`` writes no row, but still queues the delivery
      to the event type's subscribers as the real one does: one outbox row per
      subscriber, in the transaction (``eventlog.outbox``; before the outbox this was a
      Celery message published after commit). That is the notifications' cost (the new
      ticket's acknowledgement mail): a desk without an audit trail would queue it as
      well, so the target compares against this;
    - ``bare``: ``event_record`` a no-op, nothing queued either (reported, no target).
    """
    from eventlog import outbox, subscribers
    from nixflow import events, services
    from nixflow.models import Role
    from nixflow.services import user_create

    requester = user_create(username="bench-writer", email="w@bench.example", role=Role.REQUESTER)
    samples: dict[str, list[float]] = {"with_event": [], "without_event": [], "bare": []}
    per_round = max(count // ROUNDS, 1)

    def no_row(*, type: str, **_: object) -> None:
        # The subscribers' deliveries, queued as the real event_record queues them: one
        # outbox row each, in the change's transaction (an event id of 0: no event).
        outbox.outbox_enqueue_many(
            messages=[
                outbox.Message(
                    task=subscribers.DELIVER_TASK, kwargs={"event_id": 0, "subscriber": s.name}
                )
                for s in subscribers.subscribers_of(type)
            ]
        )

    def create() -> float:
        started = time.perf_counter()
        services.ticket_create(requester=requester, title="Bench ticket", actor=requester)
        return (time.perf_counter() - started) * 1000

    for _ in range(5):  # warm-up
        create()
    for _ in range(ROUNDS):
        samples["with_event"] += [create() for _ in range(per_round)]
        with mock.patch.object(events, "event_record", no_row):
            samples["without_event"] += [create() for _ in range(per_round)]
        with mock.patch.object(events, "event_record", return_value=None):
            samples["bare"] += [create() for _ in range(per_round)]
    return samples


def fill(database: str, total: int, tickets: int) -> float:
    from tests.support.processes import admin_connection

    started = time.monotonic()
    step = 1_000_000
    with admin_connection(database) as conn:
        for start in range(0, total, step):
            conn.execute(
                FILL,
                {
                    "start": start,
                    "stop": min(start + step, total),
                    "total": total,
                    "tickets": tickets,
                },
            )
            say(f"   {min(start + step, total):,} events")
        conn.execute("VACUUM ANALYZE eventlog_eventlog")
    return time.monotonic() - started


CREATE_AGENT = """
from rest_framework.authtoken.models import Token
from nixflow.models import Role
from nixflow.services import user_create
agent = user_create(username="bench-agent", email="bench-agent@bench.example", role=Role.AGENT)
print("TOKEN", Token.objects.create(user=agent).key)
"""


def time_reads(base_url: str, token: str, tickets: int, requests: int) -> list[float]:
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    rng = random.Random(7)  # noqa: S311 -- which tickets to ask for, not a secret
    paths = [
        f"/api/events/?ticket=NF-{rng.randint(1, tickets)}&page_size=50"
        for _ in range(requests + 30)
    ]
    samples = []
    for index, path in enumerate(paths):
        started = time.perf_counter()
        status, body = get(conn, path, token)
        elapsed = (time.perf_counter() - started) * 1000
        # Ten filled events each; the write-cost tickets (the lowest keys) have more.
        if status != 200 or len(json.loads(body)["results"]) < 10:
            raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
        if index >= 30:
            samples.append(elapsed)
    conn.close()
    return samples


def run(args: argparse.Namespace) -> int:
    import django.db

    from tests.support.processes import create_database, database_url, drop_database, scratch_name

    results: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "events": args.events,
    }
    with contextlib.ExitStack() as cleanup:
        var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
        database = scratch_name("nixflow_bench_events")
        create_database(database)
        cleanup.callback(drop_database, database)
        env = child_env(database_url(database), var_dir)
        say(f"== migrating {database}")
        manage(["migrate", "--noinput"], env)

        say(f"== write cost: {args.tickets} tickets with, without and bare of their event")
        settings_db = django.db.connections["default"].settings_dict
        settings_db["NAME"] = database
        django.db.connections["default"].close()
        writes = time_writes(args.tickets)
        django.db.connections["default"].close()
        with_event = statistics.median(writes["with_event"])
        without_event = statistics.median(writes["without_event"])
        bare = statistics.median(writes["bare"])
        results["write"] = {
            "tickets_each": len(writes["with_event"]),
            "median_ms_with_event": round(with_event, 2),
            "median_ms_without_event": round(without_event, 2),
            "median_ms_bare": round(bare, 2),
            "ratio": round(with_event / without_event, 3),
            "ratio_to_bare": round(with_event / bare, 3),
            "target_ratio": MAX_WRITE_RATIO,
        }

        tickets = max(args.events // 10, 1)
        say(f"== filling {args.events:,} events over {tickets:,} tickets")
        results["fill_seconds"] = round(fill(database, args.events, tickets), 1)
        output = manage(["shell", "-c", CREATE_AGENT], env)
        token = next(line.split()[1] for line in output.splitlines() if line.startswith("TOKEN "))
        base_url = cleanup.enter_context(web_server(env, 2))
        say(f"== timing {args.requests} reads")
        reads = time_reads(base_url, token, tickets, args.requests)
        results["read"] = {
            "path": "/api/events/?ticket=NF-<random>&page_size=50",
            "requests": len(reads),
            "median_ms": round(statistics.median(reads), 2),
            "p95_ms": round(percentile(reads, 95), 2),
            "target_median_ms": MAX_READ_MEDIAN_MS,
        }

    problems = []
    if results["write"]["ratio"] > MAX_WRITE_RATIO:
        problems.append(f"write ratio {results['write']['ratio']} > {MAX_WRITE_RATIO}")
    if results["read"]["median_ms"] > MAX_READ_MEDIAN_MS:
        problems.append(f"read median {results['read']['median_ms']} ms > {MAX_READ_MEDIAN_MS} ms")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "eventlog.json").write_text(json.dumps(results, indent=2) + "\n")
    w, r = results["write"], results["read"]
    md = (
        "# Event log\n\n"
        f"{results['date']}, commit {results['machine'].get('commit', '?')}, "
        f"{results['machine'].get('cpus')} CPUs\n\n"
        "| measure | figure | target |\n|---|---|---|\n"
        f"| ticket_create median, with event | {w['median_ms_with_event']} ms | |\n"
        f"| ticket_create median, without event (subscribers still queued in the outbox) "
        f"| {w['median_ms_without_event']} ms | |\n"
        f"| ratio | **{w['ratio']}** | <= {MAX_WRITE_RATIO} |\n"
        f"| ticket_create median, bare (no event, nothing queued) | {w['median_ms_bare']} ms "
        f"| |\n"
        f"| ratio to bare | {w['ratio_to_bare']} | |\n"
        f"| newest 50 events of a ticket among {args.events:,}, median | **{r['median_ms']} ms** "
        f"| < {MAX_READ_MEDIAN_MS:.0f} ms |\n"
        f"| same, p95 | {r['p95_ms']} ms | |\n"
        f"| filling {args.events:,} events (trigger-hashed) | {results['fill_seconds']} s | |\n"
    )
    (args.output / "eventlog.md").write_text(md)
    say(md)
    if problems:
        say("FAILED: " + "; ".join(problems))
        return 1
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.eventlog", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
