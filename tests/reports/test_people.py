"""People: per agent and team, each figure equals counting the rows in Python; times
are business seconds where the ticket's SLA policy has a calendar, else wall-clock."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any, cast

import pytest

from nixflow.models import Team, User
from reports.selectors import report_build
from sla.models import MetricType, SLAStatus
from tests.factories import AgentFactory, CommentFactory, TeamFactory
from tests.reports.support import SPRING, at, rating_for, report_filters, ticket_at
from tests.sla.factories import BusinessCalendarFactory, SLAMetricFactory, SLAPolicyFactory

pytestmark = pytest.mark.django_db
H, M = timedelta(hours=1), timedelta(minutes=1)


def figures(report: Any) -> dict[str, Any]:
    return {f.key: f.value for f in report.figures}


@pytest.fixture
def desk(berlin: object) -> dict[str, Any]:
    ann = cast(User, AgentFactory(username="ann"))
    ben = cast(User, AgentFactory(username="ben"))
    team = cast(Team, TeamFactory(name="Hardware"))
    day = SPRING + timedelta(days=1)
    # ann: three tickets answered in 10, 20 and 60 minutes, two resolved in 2 h and 5 h.
    a1 = ticket_at(at(day, 9), at(day, 11), assignee=ann, team=team)
    a2 = ticket_at(at(day, 10), at(day, 15), assignee=ann, team=team)
    a3 = ticket_at(at(day, 11), None, assignee=ann)
    for ticket, minutes in ((a1, 10), (a2, 20), (a3, 60)):
        type(ticket).objects.filter(pk=ticket.pk).update(
            first_response_at=ticket.created + minutes * M
        )
        CommentFactory(ticket=ticket, author=ann, created=ticket.created + minutes * M)
    CommentFactory(ticket=a1, author=ann, is_internal=True, created=at(day, 12))  # not public
    CommentFactory(ticket=a1, created=at(day, 12))  # the requester's: not an agent's reply
    # ben: one ticket resolved in 1 h, whose SLA calendar counted 600 business seconds.
    b1 = ticket_at(at(day, 8), at(day, 9), assignee=ben)
    calendar_policy = SLAPolicyFactory(calendar=BusinessCalendarFactory())
    SLAMetricFactory(
        ticket=b1,
        policy=calendar_policy,
        metric_type=MetricType.RESOLUTION,
        completed=True,
        status=SLAStatus.MET,
        started_at=b1.created,
        completed_at=b1.resolved_at,
        elapsed_seconds=600,
    )
    # A clock of a policy without calendar does not replace the wall clock.
    SLAMetricFactory(
        ticket=a1,
        policy=SLAPolicyFactory(),
        metric_type=MetricType.RESOLUTION,
        completed=True,
        started_at=a1.created,
        completed_at=a1.resolved_at,
        elapsed_seconds=5,
    )
    rating_for(a1, rating="good", when=at(day, 16))
    rating_for(a2, rating="bad", when=at(day, 17))
    rating_for(b1, rating="good", when=at(day, 18))
    # Outside the range: counted nowhere.
    ticket_at(at(SPRING + timedelta(days=5), 9), None, assignee=ben)
    return {"ann": ann, "ben": ben, "team": team, "day": day}


def test_per_agent_figures(desk: dict[str, Any]) -> None:
    day = desk["day"].isoformat()
    report = report_build(name="people", filters=report_filters(**{"from": day, "to": day}))
    rows = {row["name"]: row for row in report.table("agents").rows}
    assert rows["ann"] == {
        "name": "ann",
        "assigned": 3,
        "resolved": 2,
        "replies": 3,
        "median_first_response": statistics.median([600, 1200, 3600]),
        "median_resolution": statistics.median([2 * 3600, 5 * 3600]),
        "csat_score": 50.0,
        "csat_count": 2,
    }
    assert rows["ben"]["median_resolution"] == 600  # business time of its SLA clock
    assert rows["ben"]["median_first_response"] is None  # never answered
    assert rows["ben"]["csat_score"] == 100.0
    assert [row["name"] for row in report.table("agents").rows] == ["ann", "ben"]
    total = figures(report)
    assert total["assigned"] == 4
    assert total["resolved"] == 3
    assert total["replies"] == 3
    assert total["median_resolution"] == statistics.median([7200, 18000, 600])
    assert total["csat_count"] == 3
    assert total["csat_score"] == round(200 / 3, 1)
    assert report.chart.labels == ["ann", "ben"]
    assert report.chart.series[0].values == [2, 1]


def test_per_team_figures_and_filters(desk: dict[str, Any]) -> None:
    day = desk["day"].isoformat()
    report = report_build(name="people", filters=report_filters(**{"from": day, "to": day}))
    teams = {row["name"]: row for row in report.table("teams").rows}
    assert list(teams) == ["Hardware"]
    assert teams["Hardware"]["assigned"] == 2
    assert teams["Hardware"]["replies"] == 2
    assert teams["Hardware"]["csat_count"] == 2
    only = report_build(
        name="people",
        filters=report_filters(**{"from": day, "to": day, "team": desk["team"].pk}),
    )
    assert [row["name"] for row in only.table("agents").rows] == ["ann"]
    assert figures(only)["assigned"] == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("work_mem", ["48MB", ""])
def test_a_report_sorts_in_its_own_memory_for_its_transaction_only(
    settings: Any, work_mem: str
) -> None:
    from django.db import connection

    from reports.figures import snapshot

    settings.NIXFLOW_REPORTS_WORK_MEM = work_mem
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        server = cursor.fetchone()[0]
        with snapshot():
            cursor.execute("SHOW work_mem")
            inside = cursor.fetchone()[0]
        cursor.execute("SHOW work_mem")
        after = cursor.fetchone()[0]

    assert inside == (work_mem or server)
    assert after == server
