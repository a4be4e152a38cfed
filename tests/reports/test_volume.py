"""Volume: every figure equals counting the tickets and history rows in Python, days
cut in the desk's zone across both daylight-saving changes, from the tally and from
the rows alike (a tag filter makes the report count rows)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, timedelta

import pytest

from nixflow.models import HistoryLog, Priority, Source, Tag, Ticket
from reports.figures.volume import tally_usable
from reports.selectors import report_build
from tests.factories import TeamFactory
from tests.reports.support import AUTUMN, SPRING, at, desk_day, reopen, report_filters, ticket_at

pytestmark = pytest.mark.django_db


def expected(tickets: list[Ticket], start: date, end: date) -> dict[str, Counter]:
    created: Counter = Counter()
    resolved: Counter = Counter()
    reopened: Counter = Counter()
    ids = {t.pk for t in tickets}
    for ticket in Ticket.objects.filter(pk__in=ids):
        if start <= desk_day(ticket.created) <= end:
            created[desk_day(ticket.created)] += 1
        if ticket.resolved_at and start <= desk_day(ticket.resolved_at) <= end:
            resolved[desk_day(ticket.resolved_at)] += 1
    for row in HistoryLog.objects.filter(ticket_id__in=ids, field="resolved_at", new_value=""):
        if start <= desk_day(row.created) <= end:
            reopened[desk_day(row.created)] += 1
    return {"created": created, "resolved": resolved, "reopened": reopened}


@pytest.fixture
def desk(berlin: object) -> dict[str, object]:
    team = TeamFactory(name="Hardware")
    tag = Tag.objects.create(name="vip")
    tickets: list[Ticket] = []
    for day in (SPRING - timedelta(days=1), SPRING, SPRING + timedelta(days=1)):
        for hour, minute in ((0, 0), (0, 30), (1, 59), (3, 0), (23, 30), (23, 59)):
            tickets.append(
                ticket_at(at(day, hour, minute), at(day, hour, minute) + timedelta(hours=2))
            )
    tickets.append(ticket_at(at(SPRING, 4), None, team=team, source=Source.EMAIL))
    tickets.append(ticket_at(at(SPRING, 5), at(SPRING, 22), priority=Priority.URGENT))
    for ticket in tickets[::4]:
        ticket.tags.add(tag)
    reopen(tickets[1], at(SPRING, 23, 30))
    reopen(tickets[2], at(SPRING + timedelta(days=1), 0, 10))
    Ticket.objects.filter(pk__in=[tickets[1].pk, tickets[2].pk]).update(resolved_at=None)
    return {"team": team, "tag": tag, "tickets": tickets}


def test_per_day_figures_equal_the_rows_across_spring_forward(desk: dict) -> None:
    filters = report_filters(**{"from": "2026-03-28", "to": "2026-03-30"})
    assert tally_usable(filters)
    report = report_build(name="volume", filters=filters)
    want = expected(desk["tickets"], filters.start, filters.end)
    per_day = report.table("per_day")
    assert per_day is not None
    assert [row["date"] for row in per_day.rows] == filters.days
    for row in per_day.rows:
        assert row["created"] == want["created"][row["date"]]
        assert row["resolved"] == want["resolved"][row["date"]]
        assert row["reopened"] == want["reopened"][row["date"]]
    figures = {f.key: f.value for f in report.figures}
    assert figures["created"] == sum(want["created"].values()) == 20
    assert figures["resolved"] == sum(want["resolved"].values())
    assert figures["reopened"] == 2
    assert figures["reopen_rate"] == round(2 * 100 / figures["resolved"], 1)
    # The 23-hour day holds what was created from 00:00 to 23:59 Berlin time.
    assert per_day.rows[1]["created"] == 8


def test_a_tag_filter_counts_the_rows_and_agrees_with_them(desk: dict) -> None:
    tag = desk["tag"]
    filters = report_filters(**{"from": "2026-03-28", "to": "2026-03-30", "tag": tag.pk})
    assert not tally_usable(filters)
    report = report_build(name="volume", filters=filters)
    tagged = [t for t in desk["tickets"] if t.tags.filter(pk=tag.pk).exists()]
    want = expected(tagged, filters.start, filters.end)
    assert {row["date"]: row["created"] for row in report.table("per_day").rows} == {
        day: want["created"][day] for day in filters.days
    }
    assert {f.key: f.value for f in report.figures}["reopened"] == sum(want["reopened"].values())


def test_dimension_tables_and_filters(desk: dict) -> None:
    filters = report_filters(**{"from": "2026-03-28", "to": "2026-03-30"})
    report = report_build(name="volume", filters=filters)
    by_channel = {row["name"]: row["created"] for row in report.table("by_channel").rows}
    assert by_channel == {"Web": 19, "Email": 1}
    by_team = {row["name"]: row["created"] for row in report.table("by_team").rows}
    assert by_team == {"No team": 19, "Hardware": 1}
    by_workflow = report.table("by_workflow").rows
    assert [row["created"] for row in by_workflow] == [20]
    only = report_build(
        name="volume",
        filters=report_filters(**{"from": "2026-03-29", "to": "2026-03-29", "priority": "URGENT"}),
    )
    assert {f.key: f.value for f in only.figures}["created"] == 1
    assert {f.key: f.value for f in only.figures}["resolved"] == 1
    team_only = report_build(
        name="volume",
        filters=report_filters(
            **{"from": "2026-03-29", "to": "2026-03-29", "team": desk["team"].pk}
        ),
    )
    assert [f.value for f in team_only.figures][:2] == [1, 0]


def test_weeks_sum_the_days_of_the_range_only(berlin: object) -> None:
    # Wednesday 21 Oct to Tuesday 27 Oct 2026 (autumn's 25-hour Sunday inside).
    for day in range(19, 30):
        ticket_at(at(date(2026, 10, day), 23, 30))
    filters = report_filters(**{"from": "2026-10-21", "to": "2026-10-27", "interval": "week"})
    report = report_build(name="volume", filters=filters)
    rows = report.table("per_week").rows
    assert [(row["date"], row["created"]) for row in rows] == [
        (date(2026, 10, 19), 5),  # Wednesday to Sunday
        (date(2026, 10, 26), 2),
    ]
    assert report.chart.labels == [date(2026, 10, 19), date(2026, 10, 26)]


def test_autumn_day_has_25_hours(berlin: object) -> None:
    ticket_at(at(AUTUMN, 0))
    ticket_at(at(AUTUMN, 23, 59))
    ticket_at(at(AUTUMN + timedelta(days=1), 0, 0))
    report = report_build(
        name="volume", filters=report_filters(**{"from": "2026-10-25", "to": "2026-10-25"})
    )
    assert {f.key: f.value for f in report.figures}["created"] == 2
    assert report.filters.until.astimezone(UTC) - report.filters.since.astimezone(UTC) == timedelta(
        hours=25
    )
