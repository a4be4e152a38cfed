"""The time-rule benchmark (bench/automation.py) at a tiny scale: its scene, its timed
pass (rolled back), the scan's SQL alone, and its verdict. (The run itself needs loaded
databases: ``python -m bench.automation --sizes 2000,20000 --due 100`` by hand.)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from automation.models import Rule, RuleFiring
from automation.time_rules import TIME_RULE_DUE
from bench.automation import parse_args, report, set_scene, time_find, time_pass
from eventlog.models import EventLog
from nixflow.models import Ticket


@pytest.mark.django_db(transaction=True)
def test_the_scene_makes_exactly_the_due_tickets_due_and_the_timed_pass_leaves_nothing() -> None:
    call_command("load_data", tickets=300, comments_per_ticket=0, no_history=True, no_progress=True)
    assert not Ticket.objects.filter(stage_entered_at__isnull=True).exists()
    database = connection.settings_dict["NAME"]

    rule_id = set_scene(database, due=20)
    again = set_scene(database, due=20)  # a second run reuses its rule

    assert again == rule_id
    assert Rule.objects.get(pk=rule_id).is_active
    seconds, per_ticket = time_pass(database, 20, act_sample=3)
    assert seconds > 0
    assert per_ticket is not None
    assert per_ticket > 0
    found_in, _ = time_find(database, rule_id, 20)
    assert found_in > 0
    # Rolled back: the next repetition finds the same tickets due.
    assert not RuleFiring.objects.exists()
    assert not EventLog.objects.filter(type=TIME_RULE_DUE).exists()
    assert time_pass(database, 20)[1] is None


def results(pass_ms: dict[int, float]) -> dict:
    return {
        "date": "2026-12-07T12:00:00+00:00",
        "machine": {"commit": "abc", "cpus": 2},
        "load_average": [1.0, 1.5],
        "problems": [],
        "sizes": {
            size: {"pass_ms": [ms, ms], "find_ms": [3.0], "index": "nf_ticket_stage_entered"}
            for size, ms in pass_ms.items()
        },
    }


def args(tmp_path: Path) -> argparse.Namespace:
    return parse_args(["--due", "1000", "--output", str(tmp_path)])


def test_the_verdict_passes_a_flat_pass_under_a_second(tmp_path: Path) -> None:
    assert report(args(tmp_path), results({10_000: 300.0, 1_000_000: 420.0})) == 0

    written = json.loads((tmp_path / "automation.json").read_text())
    assert (written["pass_ratio"], written["problems"]) == (1.4, [])
    assert (
        "| 1,000,000 tickets, 1,000 due | 420.0 ms | 3.0 ms |"
        in (tmp_path / "automation.md").read_text()
    )


@pytest.mark.parametrize(
    ("pass_ms", "problem"),
    [
        ({10_000: 700.0, 1_000_000: 1200.0}, "took 1200.0 ms (> 1 s)"),
        ({10_000: 200.0, 1_000_000: 400.0}, "pass ratio 2.0 > 1.5"),
    ],
)
def test_the_verdict_names_each_missed_target(
    tmp_path: Path, pass_ms: dict[int, float], problem: str
) -> None:
    figures = results(pass_ms)

    assert report(args(tmp_path), figures) == 1
    assert any(problem in p for p in figures["problems"])


def test_one_database_name_is_for_one_size_only() -> None:
    assert parse_args(["--sizes", "500", "--database", "mine"]).database == "mine"
    with pytest.raises(SystemExit):
        parse_args(["--database", "mine"])  # two sizes by default
