"""Backlog: open tickets now by stage and age, and the backlog at the end of each day,
equal to counting the tickets in Python (from the tally and from the rows)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from nixflow.models import Stage, Tag, Ticket
from reports.figures.backlog import backlog_trend
from reports.figures.volume import tally_usable
from reports.selectors import report_build
from tests.factories import default_workflow
from tests.reports.support import SPRING, at, report_filters, ticket_at

pytestmark = pytest.mark.django_db

NOW = at(SPRING + timedelta(days=3), 12)  # Wednesday 1 April 2026, noon in Berlin
H, D = timedelta(hours=1), timedelta(days=1)


def open_at(instant: datetime, tickets: list[Ticket]) -> int:
    rows = Ticket.objects.filter(pk__in=[t.pk for t in tickets])
    return len(
        [
            t
            for t in rows
            if t.created < instant and (t.resolved_at is None or t.resolved_at >= instant)
        ]
    )


@pytest.fixture
def desk(berlin: object) -> list[Ticket]:
    stages = {s.name: s for s in Stage.objects.filter(workflow=default_workflow())}
    ages = [2 * H, 23 * H, 25 * H, 3 * D - H, 3 * D, 6 * D, 8 * D, 29 * D, 31 * D, 90 * D]
    tickets = [ticket_at(NOW - age, None, stage=stages["Open"]) for age in ages]
    tickets += [ticket_at(NOW - age, None, stage=stages["New"]) for age in ages[:3]]
    # Resolved ones: gone from "open now", but part of the backlog before.
    tickets += [ticket_at(NOW - 5 * D, NOW - 2 * D - 10 * H, stage=stages["Resolved"])]
    tickets += [ticket_at(at(SPRING, 1), at(SPRING, 23, 30), stage=stages["Closed"])]
    return tickets


@time_machine.travel(NOW, tick=False)
def test_open_now_by_stage_and_age(desk: list[Ticket]) -> None:
    report = report_build(name="backlog", filters=report_filters(range="7"))
    figures = {f.key: f.value for f in report.figures}
    assert figures["open"] == Ticket.objects.filter(resolved_at__isnull=True).count() == 13
    # < 1 day: 2 h, 23 h (twice each); 1-3: 25 h, 71 h (+25 h of New); 3-7: 3 d, 6 d;
    # 7-30: 8 d, 29 d; > 30: 31 d, 90 d.
    assert [figures[k] for k in ("under_1d", "d1_3", "d3_7", "d7_30", "over_30d")] == [
        4,
        3,
        2,
        2,
        2,
    ]
    rows = {row["stage"]: row for row in report.table("by_stage").rows}
    assert rows["New"]["total"] == 3
    assert rows["New"]["under_1d"] == 2
    assert rows["Open"]["total"] == 10
    assert rows["Open"]["over_30d"] == 2
    assert list(rows) == ["New", "Open"]  # the workflow's order


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("tagged", [False, True])
def test_trend_is_the_open_count_at_each_days_end(desk: list[Ticket], tagged: bool) -> None:
    params = {"from": "2026-03-27", "to": "2026-04-01"}
    tickets = desk
    if tagged:  # the tally has no tags: the report counts the rows
        tag = Tag.objects.create(name="printer")
        tickets = desk[::2]
        for ticket in tickets:
            ticket.tags.add(tag)
        params["tag"] = str(tag.pk)
    filters = report_filters(**params)
    assert tally_usable(filters) is not tagged
    report = report_build(name="backlog", filters=filters)
    trend = report.table("trend").rows
    assert [row["date"] for row in trend] == filters.days
    for row in trend:
        end = min(at(row["date"] + D, 0), timezone.now())
        assert row["open"] == open_at(end, tickets), row["date"]
    assert report.chart.series[0].values == [row["open"] for row in trend]
    # Today's end is now: the trend ends on the open count.
    figures = {f.key: f.value for f in report.figures}
    assert trend[-1]["open"] == figures["open"]


@time_machine.travel(NOW, tick=False)
def test_filters_narrow_open_now(desk: list[Ticket]) -> None:
    Ticket.objects.filter(pk=desk[0].pk).update(priority="URGENT")
    report = report_build(name="backlog", filters=report_filters(range="7", priority="URGENT"))
    assert {f.key: f.value for f in report.figures}["open"] == 1
    assert report.table("trend").rows[-1]["open"] == 1


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("params", [{}, {"priority": "URGENT"}])
def test_trend_of_a_past_range_works_back_from_open_now(
    desk: list[Ticket], params: dict[str, str]
) -> None:
    """The report starts its trend from "open now" less the days in and after the range;
    it equals both the open count at each day's end and the tally summed up to the
    range's start (``backlog_trend`` without ``open_now``)."""
    Ticket.objects.filter(pk__in=[desk[3].pk, desk[8].pk]).update(priority="URGENT")
    filters = report_filters(**{"from": "2026-03-20", "to": "2026-03-28", **params})
    tickets = [t for t in desk if not params or t.pk in (desk[3].pk, desk[8].pk)]
    report = report_build(name="backlog", filters=filters)
    trend = [row["open"] for row in report.table("trend").rows]
    assert trend == [open_at(at(day + D, 0), tickets) for day in filters.days]
    assert trend == backlog_trend(filters)
    assert trend[0] > 0  # tickets open before the range are counted
