"""Does the ticket API stay fast as the desk grows? ``make bench`` answers it.

    python -m bench.tickets_api [--sizes 10000,1000000] [--requests 300] [--warmup 30]
        [--workers 2] [--comments-per-ticket 2] [--keep-databases]

For each size it clones a freshly migrated scratch database (on the server of
``DATABASE_URL``, else the embedded PostgreSQL), fills it with ``manage.py load_data``,
runs ``VACUUM ANALYZE`` (a production table is vacuumed and analyzed; a freshly copied
one is not), creates an agent with an API token and starts gunicorn (``--workers``, the
sync workers the Dockerfile runs) on it, with ``DEBUG`` off and persistent database
connections as in production. Then it times, over HTTP from one ``http.client`` client:

- ``list``: ``GET /api/tickets/?stage=<an OPEN stage>&ordering=-created&page_size=50``
  (the first page of a busy filter: an index range scan whatever the table's size);
- ``detail``: ``GET /api/tickets/NF-<n>/`` for random existing tickets.

Requests are sent in rounds that alternate between the sizes, after warm-up requests, so
that a slow minute of the machine hits every size alike. Each figure is the time from
sending the request to having read the whole response. The client keeps its connection
open; gunicorn's sync workers close it after each response, so it reconnects (a
loopback connect: tens of microseconds). The report records the load average while
timing: on a shared machine, waiting for a CPU is part of every figure.

It writes ``bench/results/tickets_api.json`` and ``bench/results/tickets_api.md`` (medians,
95th percentiles, load times, the machine and the date) and exits 1 when the largest
size misses the targets of the issue: a median above 50 ms, or above 1.5 times the
median at the smallest size, saying which; 2 when the run itself failed (an endpoint
answered something else than 200, a command failed). Scratch databases and servers are
removed at the end, whatever happens.

A small smoke run: ``make bench ARGS="--sizes 1000,5000 --requests 50"``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MAX_RATIO = 1.5  # largest size's median / smallest size's median
MAX_MEDIAN_MS = 50.0
ROUNDS = 10  # the requests of each endpoint are split into this many alternating rounds


class BenchError(Exception):
    """The benchmark could not measure (as opposed to: it measured a slow API)."""


# --- figures (pure functions, tested in tests/core/test_demo_data.py) ------------------
def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with ``pct`` % of samples at or
    below it (p95 of 300 samples is the 285th smallest)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = math.ceil(pct / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


@dataclass
class Stats:
    requests: int
    median_ms: float
    p95_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Stats:
        return cls(
            requests=len(samples_ms),
            median_ms=round(statistics.median(samples_ms), 3),
            p95_ms=round(percentile(samples_ms, 95), 3),
            min_ms=round(min(samples_ms), 3),
            max_ms=round(max(samples_ms), 3),
        )


def verdict(
    medians: Mapping[int, Mapping[str, float]],
    *,
    max_ratio: float = MAX_RATIO,
    max_median_ms: float = MAX_MEDIAN_MS,
) -> list[str]:
    """Why the largest size misses the targets; an empty list when it meets them.

    ``medians`` maps a size (tickets) to the median milliseconds of each endpoint. The
    ratio is checked against the smallest size, when there are two sizes or more.
    """
    sizes = sorted(medians)
    if not sizes:
        raise ValueError("no sizes measured")
    small, large = sizes[0], sizes[-1]
    problems = []
    for endpoint, median in sorted(medians[large].items()):
        if median > max_median_ms:
            problems.append(
                f"{endpoint}: median {median:.1f} ms at {large:,} tickets is above "
                f"{max_median_ms:g} ms"
            )
        base = medians[small].get(endpoint)
        if large != small and base is not None and median > max_ratio * base:
            problems.append(
                f"{endpoint}: median {median:.1f} ms at {large:,} tickets is "
                f"{median / base:.2f}x the {base:.1f} ms at {small:,} tickets "
                f"(at most {max_ratio:g}x)"
            )
    return problems


# --- the run ---------------------------------------------------------------------------
@dataclass
class Target:
    """One size: its database, server, and what was measured on it."""

    size: int
    database: str
    load_seconds: float = 0.0
    load_summary: str = ""
    base_url: str = ""
    token: str = ""
    stage_id: int = 0
    ticket_ids: list[int] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)


def say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def child_env(database_url: str, var_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "nixflow.settings",
        "DATABASE_URL": database_url,
        "NIXFLOW_VAR_DIR": str(var_dir),
        # As in production: no debug bookkeeping, one connection per worker.
        "DEBUG": "false",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_BROKER_URL", None)  # the filesystem broker under var_dir
    return env


def manage(
    args: Sequence[str], env: Mapping[str, str], *, timeout: float = 600, show_stderr: bool = False
) -> str:
    """Run ``manage.py`` and return its stdout; BenchError with its output if it fails."""
    done = subprocess.run(  # noqa: S603 -- our own manage.py, arguments from this module
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=None if show_stderr else subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(
            f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}"
            f"{done.stderr or ''}"
        )
    return done.stdout


CREATE_AGENT = """
from rest_framework.authtoken.models import Token
from nixflow.models import Role
from nixflow.services import user_create
agent = user_create(username="bench-agent", email="bench-agent@bench.example", role=Role.AGENT)
print("TOKEN", Token.objects.create(user=agent).key)
"""


def prepare(target: Target, env: Mapping[str, str], args: argparse.Namespace) -> None:
    from tests.support.processes import admin_connection

    say(f"== {target.size:,} tickets: load_data")
    started = time.monotonic()
    output = manage(
        [
            "load_data",
            f"--tickets={target.size}",
            f"--comments-per-ticket={args.comments_per_ticket}",
            f"--seed={args.seed}",
        ],
        env,
        timeout=3 * 3600,
        show_stderr=True,  # the progress line
    )
    target.load_seconds = round(time.monotonic() - started, 1)
    target.load_summary = output.strip().splitlines()[-1]
    say(f"   {target.load_summary}")
    with admin_connection(target.database) as conn:
        conn.execute("VACUUM ANALYZE")
        target.stage_id = conn.execute(
            "SELECT s.id FROM nixflow_stage s JOIN nixflow_workflow w ON w.id = s.workflow_id "
            "WHERE w.is_default AND s.category = 'OPEN' ORDER BY s.position LIMIT 1"
        ).fetchone()[0]
        target.ticket_ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM nixflow_ticket ORDER BY random() LIMIT %s",
                [args.requests + args.warmup],
            )
        ]
    output = manage(["shell", "-c", CREATE_AGENT], env)
    target.token = next(
        line.split()[1] for line in output.splitlines() if line.startswith("TOKEN ")
    )


@contextlib.contextmanager
def web_server(env: Mapping[str, str], workers: int) -> Iterator[str]:
    """gunicorn on the target's database; yields its base URL once /healthz answers."""
    from tests.support.processes import VENV_BIN, free_port, running

    port = free_port()
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "nixflow.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]
    try:
        with running(cmd, dict(env), "Booting worker", timeout=120) as process:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                try:
                    if get(probe, "/healthz")[0] == 200:
                        break
                except OSError:
                    pass  # not listening yet
                finally:
                    probe.close()
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(
                        f"gunicorn on port {port} never answered /healthz 200; its output:\n"
                        + server_output(Path(env["NIXFLOW_VAR_DIR"]))
                    )
                time.sleep(0.2)
            yield base
    except AssertionError as error:  # `running` says so when the process didn't start
        raise BenchError(str(error)) from error


def server_output(var_dir: Path, lines: int = 30) -> str:
    """The end of the newest process log ``running`` wrote under ``var_dir``."""
    logs = sorted(var_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
    if not logs:
        return "(no log)"
    return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:])


def get(conn: http.client.HTTPConnection, path: str, token: str = "") -> tuple[int, bytes]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def endpoints(target: Target) -> dict[str, list[str]]:
    """The paths each endpoint is timed on, warm-up first."""
    return {
        "list": [f"/api/tickets/?stage={target.stage_id}&ordering=-created&page_size=50"],
        "detail": [f"/api/tickets/NF-{n}/" for n in target.ticket_ids],
    }


def shown_path(target: Target, endpoint: str) -> str:
    return "/api/tickets/NF-<random>/" if endpoint == "detail" else endpoints(target)[endpoint][0]


def check(status: int, body: bytes, path: str) -> None:
    if status == 200:
        if path.startswith("/api/tickets/?") and not json.loads(body).get("results"):
            raise BenchError(f"GET {path} answered 200 with no results: {body[:300]!r}")
        return
    hint = " (is the ticket API routed in nixflow/api/urls.py?)" if status == 404 else ""
    raise BenchError(f"GET {path} answered {status}{hint}: {body[:300]!r}")


def measure(targets: Sequence[Target], requests: int, warmup: int) -> None:
    """Warm every server up, then time ``requests`` per endpoint and size in rounds that
    alternate between the sizes."""
    connections = {
        t.size: http.client.HTTPConnection(t.base_url.removeprefix("http://"), timeout=60)
        for t in targets
    }
    paths = {t.size: endpoints(t) for t in targets}
    for target in targets:
        conn = connections[target.size]
        for endpoint, candidates in paths[target.size].items():
            target.samples[endpoint] = []
            for n in range(warmup):
                path = candidates[n % len(candidates)]
                check(*get(conn, path, target.token), path)
    per_round = math.ceil(requests / ROUNDS)
    for start in range(0, requests, per_round):
        for target in targets:
            conn = connections[target.size]
            for endpoint, candidates in paths[target.size].items():
                for n in range(start, min(start + per_round, requests)):
                    path = candidates[(warmup + n) % len(candidates)]
                    began = time.perf_counter()
                    status, body = get(conn, path, target.token)
                    elapsed = (time.perf_counter() - began) * 1000
                    check(status, body, path)
                    target.samples[endpoint].append(elapsed)
    for conn in connections.values():
        conn.close()


# --- the report ------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
             if line.startswith("model name")),
            platform.processor(),
        )  # fmt: skip
    with contextlib.suppress(OSError, StopIteration, ValueError):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
        info["memory_gib"] = round(kib / 1024 / 1024, 1)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 -- read-only, on PATH
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return info


def report(
    targets: Sequence[Target], args: argparse.Namespace, server_version: str, load: list[float]
) -> tuple[dict[str, Any], list[str]]:
    stats = {t.size: {e: Stats.of(s) for e, s in t.samples.items()} for t in targets}
    problems = verdict(
        {size: {e: s.median_ms for e, s in by.items()} for size, by in stats.items()}
    )
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine(),
            "postgresql": server_version,
            "load_average_1min_before_after": [round(x, 2) for x in load],
        },
        "settings": {
            "requests": args.requests,
            "warmup": args.warmup,
            "gunicorn_workers": args.workers,
            "comments_per_ticket": args.comments_per_ticket,
            "seed": args.seed,
        },
        "targets": {"max_median_ms": MAX_MEDIAN_MS, "max_ratio": MAX_RATIO},
        "sizes": {
            str(t.size): {
                "load_seconds": t.load_seconds,
                "load_summary": t.load_summary,
                "endpoints": {
                    e: {"path": shown_path(t, e), **asdict(s)} for e, s in stats[t.size].items()
                },
            }
            for t in targets
        },
        "passed": not problems,
        "problems": problems,
    }
    return results, problems


def markdown(results: Mapping[str, Any]) -> str:
    m, s, t = results["machine"], results["settings"], results["targets"]
    where = (
        f"{results['date']} · commit {m.get('commit', '?')} · {m.get('cpu', '?')}, "
        f"{m['cpus']} CPUs, {m.get('memory_gib', '?')} GiB · {m['platform']} · "
        f"Python {m['python']} · PostgreSQL {m['postgresql']}"
    )
    how = (
        f"gunicorn with {s['gunicorn_workers']} sync workers; {s['requests']} timed requests "
        f"per endpoint and size after {s['warmup']} warm-up requests; "
        f"{s['comments_per_ticket']} comments per ticket. Written by `make bench` "
        "(bench/tickets_api.py)."
    )
    targets = (
        f"Targets at the largest size: median at most {t['max_median_ms']:g} ms and at most "
        f"{t['max_ratio']:g}x the median at the smallest size."
    )
    lines = ["# Ticket API benchmark", "", where, "", how, ""]
    before, after = m["load_average_1min_before_after"]
    if max(before, after) > m["cpus"]:
        busy = (
            f"The machine was busy while timing (load average {before:.1f} → {after:.1f} on "
            f"{m['cpus']} CPUs): the figures include waiting for a CPU."
        )
        lines += [busy, ""]
    lines += [
        "| endpoint | path | tickets | median ms | p95 ms | min ms | max ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for size, data in results["sizes"].items():
        for endpoint, e in data["endpoints"].items():
            lines.append(
                f"| {endpoint} | `{e['path']}` | {int(size):,} | {e['median_ms']:.1f} | "
                f"{e['p95_ms']:.1f} | {e['min_ms']:.1f} | {e['max_ms']:.1f} |"
            )
    lines += ["", "| tickets | load_data |", "|---:|---|"]
    for size, data in results["sizes"].items():
        lines.append(f"| {int(size):,} | {data['load_seconds']:.1f} s: {data['load_summary']} |")
    lines += ["", targets, ""]
    if results["passed"]:
        lines.append("**Passed.**")
    else:
        lines += ["**Failed:**", "", *(f"- {p}" for p in results["problems"])]
    return "\n".join([*lines, ""])


# --- main ------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,1000000", help="Ticket counts, comma-separated.")
    parser.add_argument("--requests", type=int, default=300, help="Timed requests per endpoint.")
    parser.add_argument("--warmup", type=int, default=30, help="Untimed requests first.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--comments-per-ticket", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS, help="Where results go.")
    parser.add_argument(
        "--keep-databases", action="store_true", help="Don't drop the scratch databases."
    )
    args = parser.parse_args(argv)
    try:
        args.size_list = sorted({int(s.replace("_", "")) for s in args.sizes.split(",")})
    except ValueError:
        parser.error(f"--sizes must be comma-separated numbers, not {args.sizes!r}")
    if not args.size_list or min(args.size_list) < 1 or args.requests < 1 or args.warmup < 0:
        parser.error("sizes and --requests must be positive, --warmup 0 or more")
    return args


def run(args: argparse.Namespace) -> int:
    from tests.support.processes import (
        admin_connection,
        create_database,
        database_url,
        drop_database,
        scratch_name,
    )

    with contextlib.ExitStack() as cleanup:
        var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
        template = scratch_name("nixflow_bench_tpl")
        create_database(template)
        cleanup.callback(drop_database, template)
        say(f"== migrating {template}")
        manage(["migrate", "--noinput"], child_env(database_url(template), var_dir))
        with admin_connection() as conn:
            server_version = conn.execute("SHOW server_version").fetchone()[0]

        targets = []
        for size in args.size_list:
            target = Target(size=size, database=scratch_name(f"nixflow_bench_{size}"))
            create_database(target.database, template=template)
            if args.keep_databases:
                say(f"   keeping database {target.database}")
            else:
                cleanup.callback(drop_database, target.database)
            env = child_env(database_url(target.database), var_dir / str(size))
            (var_dir / str(size)).mkdir()
            prepare(target, env, args)
            targets.append(target)
        for target in targets:
            env = child_env(database_url(target.database), var_dir / str(target.size))
            target.base_url = cleanup.enter_context(web_server(env, args.workers))
        say(f"== timing {args.requests} requests per endpoint and size")
        # Other processes on the machine skew the figures; the report says how busy it was.
        load = [os.getloadavg()[0]]
        measure(targets, args.requests, args.warmup)
        load.append(os.getloadavg()[0])

    results, problems = report(targets, args, server_version, load)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "tickets_api.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "tickets_api.md").write_text(markdown(results))
    say("")
    say(markdown(results))
    say(f"Results: {args.output / 'tickets_api.json'}, {args.output / 'tickets_api.md'}")
    if problems:
        say("FAILED: " + "; ".join(problems))
        return 1
    return 0


def write_results(output: Path, name: str, results: dict[str, Any], text: str) -> int:
    """Write ``<name>.json`` and ``.md`` under ``output``, print the report, and return
    the exit status a benchmark with a ``problems`` list ends with (1: a target missed)."""
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (output / f"{name}.md").write_text(text)
    say(text)
    if results["problems"]:
        say("FAILED: " + "; ".join(results["problems"]))
        return 1
    return 0


def bench_main(
    parse: Callable[[Sequence[str]], argparse.Namespace],
    measure_run: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
    *,
    in_process: bool = False,
) -> int:
    """What every bench module's ``main`` does: parse, set Django up, run; exit 2 when the
    run itself failed (as opposed to measuring a missed target, which is 1).

    ``in_process``: the benchmark times pages in this process (Django's test client), so
    Django runs as in production, as the other benchmarks' servers do: with DEBUG on it
    keeps every query and renders debug context, and pages take several times longer.
    """
    if in_process:
        os.environ["DEBUG"] = "false"
        os.environ.setdefault("LOG_LEVEL", "WARNING")
    args = parse(sys.argv[1:] if argv is None else argv)
    # Django settings find the database server: DATABASE_URL, else the embedded one.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nixflow.settings")
    import django

    django.setup()
    try:
        return measure_run(args)
    except (BenchError, subprocess.TimeoutExpired) as error:
        say(f"BENCHMARK ERROR: {error}")
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
