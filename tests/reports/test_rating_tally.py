"""The rating tally (RatingDayTally, kept by the triggers of migration reports 0023)
always equals counting the ratings by desk day, agent and team, good and bad, whatever
is written (answered, changed, moved to another agent or team, deleted, truncated),
compacted and rebuilt; the Satisfaction report read from it equals the report counted
from the ratings."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any, cast

import pytest
from django.db import connection

from csat.models import Rating
from nixflow.models import Team, User
from reports.models import RatingDayTally, TallyZone
from reports.selectors import report_build
from reports.services import tally_compact, tally_rebuild
from tests.factories import AgentFactory, TeamFactory
from tests.reports.support import (
    AUTUMN,
    BERLIN,
    SPRING,
    at,
    desk_day,
    rating_for,
    report_filters,
    ticket_at,
)

pytestmark = pytest.mark.django_db


def tallied() -> Counter:
    counts: Counter = Counter()
    for row in RatingDayTally.objects.all():
        counts[(row.day, row.agent_id, row.team_id, "good")] += row.good
        counts[(row.day, row.agent_id, row.team_id, "bad")] += row.bad
    return +counts


def counted() -> Counter:
    return +Counter(
        (desk_day(r.created), r.agent_id, r.team_id, r.rating) for r in Rating.objects.all()
    )


def rated(when: Any, rating: str, **fields: Any) -> Rating:
    return cast(Rating, rating_for(ticket_at(when, when, **fields), rating=rating, when=when))


def test_the_tally_equals_the_ratings_through_every_kind_of_write(berlin: object) -> None:
    ann, ben = cast(User, AgentFactory()), cast(User, AgentFactory())
    team = cast(Team, TeamFactory())
    eve = SPRING - timedelta(days=1)
    late = rated(at(eve, 23, 30), "good", assignee=ann, team=team)  # the 28th in Berlin
    rated(at(SPRING, 1, 59), "bad", assignee=ann)
    rated(at(AUTUMN, 2, 30), "good")  # nobody's, no team
    other = rated(at(AUTUMN, 12), "good", assignee=ben, team=team)
    assert tallied() == counted()
    assert sum(tallied().values()) == 4
    # The requester changes their answer; the rating moves day, agent and team; an
    # update that changes nothing counted.
    Rating.objects.filter(pk=late.pk).update(rating="bad")
    Rating.objects.filter(pk=other.pk).update(created=at(SPRING, 8), agent=ann, team=None)
    Rating.objects.update(comment="thanks")
    assert tallied() == counted()
    # An agent's ratings credited to nobody, as SET NULL does when an agent goes.
    assert Rating.objects.filter(agent=ann).update(agent=None) == 3
    Rating.objects.filter(pk=late.pk).delete()
    assert tallied() == counted()
    rows = RatingDayTally.objects.count()
    assert tally_compact().folded > 0
    assert RatingDayTally.objects.count() < rows
    assert tallied() == counted()
    tally_rebuild(zone=BERLIN)
    assert tallied() == counted()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire the pending FK checks
        cursor.execute("TRUNCATE csat_rating")
    assert tallied() == counted() == Counter()


def figures_and_tables(params: dict[str, Any]) -> Any:
    report = report_build(name="satisfaction", filters=report_filters(**params))
    return (
        [(f.key, f.value) for f in report.figures],
        report.tables[0].rows,
        report.tables[1].rows,
        report.chart.series,
    )


def test_satisfaction_from_the_tally_equals_the_report_from_the_ratings(berlin: object) -> None:
    ann, ben = cast(User, AgentFactory()), cast(User, AgentFactory())
    team = cast(Team, TeamFactory())
    for day in (SPRING, AUTUMN):
        for hour, value in ((0, "good"), (1, "bad"), (23, "good")):
            rated(at(day, hour), value, assignee=ann, team=team)
            rated(at(day, hour, 30), value, assignee=ben)
    ranges: list[dict[str, Any]] = [
        {"from": "2026-03-01", "to": "2026-11-30"},
        {"from": "2026-03-29", "to": "2026-03-29"},
        {"from": "2026-10-25", "to": "2026-10-26", "interval": "week"},
    ]
    from_tally = [figures_and_tables(p) for p in ranges]
    TallyZone.objects.update(time_zone="UTC")  # the tally no longer answers
    from_rows = [figures_and_tables(p) for p in ranges]
    assert from_tally == from_rows
    assert dict(from_tally[0][0])["ratings"] == 12
    assert dict(from_tally[1][0])["good"] == 4
