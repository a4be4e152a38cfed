"""bench.portal's verdict and report, without a database (the run itself is `make bench`)."""

from __future__ import annotations

import argparse

from bench.portal import markdown, parse_args, report


def fake_run(median_ms: float) -> dict:
    args = parse_args(["--tickets", "1000", "--mine", "10"])
    args.paths = {"list": "/portal/", "closed": "/portal/?status=closed"}
    samples = {"list": [median_ms] * 5, "closed": [10.0] * 5}
    load = {"tickets": 1000, "comments_per_ticket": 2, "mine": 10, "reused": True}
    return report(samples, args, load, "15", [1.0, 1.0])


def test_a_median_over_the_target_is_a_problem() -> None:
    assert fake_run(49.0)["problems"] == []
    [problem] = fake_run(51.0)["problems"]
    assert problem.startswith("list: median 51.0 ms")


def test_the_report_names_every_page_and_the_database() -> None:
    text = markdown(fake_run(20.0))
    assert "| list | `/portal/` | 20.0 |" in text
    assert "one requester with 10 of them (reused)" in text
    assert isinstance(parse_args([]), argparse.Namespace)
    assert parse_args([]).database == "nixflow_bench_portal_1000000"
