"""Does the desk answer a minute of mixed load without a single error? ``make bench`` asks.

    python -m bench.load [--tickets 100000] [--articles 5000] [--duration 60] [--users 4]
        [--workers 2] [--seed 0] [--keep-database]

**Setup.** Migrates a scratch database (on the server of ``DATABASE_URL``, else the
embedded PostgreSQL), fills it with ``manage.py load_data --tickets`` and, when the
knowledge app can be searched (a ``knowledge_load`` command and the
``/api/knowledge/search/`` route), ``knowledge_load --articles``; otherwise KB search is
left out of the mix and the report says so. Then ``VACUUM ANALYZE``, one agent and one
requester with API tokens per simulated user, and a published, login-required form of
four fields. gunicorn serves it with ``--workers`` sync workers as in production
(``DEBUG`` off, persistent database connections), after a few warm-up requests of each
kind that must answer as the load will expect.

**Load.** locust (pinned in the dev extras), one process, ``--users`` users started at
once, for ``--duration`` seconds. Each user sends its next request as soon as the last
one answered (a closed loop, no think time), so the figures are what the workers can
serve with that many requests in flight, latency including the wait in gunicorn's
queue. The default, two users per worker, keeps every worker busy (the next request is
queued while one is answered); more users add queueing, not throughput. The mix, by
weight (``MIX``):

- ``ticket list``: an agent's ``GET /api/tickets/?...`` over five common filters (a stage
  queue, one agent's tickets, unassigned new tickets, urgent ones, everything);
- ``KB search``: a requester's ``GET /api/knowledge/search/?q=...`` over a dozen queries
  (common and rare words, two words, a typo);
- ``ticket create``: an agent's ``POST /api/tickets/`` for a requester;
- ``form submit``: a requester's ``POST /api/forms/<slug>/submit/`` (each becomes a
  ticket). Signed-in submissions are not throttled (``FormSubmitAnonThrottle`` limits
  anonymous ones to 20 an hour per address), so no throttle is loosened for the run.

The load generator runs on the same two CPUs as gunicorn and PostgreSQL. It is kept
cheap (one process, gevent's HTTP client) and the report splits the CPU time of the run
between locust, gunicorn (master and workers), PostgreSQL's backends of the scratch
database (readable when the server runs on this machine) and everything else (the
server's background processes, anything else running), with the load average: on a
shared machine, waiting for a CPU is part of every figure. The CPU time gunicorn and
the database's backends spent per request is skewed far less by other processes.

**Figures.** Every request is recorded raw by the locustfile (``bench/locustfile.py``);
requests per second, median, 95th and 99th percentile and maximum are computed here,
exactly, per request kind and overall. A request is an error unless it answered its one
expected status (200 for reads, 201 for creates) with the expected JSON. As a check of
the whole path, the tickets in the database must have grown by exactly the number of
created tickets and converted submissions the API confirmed.

Writes ``bench/results/load.json`` and ``bench/results/load.md``; exits 1 on any error or
5xx answer (or a ticket count that doesn't add up), 2 when the run itself failed.
Scratch database and servers are removed at the end, whatever happens.

A small smoke run: ``make bench ONLY=load ARGS="--tickets 2000 --articles 300 --duration 10"``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode

from bench.tickets_api import (
    BenchError,
    bench_main,
    child_env,
    machine,
    manage,
    percentile,
    say,
    server_output,
    web_server,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
LOCUSTFILE = REPO / "bench" / "locustfile.py"
STOP_TIMEOUT_SECONDS = 10  # users finish the request in flight when the time is up

# Weights of the request kinds: a desk reads far more than it writes.
MIX = {"ticket list": 5, "KB search": 3, "ticket create": 1, "form submit": 1}
WHAT = {
    "ticket list": "GET /api/tickets/?<filter>&page_size=50 (agent)",
    "KB search": "GET /api/knowledge/search/?q=<query> (requester)",
    "ticket create": "POST /api/tickets/ (agent, for a requester)",
    "form submit": "POST /api/forms/<slug>/submit/ (requester)",
}
CREATES = ("ticket create", "form submit")
SEARCH_QUERIES = [
    "vpn",
    "reset password",
    "printer",
    "outlook calendar",
    "wifi",
    "mfa",
    "laptop",
    "expenses",
    "zoom audio",
    "yubikey",
    "onboarding",
    "pasword",  # a typo: the corrected query is searched
]
TITLES = [
    "VPN drops every few minutes",
    "Printer on the third floor prints blank pages",
    "Cannot open shared calendar",
    "Laptop fan loud and hot",
    "Locked out after password change",
    "Need access to the finance share",
]
FORM_ANSWERS = [
    {"summary": "Mail stuck in outbox", "area": "E-mail", "urgency": "Today", "details": ""},
    {
        "summary": "Badge reader refuses my card",
        "area": "Building",
        "urgency": "Blocking my work",
        "details": "Since this morning, at the east entrance.",
    },
    {
        "summary": "Screen flickers",
        "area": "Hardware",
        "urgency": "Can wait",
        "details": "Only on the docking station.",
    },
]


# --- figures (pure functions, tested in tests/test_bench_load.py) ----------------------
class Sample(NamedTuple):
    """One request as the locustfile recorded it."""

    name: str  # the request kind, a key of MIX
    start: float  # seconds since the epoch
    ms: float  # from sending to having read the whole answer
    status: int  # 0 when there was no answer (connection refused, reset, timeout)
    error: str  # why it failed; empty when it answered as expected


@dataclass
class EndpointStats:
    requests: int
    per_second: float
    errors: int
    server_errors: int  # 5xx answers, a subset of the errors
    median_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def samples_from_json(text: str) -> list[Sample]:
    """The locustfile's samples file: a JSON list of [name, start, ms, status, error]."""
    rows = json.loads(text)
    return [Sample(str(n), float(s), float(ms), int(st), str(e)) for n, s, ms, st, e in rows]


def window_seconds(samples: Sequence[Sample]) -> float:
    """From the first request sent to the last answer read."""
    if not samples:
        raise ValueError("no samples")
    first = min(s.start for s in samples)
    last = max(s.start + s.ms / 1000 for s in samples)
    return last - first


def stats_of(samples: Sequence[Sample], seconds: float) -> EndpointStats:
    times = [s.ms for s in samples]
    return EndpointStats(
        requests=len(samples),
        per_second=round(len(samples) / seconds, 1),
        errors=sum(1 for s in samples if s.error),
        server_errors=sum(1 for s in samples if s.status >= 500),
        median_ms=round(statistics.median(times), 1),
        p95_ms=round(percentile(times, 95), 1),
        p99_ms=round(percentile(times, 99), 1),
        max_ms=round(max(times), 1),
    )


def summarize(samples: Sequence[Sample], seconds: float) -> dict[str, EndpointStats]:
    """Figures per request kind (in ``MIX`` order, unknown kinds last) and ``all``."""
    by_name: dict[str, list[Sample]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample)
    order = [*(n for n in MIX if n in by_name), *sorted(n for n in by_name if n not in MIX)]
    summary = {name: stats_of(by_name[name], seconds) for name in order}
    if samples:
        summary["all"] = stats_of(samples, seconds)
    return summary


def error_counts(samples: Iterable[Sample], limit: int = 10) -> list[dict[str, Any]]:
    """The most frequent failures: kind, status, message and how often."""
    counts = Counter((s.name, s.status, s.error) for s in samples if s.error)
    return [
        {"name": name, "status": status, "error": error, "count": count}
        for (name, status, error), count in counts.most_common(limit)
    ]


def locust_counts(entries: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Requests and failures per kind from locust's ``--json-file`` statistics."""
    counts: dict[str, tuple[int, int]] = {}
    for entry in entries:
        requests, failures = counts.get(entry["name"], (0, 0))
        counts[entry["name"]] = (
            requests + int(entry["num_requests"]),
            failures + int(entry["num_failures"]),
        )
    return counts


def process_cpu_seconds(stat: str, ticks_per_second: int) -> float:
    """User plus system CPU time from a ``/proc/<pid>/stat`` line."""
    # The command name (field 2) is in parentheses and may hold spaces and parentheses;
    # utime and stime are fields 14 and 15, the 12th and 13th after the last ")".
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def machine_busy_seconds(stat: str, ticks_per_second: int) -> float:
    """CPU seconds the machine's CPUs together were busy since boot, from ``/proc/stat``."""
    line = next(line for line in stat.splitlines() if line.startswith("cpu "))
    # user nice system idle iowait irq softirq steal; guest time is inside user already.
    ticks = [int(v) for v in line.split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / ticks_per_second


def cpu_delta(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU seconds that processes spent between two readings (pid -> seconds). A process
    started in between counts whole; one that ended in between is lost."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def verdict(
    summary: Mapping[str, EndpointStats],
    mix: Iterable[str],
    *,
    tickets_added: int,
    tickets_confirmed: int,
) -> list[str]:
    """Why the run fails the issue's bar (no errors, no 5xx); empty when it passes."""
    problems = []
    for name in mix:
        stats = summary.get(name)
        if stats is None:
            problems.append(f"{name}: no request completed")
        elif stats.errors:
            problems.append(
                f"{name}: {stats.errors} of {stats.requests} requests failed "
                f"({stats.server_errors} with a 5xx answer)"
            )
    if tickets_added != tickets_confirmed:
        problems.append(
            f"the database gained {tickets_added} tickets, the API confirmed "
            f"{tickets_confirmed} (created tickets and converted submissions)"
        )
    return problems


# --- setup -----------------------------------------------------------------------------
SETUP = """
import json
from rest_framework.authtoken.models import Token
from forms_builder import services as forms
from forms_builder.models import CustomForm, FormField, FormStatus
from nixflow.models import Role
from nixflow.services import user_create

agents, requesters = [], []
for n in range(USERS):
    agent = user_create(
        username=f"bench-load-agent-{n}", email=f"bench-load-agent-{n}@bench.example",
        role=Role.AGENT,
    )
    agents.append((agent, Token.objects.create(user=agent).key))
    requester = user_create(
        username=f"bench-load-requester-{n}", email=f"bench-load-requester-{n}@bench.example",
        role=Role.REQUESTER,
    )
    requesters.append([requester.pk, Token.objects.create(user=requester).key])
designer = agents[0][0]
form = CustomForm(
    name="Report a problem", slug="bench-load-report", title_template="{summary}",
    description_field="details", login_required=True, success_message="Thanks.",
)
fields = [
    FormField(key="summary", label="What is wrong?", field_type="text", required=True,
              max_length=150, order=10),
    FormField(key="area", label="Area", field_type="select", required=True, order=20,
              choices=["E-mail", "Building", "Hardware", "Software"]),
    FormField(key="urgency", label="How urgent is it?", field_type="radio", required=True,
              order=30, choices=["Can wait", "Today", "Blocking my work"]),
    FormField(key="details", label="Details", field_type="textarea", order=40),
]
forms.form_save(form=form, changed_fields=fields, actor=designer)
forms.form_set_status(form=form, status=FormStatus.PUBLISHED, actor=designer)
print("PLAN", json.dumps({
    "agents": [key for _, key in agents], "requesters": requesters, "form_slug": form.slug,
}))
"""


def knowledge_skipped() -> str:
    """Why KB search can't be part of the load; empty when it can."""
    from django.core.management import get_commands
    from django.urls import NoReverseMatch, reverse

    if "knowledge_load" not in get_commands():
        return "the knowledge app has no `knowledge_load` command to fill it"
    try:
        reverse("knowledge-search")
    except NoReverseMatch:
        return "no `knowledge-search` route (/api/knowledge/search/)"
    return ""


def list_paths(database: str) -> list[str]:
    from tests.support.processes import admin_connection

    with admin_connection(database) as conn:
        stage = conn.execute(
            "SELECT s.id FROM nixflow_stage s JOIN nixflow_workflow w ON w.id = s.workflow_id "
            "WHERE w.is_default AND s.category = 'OPEN' ORDER BY s.position LIMIT 1"
        ).fetchone()[0]
        agent = conn.execute(
            "SELECT assignee_id FROM nixflow_ticket WHERE assignee_id IS NOT NULL "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    return [
        f"/api/tickets/?stage={stage}&ordering=-created&page_size=50",
        f"/api/tickets/?assignee={agent}&page_size=50",
        "/api/tickets/?assignee=none&stage_category=NEW&page_size=50",
        "/api/tickets/?priority=URGENT&page_size=50",
        "/api/tickets/?page_size=50",
    ]


def ticket_count(database: str) -> int:
    from tests.support.processes import admin_connection

    with admin_connection(database) as conn:
        return conn.execute("SELECT count(*) FROM nixflow_ticket").fetchone()[0]


def make_plan(
    database: str, env: Mapping[str, str], args: argparse.Namespace, skipped: str
) -> dict[str, Any]:
    from django.urls import reverse

    output = manage(["shell", "-c", f"USERS = {args.users}\n{SETUP}"], env)
    made = json.loads(next(line[5:] for line in output.splitlines() if line.startswith("PLAN ")))
    mix = {name: weight for name, weight in MIX.items() if not (skipped and name == "KB search")}
    search = reverse("knowledge-search") if not skipped else ""
    return {
        "agents": made["agents"],
        "requesters": made["requesters"],
        "mix": mix,
        "list_paths": list_paths(database),
        "search_paths": [f"{search}?{urlencode({'q': q})}" for q in SEARCH_QUERIES],
        "titles": TITLES,
        "form_submit_path": reverse("form-submit", kwargs={"slug": made["form_slug"]}),
        "form_answers": FORM_ANSWERS,
    }


def call(
    base_url: str, method: str, path: str, token: str, body: Mapping[str, Any] | None = None
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=60)
    headers = {"Accept": "application/json", "Authorization": f"Token {token}"}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw[:300]


def warm_up(base_url: str, plan: Mapping[str, Any]) -> None:
    """A few requests of each kind, which must answer as the load will expect: a setup
    mistake then fails the run here (exit 2), not as a minute of errors."""
    agent = plan["agents"][0]
    requester_id, requester = plan["requesters"][0]
    ticket = {"title": "Warm-up", "requester": requester_id}
    answers = plan["form_answers"][0]
    checks: list[tuple[str, str, str, str, Mapping[str, Any] | None, int, str]] = [
        *(("ticket list", "GET", p, agent, None, 200, "results") for p in plan["list_paths"]),
        ("ticket create", "POST", "/api/tickets/", agent, ticket, 201, "key"),
        ("form submit", "POST", plan["form_submit_path"], requester, answers, 201, "ticket"),
        *(("KB search", "GET", p, requester, None, 200, "results") for p in plan["search_paths"]),
    ]
    hits = 0
    for kind, method, path, token, body, expected, key in checks:
        if kind not in plan["mix"]:
            continue
        for _ in range(2):
            status, answer = call(base_url, method, path, token, body)
            if status != expected or not isinstance(answer, dict) or key not in answer:
                raise BenchError(f"warm-up {method} {path} answered {status}: {answer!r}")
            if kind == "KB search":
                hits += answer.get("count") or 0
    if "KB search" in plan["mix"] and not hits:
        raise BenchError("no KB search query found an article: was the knowledge base filled?")


# --- the load --------------------------------------------------------------------------
def server_pids(port: int) -> list[int]:
    """gunicorn's master and workers on ``port`` (the workers are forks: same command)."""
    bind = f"127.0.0.1:{port}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes()
                if b"nixflow.wsgi:application" in cmdline and bind in cmdline:
                    pids.append(int(entry.name))
    return pids


def backend_pids(database: str) -> list[int]:
    """PostgreSQL's server processes for ``database`` (gunicorn's persistent connections);
    their CPU can be read only when the server runs on this machine."""
    from tests.support.processes import admin_connection

    with admin_connection() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return [row[0] for row in rows]


def cpu_of(pids: Iterable[int], ticks: int) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            seconds[pid] = process_cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), ticks)
    return seconds


@dataclass
class LoadRun:
    samples: list[Sample]
    locust_entries: list[dict[str, Any]]
    locust_cpu_seconds: float
    server_cpu_seconds: float
    database_cpu_seconds: float
    machine_busy_seconds: float
    wall_seconds: float
    cpu_warning: bool  # locust said its own CPU was saturated


def run_locust(
    base_url: str, plan: Mapping[str, Any], args: argparse.Namespace, work: Path, database: str
) -> LoadRun:
    from tests.support.processes import VENV_BIN

    plan_file, samples_file, log_file = (
        work / "plan.json",
        work / "samples.json",
        work / "locust.log",
    )
    plan_file.write_text(json.dumps({**plan, "samples": str(samples_file)}))
    cmd = [
        str(VENV_BIN / "locust"),
        "--locustfile", str(LOCUSTFILE),
        "--headless",
        "--host", base_url,
        "--users", str(args.users),
        "--spawn-rate", str(args.users),  # all at once: the whole minute at full load
        "--run-time", f"{args.duration}s",
        "--stop-timeout", str(STOP_TIMEOUT_SECONDS),
        "--json-file", str(work / "locust"),
        "--exit-code-on-error", "0",  # errors are judged here, from the samples
        "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "NIXFLOW_LOAD_PLAN": str(plan_file), "PYTHONUNBUFFERED": "1"}
    ticks = os.sysconf("SC_CLK_TCK")
    port = int(base_url.rsplit(":", 1)[1])
    server_before = cpu_of(server_pids(port), ticks)
    database_before = cpu_of(backend_pids(database), ticks)
    busy_before = machine_busy_seconds(Path("/proc/stat").read_text(), ticks)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with log_file.open("w") as log:
        done = subprocess.run(  # noqa: S603 -- the venv's locust, arguments from this module
            cmd,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=args.duration + STOP_TIMEOUT_SECONDS + 120,
            check=False,
        )
    wall = time.monotonic() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_after = machine_busy_seconds(Path("/proc/stat").read_text(), ticks)
    server_after = cpu_of(server_pids(port), ticks)
    database_after = cpu_of(backend_pids(database), ticks)
    output = log_file.read_text(errors="replace")
    if done.returncode != 0 or not samples_file.exists():
        tail = "\n".join(output.splitlines()[-30:])
        raise BenchError(f"locust exited with {done.returncode}:\n{tail}")
    return LoadRun(
        samples=samples_from_json(samples_file.read_text()),
        locust_entries=json.loads((work / "locust.json").read_text()),
        locust_cpu_seconds=(children_after.ru_utime + children_after.ru_stime)
        - (children_before.ru_utime + children_before.ru_stime),
        server_cpu_seconds=cpu_delta(server_before, server_after),
        database_cpu_seconds=cpu_delta(database_before, database_after),
        machine_busy_seconds=busy_after - busy_before,
        wall_seconds=wall,
        cpu_warning="CPU usage" in output,  # its "above 90 %" warnings
    )


# --- the report ------------------------------------------------------------------------
def report(
    load: LoadRun,
    plan: Mapping[str, Any],
    args: argparse.Namespace,
    context: Mapping[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    seconds = window_seconds(load.samples)
    summary = summarize(load.samples, seconds)
    ours = Counter(s.name for s in load.samples)
    theirs = {name: n for name, (n, _) in locust_counts(load.locust_entries).items()}
    if dict(ours) != theirs:
        raise BenchError(f"samples {dict(ours)} disagree with locust's counts {theirs}")
    confirmed = sum(
        1 for s in load.samples if s.name in CREATES and s.status == 201 and not s.error
    )
    added = context["tickets_after"] - context["tickets_before"]
    problems = verdict(summary, plan["mix"], tickets_added=added, tickets_confirmed=confirmed)
    cpus = os.cpu_count() or 1
    served = load.server_cpu_seconds + load.database_cpu_seconds
    busy_percent = 100 * load.machine_busy_seconds / (load.wall_seconds * cpus)
    other = (
        load.machine_busy_seconds
        - load.locust_cpu_seconds
        - load.server_cpu_seconds
        - load.database_cpu_seconds
    )

    def cores(cpu_seconds: float) -> float:
        return round(cpu_seconds / load.wall_seconds, 2)

    notes = [
        (
            "Form submissions are sent signed in (a requester's token): the anonymous "
            "throttle of form submit does not apply to them, and no throttle was changed."
        ),
    ]
    if context["knowledge_skipped"]:
        notes.append(f"KB search was left out of the mix: {context['knowledge_skipped']}.")
    if load.cpu_warning:
        notes.append("locust warned that its own CPU was saturated: the rates are a floor.")
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine(),
            "postgresql": context["server_version"],
            "load_average_1min_before_after": [round(x, 2) for x in context["load"]],
        },
        "settings": {
            "tool": context["locust_version"],
            "users": args.users,
            "spawn_rate_per_second": args.users,
            "think_time_seconds": 0,
            "duration_seconds": args.duration,
            "gunicorn_workers": args.workers,
            "mix": plan["mix"],
            "tickets": args.tickets,
            "articles": 0 if context["knowledge_skipped"] else args.articles,
            "seed": args.seed,
        },
        "data": context["data"],
        "requests": {
            name: {"what": WHAT.get(name, name), **asdict(stats)} for name, stats in summary.items()
        },
        "paths": {
            "ticket list": plan["list_paths"],
            "KB search": plan["search_paths"] if "KB search" in plan["mix"] else [],
        },
        "window_seconds": round(seconds, 1),
        "errors": error_counts(load.samples),
        "tickets": {"added": added, "confirmed_by_the_api": confirmed},
        "cpu": {
            "wall_seconds": round(load.wall_seconds, 1),
            "cpus": cpus,
            "machine_busy_percent": round(busy_percent, 1),
            "cores_used": {
                "locust": cores(load.locust_cpu_seconds),
                "gunicorn": cores(load.server_cpu_seconds),
                "postgresql_backends": cores(load.database_cpu_seconds),
                "everything_else": cores(max(other, 0.0)),
            },
            # What one request costs the server, whoever else shares the machine.
            "server_cpu_ms_per_request": round(1000 * served / len(load.samples), 1),
            "locust_cpu_warning": load.cpu_warning,
        },
        "notes": notes,
        "passed": not problems,
        "problems": problems,
    }
    return results, problems


def markdown(results: Mapping[str, Any]) -> str:
    m, s, c = results["machine"], results["settings"], results["cpu"]
    where = (
        f"{results['date']} · commit {m.get('commit', '?')} · {m.get('cpu', '?')}, "
        f"{m['cpus']} CPUs, {m.get('memory_gib', '?')} GiB · Python {m['python']} · "
        f"PostgreSQL {m['postgresql']}"
    )
    data = f"{s['tickets']:,} tickets" + (
        f", {s['articles']:,} KB articles" if s["articles"] else ""
    )
    how = (
        f"{s['tool']}, one process, {s['users']} users started at once, each sending its next "
        f"request as soon as the last answered, for {s['duration_seconds']} s; gunicorn with "
        f"{s['gunicorn_workers']} sync workers (DEBUG off, persistent connections) on a scratch "
        f"database of {data}, all on this machine. Mix by weight: "
        + ", ".join(f"{name} {weight}" for name, weight in s["mix"].items())
        + ". Written by `make bench` (bench/load.py)."
    )
    lines = ["# Load test", "", where, "", how, ""]
    before, after = m["load_average_1min_before_after"]
    if max(before, after) > m["cpus"]:
        busy = (
            f"The machine was busy (load average {before:.1f} → {after:.1f} on {m['cpus']} "
            "CPUs): the figures include waiting for a CPU."
        )
        lines += [busy, ""]
    lines += [
        "| requests | what | count | per s | median ms | p95 ms | p99 ms | max ms | errors | 5xx |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["requests"].items():
        label = f"**{name}**" if name == "all" else name
        what = f"`{r['what']}`" if name != "all" else f"over {results['window_seconds']} s"
        lines.append(
            f"| {label} | {what} | {r['requests']:,} | {r['per_second']:.1f} | "
            f"{r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | "
            f"{r['errors']} | {r['server_errors']} |"
        )
    used, tickets = c["cores_used"], results["tickets"]
    cpu = (
        f"CPU over {c['wall_seconds']} s: the machine {c['machine_busy_percent']:.0f} % busy; "
        f"cores used by locust {used['locust']:.2f}, gunicorn {used['gunicorn']:.2f}, "
        f"PostgreSQL's backends of the database {used['postgresql_backends']:.2f}, "
        f"everything else {used['everything_else']:.2f} (of {c['cpus']}). A request cost "
        f"gunicorn and PostgreSQL {c['server_cpu_ms_per_request']:.1f} ms of CPU on average."
    )
    added = (
        f"Tickets added to the database: {tickets['added']:,}; created tickets and converted "
        f"submissions the API confirmed: {tickets['confirmed_by_the_api']:,}."
    )
    lines += ["", cpu, "", added, ""]
    lines += [f"- {note}" for note in results["notes"]]
    lines.append("")
    if results["errors"]:
        lines += ["| requests | status | error | count |", "|---|---:|---|---:|"]
        for e in results["errors"]:
            error = " ".join(e["error"][:160].split()).replace("|", "\\|")
            lines.append(f"| {e['name']} | {e['status']} | {error} | {e['count']} |")
        lines.append("")
    if results["passed"]:
        lines.append("**Passed:** no errors, no 5xx.")
    else:
        lines += ["**Failed:**", "", *(f"- {p}" for p in results["problems"])]
    return "\n".join([*lines, ""])


# --- main ------------------------------------------------------------------------------
def locust_version() -> str:
    from tests.support.processes import VENV_BIN

    locust = VENV_BIN / "locust"
    if not locust.exists():
        raise BenchError(
            f"{locust} is missing: locust is a dev extra of pyproject.toml "
            "(scripts/bootstrap.sh installs it)"
        )
    done = subprocess.run(  # noqa: S603 -- the venv's locust
        [str(locust), "--version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip().split(" from ")[0] or "locust"


def prepare(
    database: str, env: Mapping[str, str], args: argparse.Namespace, skipped: str
) -> dict[str, str]:
    """Migrate and fill the scratch database; what the load commands said."""
    from tests.support.processes import admin_connection

    data: dict[str, str] = {}
    say(f"== migrating {database}")
    manage(["migrate", "--noinput"], env)
    say(f"== load_data --tickets {args.tickets}")
    output = manage(
        ["load_data", f"--tickets={args.tickets}", f"--seed={args.seed}"],
        env,
        timeout=3600,
        show_stderr=True,  # the progress line
    )
    data["load_data"] = output.strip().splitlines()[-1]
    say(f"   {data['load_data']}")
    if skipped:
        say(f"   KB search left out: {skipped}")
    else:
        say(f"== knowledge_load --articles {args.articles}")
        output = manage(
            ["knowledge_load", f"--articles={args.articles}", f"--seed={args.seed}"],
            env,
            timeout=3600,
            show_stderr=True,
        )
        data["knowledge_load"] = output.strip().splitlines()[-1] if output.strip() else ""
        say(f"   {data['knowledge_load']}")
    with admin_connection(database) as conn:
        # A production table is vacuumed and analyzed; a freshly loaded one is not.
        conn.execute("VACUUM ANALYZE")
        data["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    return data


def run(args: argparse.Namespace) -> int:
    from tests.support.processes import create_database, database_url, drop_database, scratch_name

    version = locust_version()
    skipped = knowledge_skipped()
    with contextlib.ExitStack() as cleanup:
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-load-")))
        database = scratch_name("nixflow_bench_load")
        create_database(database)
        if args.keep_database:
            say(f"   keeping database {database}")
        else:
            cleanup.callback(drop_database, database)
        env = child_env(database_url(database), work / "var")
        env["MEDIA_ROOT"] = str(work / "media")
        data = prepare(database, env, args, skipped)
        plan = make_plan(database, env, args, skipped)
        base_url = cleanup.enter_context(web_server(env, args.workers))
        say("== warm-up")
        try:
            warm_up(base_url, plan)
        except (OSError, http.client.HTTPException) as error:
            raise BenchError(f"warm-up failed: {error}\n{server_output(work / 'var')}") from error
        tickets_before = ticket_count(database)
        say(f"== {version}: {args.users} users for {args.duration} s")
        load_average = [os.getloadavg()[0]]
        load = run_locust(base_url, plan, args, work, database)
        load_average.append(os.getloadavg()[0])
        tickets_after = ticket_count(database)
        if not load.samples:
            raise BenchError("locust ran but recorded no request")

    context = {
        "server_version": data.pop("postgresql"),
        "load": load_average,
        "locust_version": version,
        "knowledge_skipped": skipped,
        "data": data,
        "tickets_before": tickets_before,
        "tickets_after": tickets_after,
    }
    results, problems = report(load, plan, args, context)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "load.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "load.md").write_text(markdown(results))
    say("")
    say(markdown(results))
    say(f"Results: {args.output / 'load.json'}, {args.output / 'load.md'}")
    if problems:
        say("FAILED: " + "; ".join(problems))
        return 1
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000, help="load_data --tickets.")
    parser.add_argument("--articles", type=int, default=5_000, help="knowledge_load --articles.")
    parser.add_argument("--duration", type=int, default=60, help="Seconds of load.")
    parser.add_argument("--users", type=int, default=4, help="Concurrent simulated users.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS, help="Where results go.")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    if min(args.tickets, args.articles, args.duration, args.users, args.workers) < 1:
        parser.error("--tickets, --articles, --duration, --users and --workers must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
