"""How many webhook deliveries per second, from queued to delivered?

    python -m bench.webhooks [--deliveries 10000] [--tickets 500] [--concurrency 16]

On a scratch database: one endpoint wanting every event, pointing at a receiver that
answers 204 at once, running as its own process on loopback (a threaded HTTP/1.1 server
with keep-alive). ``--deliveries`` events are recorded over ``--tickets`` tickets' keys,
100 per transaction, as the desk records them (each transaction writes its deliveries
and an outbox message in the same commit). The outbox is drained in this process as
the relay and a worker would together (``eventlog.outbox.run_inline``, in a thread that
runs while the events are recorded, as a worker does beside the desk): the
``deliver_endpoint`` task claims batches of due deliveries (one per ticket at a time, so
order per ticket holds), sends up to ``WEBHOOKS_CONCURRENCY`` at once over keep-alive
connections, and records the outcomes.

Measured: deliveries/s from the first event's commit to the last delivery recorded
(queuing included), the sending phase alone, and per-delivery time from queued to
delivered (median, p95). Checked: every delivery delivered, and the receiver saw every
webhook id exactly once. Target: >= 200 deliveries/s end to end. Writes
``bench/results/webhooks.json`` and ``.md``; exits 1 when the target is missed, 2 when
the run failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.tickets_api import BenchError, bench_main, child_env, machine, manage, percentile, say

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MIN_PER_SECOND = 200.0
PER_TRANSACTION = 100

RECEIVER = textwrap.dedent(
    """
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen, lock = {}, threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                key = self.headers["webhook-id"]
                seen[key] = seen.get(key, 0) + 1
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self):
            with lock:
                body = json.dumps(
                    {"requests": sum(seen.values()), "unique": len(seen),
                     "repeated": sum(1 for n in seen.values() if n > 1)}
                ).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    """The receiver process; its base URL."""
    process = subprocess.Popen(  # noqa: S603 -- this interpreter, our script
        [sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True
    )
    try:
        if process.stdout is None:
            raise BenchError("the receiver did not start")
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(10)


def use_database(database: str) -> None:
    import django.db

    django.db.connections["default"].settings_dict["NAME"] = database
    django.db.connections["default"].close()


def queue_events(count: int, tickets: int) -> float:
    """Record ``count`` events, ``PER_TRANSACTION`` per transaction; when the first
    committed (time.time())."""
    from django.db import transaction

    from eventlog.services import event_build, event_record_many
    from webhooks.models import Endpoint

    subject = Endpoint.objects.get()
    first_commit = 0.0
    for start in range(0, count, PER_TRANSACTION):
        with transaction.atomic():
            event_record_many(
                events=[
                    event_build(
                        type="bench.step",
                        subject=subject,
                        actor=None,
                        ticket_key=f"NF-{n % tickets + 1}",
                        payload={"n": n},
                    )
                    for n in range(start, min(start + PER_TRANSACTION, count))
                ]
            )
        first_commit = first_commit or time.time()
    return first_commit


def queue_while_delivering(count: int, tickets: int) -> tuple[float, float]:
    """``queue_events`` with a worker thread draining the outbox meanwhile, until all is
    delivered; when the first event committed and when the last was queued."""
    from eventlog import outbox

    finished = threading.Event()
    failures: list[BaseException] = []

    def worker() -> None:
        from django.db import connection

        try:
            while True:
                last_round = finished.is_set()
                if outbox.run_inline(limit=100_000) == 0 and last_round:
                    return
                time.sleep(0.05)
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        first_commit = queue_events(count, tickets)
        queued = time.time()
    finally:
        finished.set()
        thread.join()
    if failures:
        raise BenchError(f"the worker failed: {failures[0]!r}")
    return first_commit, queued


def run(args: argparse.Namespace) -> int:
    from django.conf import settings
    from django.db.models import Max, Min

    from tests.support.processes import create_database, database_url, drop_database, scratch_name

    results: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "deliveries": args.deliveries,
        "tickets": args.tickets,
        "concurrency": args.concurrency,
    }
    with contextlib.ExitStack() as cleanup:
        var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
        database = scratch_name("nixflow_bench_webhooks")
        create_database(database)
        cleanup.callback(drop_database, database)
        env = child_env(database_url(database), var_dir)
        say(f"== migrating {database}")
        manage(["migrate", "--noinput"], env)
        use_database(database)
        base = cleanup.enter_context(receiver())
        settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver is on loopback
        settings.WEBHOOKS_CONCURRENCY = args.concurrency
        settings.WEBHOOKS_TASK_SECONDS = 3600.0

        from webhooks import services
        from webhooks.models import Delivery, Status

        services.endpoint_create(
            actor=None, data={"name": "Bench", "url": f"{base}/hook", "event_types": ["*"]}
        )
        say(
            f"== queuing {args.deliveries} events over {args.tickets} tickets while a worker "
            "thread delivers (relay and worker in this process)"
        )
        cpu = time.process_time()
        started = time.time()
        first_commit, queued = queue_while_delivering(args.deliveries, args.tickets)
        done = time.time()
        cpu = time.process_time() - cpu

        rows = Delivery.objects.all()
        statuses = {s: rows.filter(status=s).count() for s in Status.values}
        if statuses[Status.DELIVERED] != args.deliveries:
            raise BenchError(f"not all delivered: {statuses}")
        with urllib.request.urlopen(f"{base}/stats") as answer:  # noqa: S310 -- our receiver
            seen = json.loads(answer.read())
        if seen["unique"] != args.deliveries or seen["repeated"]:
            raise BenchError(f"the receiver saw {seen}")
        span = rows.aggregate(first=Min("created"), last=Max("delivered_at"))
        waits = [
            (delivered - created).total_seconds() * 1000
            for created, delivered in rows.values_list("created", "delivered_at")
            if delivered is not None
        ]
        end_to_end = span["last"].timestamp() - first_commit
        results.update(
            {
                "queue_seconds": round(queued - started, 2),
                "drain_after_queued_seconds": round(done - queued, 2),
                "end_to_end_seconds": round(end_to_end, 2),
                "per_second_end_to_end": round(args.deliveries / end_to_end, 1),
                "queued_to_delivered_ms": {
                    "median": round(statistics.median(waits), 1),
                    "p95": round(percentile(waits, 95), 1),
                },
                "receiver": seen,
                # This process's CPU per delivery, recording the event included (all
                # threads): what the rate would be on an idle core, whatever the load.
                "cpu_ms_per_delivery": round(cpu * 1000 / args.deliveries, 2),
                "load_average_after": round(os.getloadavg()[0], 1),
            }
        )
    write(args.output, results)
    if results["per_second_end_to_end"] < MIN_PER_SECOND:
        say(f"FAILED: {results['per_second_end_to_end']} deliveries/s")
        return 1
    return 0


def write(output: Path, results: dict) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / "webhooks.json").write_text(json.dumps(results, indent=2) + "\n")
    wait = results["queued_to_delivered_ms"]
    md = (
        "# Webhook deliveries\n\n"
        f"{results['date']}, commit {results['machine'].get('commit', '?')}, "
        f"{results['machine'].get('cpus')} CPUs; {results['deliveries']} deliveries over "
        f"{results['tickets']} tickets, {results['concurrency']} in flight at most\n\n"
        "| measure | figure | target |\n|---|---|---|\n"
        f"| queued to delivered, end to end | **{results['per_second_end_to_end']} "
        f"deliveries/s** ({results['end_to_end_seconds']} s) | >= {MIN_PER_SECOND:.0f}/s |\n"
        f"| recording the events with their deliveries (while sending) | "
        f"{results['queue_seconds']} s | |\n"
        f"| delivering what was left once all was recorded | "
        f"{results['drain_after_queued_seconds']} s | |\n"
        f"| one delivery, queued to delivered | median {wait['median']} ms, p95 "
        f"{wait['p95']} ms (queued as fast as the desk records) | |\n"
        f"| CPU per delivery (recording the event, signing, HTTP, database) | "
        f"{results['cpu_ms_per_delivery']} ms, so about "
        f"{1000 / max(results['cpu_ms_per_delivery'], 0.01):.0f}/s per idle core | |\n"
        f"| machine load average at the end | {results['load_average_after']} | |\n"
        f"| receiver | {results['receiver']['unique']} webhook ids, "
        f"{results['receiver']['repeated']} seen twice | every id once |\n"
    )
    (output / "webhooks.md").write_text(md)
    say(md)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv, in_process=True)


if __name__ == "__main__":
    sys.exit(main())
