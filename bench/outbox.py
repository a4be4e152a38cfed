"""How fast does the outbox relay publish, and how soon after a commit?

    python -m bench.outbox [--rows 5000] [--latency-rows 200]

On a scratch database, with a private ``redis-server`` on a free port as the broker (the
filesystem broker when redis-server is not installed):

1. **Throughput.** ``--rows`` outbox rows (a task nobody consumes) committed at once,
   then published by ``relay_once`` in this process, batch after batch: rows per second,
   broker round trips included.
2. **Commit-to-publish latency.** ``manage.py relay_outbox`` runs as its own process (as
   in production); ``--latency-rows`` rows are committed one transaction each, 20 ms
   apart, and each row's ``published_at - created_at`` is read back (one clock: the
   database's ``now()`` at the insert, the relay's at the publish, same machine). Once
   woken by the NOTIFY trigger, and once with the trigger disabled, where only the
   relay's poll (``EVENTLOG_OUTBOX_POLL_SECONDS``, 2 s) finds the rows: the reason the
   trigger exists.
3. **Write cost of the trigger.** A transaction enqueuing one message, with and without
   the NOTIFY trigger (median of interleaved rounds).

Targets: throughput >= 300 rows/s, median latency with NOTIFY < 100 ms. Writes
``bench/results/outbox.json`` and ``.md``; exits 1 when a target is missed, 2 when the run
failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.tickets_api import (
    BenchError,
    bench_main,
    child_env,
    machine,
    manage,
    percentile,
    say,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
# Above the fastest writer's rate: mail intake at 150 messages/s, two rows each. More
# relays share the rows (SKIP LOCKED) should a desk need more.
MIN_ROWS_PER_SECOND = 300.0
MAX_LATENCY_MEDIAN_MS = 100.0
NOOP_TASK = "bench.outbox.nobody_consumes_this"
TRIGGER = "eventlog_outbox_notify"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def broker(var_dir: Path) -> Iterator[str]:
    """A private redis-server's URL, or the filesystem broker's when there is none."""
    server = shutil.which("redis-server")
    if server is None:
        yield "filesystem://localhost/"
        return
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 -- the machine's redis-server, our arguments
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(var_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(10)


def use_database(database: str, broker_url: str) -> None:
    """Point this process's Django connection and Celery app at the scratch parts."""
    import django.db
    from celery import current_app

    django.db.connections["default"].settings_dict["NAME"] = database
    django.db.connections["default"].close()
    current_app.conf.broker_url = broker_url
    current_app._pool = None  # the next publish takes a pool for this URL
    current_app.amqp._producer_pool = None


def throughput(rows: int) -> dict[str, float]:
    from eventlog import outbox

    outbox.outbox_enqueue_many(
        messages=[outbox.Message(task=NOOP_TASK, kwargs={"n": n}) for n in range(rows)]
    )
    started = time.perf_counter()
    published = 0
    while True:
        result = outbox.relay_once()
        if result.failed:
            raise BenchError(f"the broker refused: {result.error}")
        published += result.published
        if result.published == 0:
            break
    elapsed = time.perf_counter() - started
    if published != rows:
        raise BenchError(f"published {published} of {rows} rows")
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_second": round(rows / elapsed, 1)}


def latencies(count: int, env: dict[str, str], notify: bool) -> list[float]:
    from django.db import connection

    from eventlog import outbox
    from eventlog.models import OutboxMessage

    with connection.cursor() as cursor:
        action = "ENABLE" if notify else "DISABLE"
        cursor.execute(f"ALTER TABLE eventlog_outboxmessage {action} TRIGGER {TRIGGER}")
    log = (Path(env["NIXFLOW_VAR_DIR"]) / f"relay-{notify}.log").open("w+")
    relay = subprocess.Popen(
        [sys.executable, "manage.py", "relay_outbox"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "Outbox relay ready." not in Path(log.name).read_text():
            if relay.poll() is not None or time.monotonic() > deadline:
                raise BenchError("relay_outbox did not start:\n" + Path(log.name).read_text())
            time.sleep(0.1)
        time.sleep(0.5)
        first = OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0
        for n in range(count):
            outbox.outbox_enqueue(task=NOOP_TASK, kwargs={"n": n})  # autocommit: one each
            time.sleep(0.02)
        rows = OutboxMessage.objects.filter(id__gt=first)
        deadline = time.monotonic() + 60
        while rows.filter(published_at__isnull=True).exists():
            if time.monotonic() > deadline:
                raise BenchError("the relay did not publish every row within 60 s")
            time.sleep(0.1)
        return [
            (published - created).total_seconds() * 1000
            for created, published in rows.values_list("created_at", "published_at")
        ]
    finally:
        relay.terminate()
        relay.wait(20)
        log.close()
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE eventlog_outboxmessage ENABLE TRIGGER {TRIGGER}")


def enqueue_cost(rounds: int = 10, per_round: int = 100) -> dict[str, float]:
    from django.db import connection, transaction

    from eventlog import outbox

    samples: dict[bool, list[float]] = {True: [], False: []}

    def one() -> float:
        started = time.perf_counter()
        with transaction.atomic():
            outbox.outbox_enqueue(task=NOOP_TASK, kwargs={"n": 0})
        return (time.perf_counter() - started) * 1000

    for _ in range(rounds):
        for notify in (True, False):
            with connection.cursor() as cursor:
                action = "ENABLE" if notify else "DISABLE"
                cursor.execute(f"ALTER TABLE eventlog_outboxmessage {action} TRIGGER {TRIGGER}")
            samples[notify] += [one() for _ in range(per_round)]
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE eventlog_outboxmessage ENABLE TRIGGER {TRIGGER}")
    with_notify, without = statistics.median(samples[True]), statistics.median(samples[False])
    return {
        "median_ms_with_notify": round(with_notify, 3),
        "median_ms_without_notify": round(without, 3),
        "notify_ms": round(with_notify - without, 3),
    }


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "rows": len(samples),
        "median_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 95), 1),
        "max_ms": round(max(samples), 1),
    }


def run(args: argparse.Namespace) -> int:
    from tests.support.processes import create_database, database_url, drop_database, scratch_name

    results: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    with contextlib.ExitStack() as cleanup:
        var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
        database = scratch_name("nixflow_bench_outbox")
        create_database(database)
        cleanup.callback(drop_database, database)
        broker_url = cleanup.enter_context(broker(var_dir))
        results["broker"] = broker_url.split(":")[0]
        env = {**child_env(database_url(database), var_dir), "CELERY_BROKER_URL": broker_url}
        say(f"== migrating {database}")
        manage(["migrate", "--noinput"], env)
        use_database(database, broker_url)

        say(f"== throughput: {args.rows} rows")
        results["throughput"] = throughput(args.rows)
        say(f"== latency: {args.latency_rows} commits, woken by NOTIFY")
        results["latency_notify"] = summary(latencies(args.latency_rows, env, notify=True))
        say(f"== latency: {args.latency_rows // 4} commits, found by the poll alone")
        results["latency_poll_only"] = summary(
            latencies(max(args.latency_rows // 4, 10), env, notify=False)
        )
        say("== enqueue cost, with and without the NOTIFY trigger")
        results["enqueue"] = enqueue_cost()

    problems = []
    if results["throughput"]["rows_per_second"] < MIN_ROWS_PER_SECOND:
        problems.append(f"throughput {results['throughput']['rows_per_second']} rows/s")
    if results["latency_notify"]["median_ms"] > MAX_LATENCY_MEDIAN_MS:
        problems.append(f"latency median {results['latency_notify']['median_ms']} ms")
    write(args.output, results)
    if problems:
        say("FAILED: " + "; ".join(problems))
        return 1
    return 0


def write(output: Path, results: dict) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / "outbox.json").write_text(json.dumps(results, indent=2) + "\n")
    t, n, p, e = (
        results["throughput"],
        results["latency_notify"],
        results["latency_poll_only"],
        results["enqueue"],
    )
    md = (
        "# Outbox relay\n\n"
        f"{results['date']}, commit {results['machine'].get('commit', '?')}, "
        f"{results['machine'].get('cpus')} CPUs, broker {results['broker']}\n\n"
        "| measure | figure | target |\n|---|---|---|\n"
        f"| relay throughput ({t['rows']} rows, batches of 100) | **{t['rows_per_second']} "
        f"rows/s** | >= {MIN_ROWS_PER_SECOND:.0f} |\n"
        f"| commit to publish, woken by NOTIFY ({n['rows']} commits) | median **{n['median_ms']} "
        f"ms**, p95 {n['p95_ms']} ms, max {n['max_ms']} ms | median < "
        f"{MAX_LATENCY_MEDIAN_MS:.0f} ms |\n"
        f"| commit to publish, poll only ({p['rows']} commits) | median {p['median_ms']} ms, "
        f"p95 {p['p95_ms']} ms | |\n"
        f"| transaction enqueuing one message, with / without the NOTIFY trigger | "
        f"{e['median_ms_with_notify']} / {e['median_ms_without_notify']} ms | |\n"
    )
    (output / "outbox.md").write_text(md)
    say(md)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--latency-rows", type=int, default=200)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
