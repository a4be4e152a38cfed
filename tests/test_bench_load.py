"""The load test's figures (bench/load.py): summaries, CPU readings and the verdict."""

from __future__ import annotations

import ast
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from bench.load import (
    LOCUSTFILE,
    MIX,
    EndpointStats,
    Sample,
    cpu_delta,
    error_counts,
    locust_counts,
    machine_busy_seconds,
    markdown,
    process_cpu_seconds,
    samples_from_json,
    summarize,
    verdict,
    window_seconds,
)

T0 = 1_800_000_000.0


def ok(name: str, start: float, ms: float, status: int = 200) -> Sample:
    return Sample(name, T0 + start, ms, status, "")


def failed(name: str, start: float, status: int, error: str = "HTTP error") -> Sample:
    return Sample(name, T0 + start, 5.0, status, error)


def test_samples_are_read_from_the_locustfile_json() -> None:
    text = json.dumps([["ticket list", T0, 12.5, 200, ""], ["form submit", T0 + 1, 30, 0, "x"]])

    assert samples_from_json(text) == [
        Sample("ticket list", T0, 12.5, 200, ""),
        Sample("form submit", T0 + 1, 30.0, 0, "x"),
    ]


def test_the_window_runs_from_the_first_request_sent_to_the_last_answer_read() -> None:
    samples = [ok("ticket list", 0.0, 100.0), ok("ticket list", 9.5, 500.0), ok("KB search", 3, 1)]

    assert window_seconds(samples) == pytest.approx(10.0)


def test_summary_gives_exact_percentiles_per_kind_and_overall() -> None:
    lists = [ok("ticket list", n / 100, float(n)) for n in range(1, 101)]  # 1..100 ms
    searches = [ok("KB search", 0.5, 7.0), ok("KB search", 0.6, 9.0)]

    summary = summarize([*searches, *lists], seconds=2.0)

    assert list(summary) == ["ticket list", "KB search", "all"]  # MIX order, then all
    assert summary["ticket list"] == EndpointStats(
        requests=100,
        per_second=50.0,
        errors=0,
        server_errors=0,
        median_ms=50.5,
        p95_ms=95.0,
        p99_ms=99.0,
        max_ms=100.0,
    )
    assert summary["KB search"].median_ms == 8.0
    assert summary["all"].requests == 102
    assert summary["all"].per_second == 51.0


def test_summary_counts_every_failure_as_an_error_and_5xx_apart() -> None:
    samples = [
        ok("ticket create", 0, 20.0, 201),
        failed("ticket create", 1, 500),
        failed("ticket create", 2, 400),
        failed("ticket create", 3, 0, "ConnectionRefusedError"),
        failed("ticket create", 4, 201, "the answer has no 'key'"),
    ]

    stats = summarize(samples, seconds=5.0)["ticket create"]

    assert (stats.requests, stats.errors, stats.server_errors) == (5, 4, 1)


def test_error_counts_group_the_same_failure_most_frequent_first() -> None:
    samples = [
        failed("form submit", 0, 502, "HTTP 502"),
        failed("ticket list", 0, 500, "HTTP 500"),
        failed("ticket list", 1, 500, "HTTP 500"),
        ok("ticket list", 2, 3.0),
    ]

    assert error_counts(samples) == [
        {"name": "ticket list", "status": 500, "error": "HTTP 500", "count": 2},
        {"name": "form submit", "status": 502, "error": "HTTP 502", "count": 1},
    ]


def test_locust_counts_add_up_its_json_entries_by_name() -> None:
    entries = [
        {"name": "ticket list", "method": "GET", "num_requests": 40, "num_failures": 0},
        {"name": "ticket create", "method": "POST", "num_requests": 9, "num_failures": 1},
        {"name": "ticket list", "method": "HEAD", "num_requests": 2, "num_failures": 2},
    ]

    assert locust_counts(entries) == {"ticket list": (42, 2), "ticket create": (9, 1)}


def test_process_cpu_seconds_reads_utime_and_stime_past_an_odd_command_name() -> None:
    # Fields 14 and 15 (utime 250, stime 50 ticks); the name holds a space and a ")".
    stat = "4242 (gunicorn: a) b) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 1 0"

    assert process_cpu_seconds(stat, 100) == 3.0


def test_machine_busy_seconds_leave_out_idle_and_iowait() -> None:
    stat = "cpu  100 10 40 800 50 5 5 0 0 0\ncpu0 50 5 20 400 25 2 3 0 0 0\nintr 1 2 3\n"

    assert machine_busy_seconds(stat, 100) == 1.6  # (100+10+40+5+5+0) ticks


def test_cpu_delta_counts_a_process_started_between_the_readings_whole() -> None:
    before = {10: 1.0, 11: 2.0, 12: 5.0}  # 12 ends before the second reading: lost
    after = {10: 1.5, 11: 4.0, 13: 0.25}

    assert cpu_delta(before, after) == 2.75


def stats(requests: int = 10, errors: int = 0, server_errors: int = 0) -> EndpointStats:
    return EndpointStats(requests, 1.0, errors, server_errors, 5.0, 9.0, 9.5, 10.0)


def test_verdict_passes_with_no_errors_and_the_tickets_accounted_for() -> None:
    summary = {name: stats() for name in MIX}

    assert verdict(summary, MIX, tickets_added=20, tickets_confirmed=20) == []


def test_verdict_fails_on_any_error_and_says_how_many_were_5xx() -> None:
    summary = {**{name: stats() for name in MIX}, "form submit": stats(10, 2, 1)}

    problems = verdict(summary, MIX, tickets_added=8, tickets_confirmed=8)

    assert problems == ["form submit: 2 of 10 requests failed (1 with a 5xx answer)"]


def test_verdict_fails_when_a_kind_of_the_mix_never_completed() -> None:
    summary = {name: stats() for name in MIX if name != "KB search"}

    assert verdict(summary, MIX, tickets_added=0, tickets_confirmed=0) == [
        "KB search: no request completed"
    ]


def test_verdict_fails_when_the_database_gained_other_tickets_than_confirmed() -> None:
    summary = {name: stats() for name in MIX}

    problems = verdict(summary, MIX, tickets_added=19, tickets_confirmed=20)

    assert problems == [
        (
            "the database gained 19 tickets, the API confirmed 20 "
            "(created tickets and converted submissions)"
        )
    ]


def results(*, passed: bool, load_average: float) -> dict:
    request = {"what": "GET /x", **asdict(stats())}
    return {
        "date": "2026-11-28T08:00:00+00:00",
        "machine": {
            "cpus": 2,
            "python": "3.11.7",
            "postgresql": "15.20",
            "load_average_1min_before_after": [load_average, load_average],
        },
        "settings": {
            "tool": "locust 2.47.0",
            "users": 4,
            "duration_seconds": 60,
            "gunicorn_workers": 2,
            "mix": {"ticket list": 1},
            "tickets": 100_000,
            "articles": 0,
        },
        "requests": {"ticket list": request, "all": request},
        "window_seconds": 60.1,
        "errors": [] if passed else [{"name": "x", "status": 500, "error": "HTTP", "count": 3}],
        "tickets": {"added": 5, "confirmed_by_the_api": 5},
        "cpu": {
            "wall_seconds": 61.0,
            "cpus": 2,
            "machine_busy_percent": 97.0,
            "cores_used": {
                "locust": 0.2,
                "gunicorn": 0.9,
                "postgresql_backends": 0.6,
                "everything_else": 0.2,
            },
            "server_cpu_ms_per_request": 12.3,
        },
        "notes": ["KB search was left out of the mix: no route."],
        "passed": passed,
        "problems": [] if passed else ["ticket list: 3 of 10 requests failed (3 with a 5xx)"],
    }


def test_markdown_shows_the_figures_the_notes_and_the_verdict() -> None:
    text = markdown(results(passed=True, load_average=0.5))

    assert "| ticket list | `GET /x` | 10 | 1.0 | 5.0 | 9.0 | 9.5 | 10.0 | 0 | 0 |" in text
    assert "- KB search was left out of the mix: no route." in text
    assert "cores used by locust 0.20, gunicorn 0.90" in text
    assert "cost gunicorn and PostgreSQL 12.3 ms of CPU" in text
    assert "**Passed:** no errors, no 5xx." in text
    assert "busy" not in text.split("CPU over")[0]


def test_markdown_of_a_failed_run_on_a_busy_machine_lists_errors_and_problems() -> None:
    text = markdown(results(passed=False, load_average=5.0))

    assert "The machine was busy (load average 5.0 → 5.0 on 2 CPUs)" in text
    assert "| x | 500 | HTTP | 3 |" in text
    assert "- ticket list: 3 of 10 requests failed (3 with a 5xx)" in text


def test_every_kind_of_the_mix_is_a_task_of_the_locustfile() -> None:
    # Parsed, not imported: importing locust would monkey-patch the test process.
    tree = ast.parse(Path(LOCUSTFILE).read_text())
    kinds = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "KINDS"
    )

    assert isinstance(kinds, ast.Dict)
    assert {ast.literal_eval(key) for key in kinds.keys if key is not None} == set(MIX)
