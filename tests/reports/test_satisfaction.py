"""Satisfaction: CSAT per day (desk days), by team and agent, and the latest comments,
equal to counting the ratings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest

from nixflow.models import Team, User
from reports.selectors import report_build
from tests.factories import AgentFactory, TeamFactory
from tests.reports.support import AUTUMN, at, rating_for, report_filters, ticket_at

pytestmark = pytest.mark.django_db


def test_csat_per_desk_day_by_team_and_agent(berlin: object) -> None:
    ann = cast(User, AgentFactory(username="ann"))
    team = cast(Team, TeamFactory(name="Hardware"))
    answers = [
        (at(AUTUMN, 0, 30), "good", "Quick!"),  # 22:30 UTC the day before
        (at(AUTUMN, 2, 30), "bad", ""),  # the hour that happens twice
        (at(AUTUMN, 23, 59), "good", "Thanks"),
        (at(AUTUMN + timedelta(days=1), 0, 0), "bad", "Slow"),
    ]
    for index, (when, value, comment) in enumerate(answers):
        ticket = ticket_at(
            when - timedelta(hours=1), when, assignee=ann if index else None, team=team
        )
        rating_for(ticket, rating=value, when=when, comment=comment)
    filters = report_filters(**{"from": "2026-10-24", "to": "2026-10-26"})
    report = report_build(name="satisfaction", filters=filters)
    per_day = {row["date"]: row for row in report.table("per_day").rows}
    assert per_day[AUTUMN] == {"date": AUTUMN, "good": 2, "bad": 1, "score": 66.7}
    assert per_day[AUTUMN + timedelta(days=1)] == {
        "date": AUTUMN + timedelta(days=1),
        "good": 0,
        "bad": 1,
        "score": 0.0,
    }
    assert per_day[AUTUMN - timedelta(days=1)]["score"] is None  # no rating: no score
    assert report.chart.series[0].values == [None, 66.7, 0.0]
    got: dict[str, Any] = {f.key: f.value for f in report.figures}
    assert got == {"score": 50.0, "ratings": 4, "good": 2, "bad": 2}
    assert report.table("by_team").rows == [
        {"name": "Hardware", "good": 2, "bad": 2, "score": 50.0}
    ]
    agents = {row["name"]: row for row in report.table("by_agent").rows}
    assert agents["ann"] == {"name": "ann", "good": 1, "bad": 2, "score": 33.3}
    assert agents["Nobody"]["good"] == 1
    comments = report.table("comments").rows
    assert [row["comment"] for row in comments] == ["Slow", "Thanks", "Quick!"]
    assert comments[0]["rating"] == "Bad"
    # A filter on the rated ticket.
    urgent = report_build(
        name="satisfaction",
        filters=report_filters(**{"from": "2026-10-24", "to": "2026-10-26", "priority": "URGENT"}),
    )
    assert {f.key: f.value for f in urgent.figures}["ratings"] == 0
