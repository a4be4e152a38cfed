"""The reply tally (ReplyDayTally, kept by triggers of migration reports 0008) always
equals counting the public comments by day, author and their ticket's dimensions,
whoever writes them and however, compacted or rebuilt, and its sum per day, author and
team (ReplyTeamDayTally, passed on by triggers of 0018) the same counted by team; the
People report's reply figures read from either equal those counted from the comments."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nixflow import services
from nixflow.models import Comment, Priority, Role, Source, Team, Ticket, User
from reports.figures.people import _replies
from reports.models import ReplyDayTally, ReplyTeamDayTally, TallyZone
from reports.services import tally_compact, tally_rebuild
from tests.factories import AgentFactory, CommentFactory, TeamFactory
from tests.reports.support import AUTUMN, BERLIN, SPRING, at, report_filters, ticket_at

pytestmark = pytest.mark.django_db


def tallied() -> Counter:
    """Net replies per (day, author, workflow, team, channel, priority) by the tally."""
    counts: Counter = Counter()
    for row in ReplyDayTally.objects.all():
        key = (row.day, row.author_id, row.workflow_id, row.team_id, row.source, row.priority)
        counts[key] += row.replies
    return +counts  # drops the zeros


def counted() -> Counter:
    """The same from the comments, days cut in the tally's zone (Berlin)."""
    counts: Counter = Counter()
    for c in Comment.objects.filter(is_internal=False).select_related("ticket"):
        t = c.ticket
        day = c.created.astimezone(BERLIN).date()
        counts[(day, c.author_id, t.workflow_id, t.team_id, t.source, t.priority)] += 1
    return +counts


def by_team(counts: Counter) -> Counter:
    """Replies per (day, author, team) of a count per reply tally key."""
    summed: Counter = Counter()
    for (day, author, _workflow, team, _source, _priority), n in counts.items():
        summed[(day, author, team)] += n
    return +summed


def team_tallied() -> Counter:
    counts: Counter = Counter()
    for row in ReplyTeamDayTally.objects.all():
        counts[(row.day, row.author_id, row.team_id)] += row.replies
    return +counts


def assert_tallies_count() -> None:
    """Both reply tallies equal the comments counted."""
    expected = counted()
    assert tallied() == expected
    assert team_tallied() == by_team(expected)


def reply(ticket: Ticket, author: User, when: Any, **fields: Any) -> Comment:
    return cast(Comment, CommentFactory(ticket=ticket, author=author, created=when, **fields))


def test_reply_tally_equals_the_comments_through_every_kind_of_write(berlin: object) -> None:
    team, other_team = TeamFactory(), TeamFactory()
    agent, other = cast(User, AgentFactory()), cast(User, AgentFactory())
    a = ticket_at(at(SPRING, 1), source=Source.EMAIL)
    b = ticket_at(at(AUTUMN, 1), team=team, priority=Priority.HIGH)
    # Around both daylight-saving changes, public and internal, one by one and in bulk.
    reply(a, agent, at(SPRING, 1, 30))
    reply(a, agent, at(SPRING, 23, 59))
    reply(b, other, at(AUTUMN, 0, 0))
    reply(b, agent, at(AUTUMN, 2, 30), is_internal=True)
    Comment.objects.bulk_create(
        [Comment(ticket=b, author=agent, body=f"bulk {n}", created=at(AUTUMN, n)) for n in (3, 23)]
    )
    assert_tallies_count()
    assert sum(tallied().values()) == 5
    # Changes of each counted column of a comment, one at a time and in bulk.
    first = Comment.objects.filter(ticket=a).earliest("created")
    Comment.objects.filter(pk=first.pk).update(created=at(SPRING, 0, 30))
    Comment.objects.filter(ticket=b, is_internal=True).update(is_internal=False)
    Comment.objects.filter(ticket=b, author=other).update(author=agent)
    Comment.objects.filter(pk=first.pk).update(ticket=b)
    Comment.objects.filter(ticket=b).update(body="edited")  # no counted column: no change
    assert_tallies_count()
    # A ticket moving to another team, channel or priority takes its comments along.
    Ticket.objects.filter(pk=b.pk).update(team=other_team, source=Source.API)
    Ticket.objects.filter(pk=a.pk).update(priority=Priority.LOW, team=team)
    assert_tallies_count()
    # Through the service, as an agent answers.
    services.comment_create(ticket=a, author=agent, body="On it.")
    services.comment_create(ticket=a, author=agent, body="Note", is_internal=True)
    assert_tallies_count()
    # Deleting comments, and tickets with theirs (Django deletes the comments first; SQL
    # by hand may delete the ticket first, its FK checked at commit).
    Comment.objects.filter(ticket=a).first().delete()  # type: ignore[union-attr]
    Ticket.objects.filter(pk=a.pk).delete()
    assert_tallies_count()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("DELETE FROM nixflow_ticket WHERE id = %s", [b.pk])
        assert tallied() == team_tallied() == Counter()  # the ticket took its replies back
        cursor.execute("DELETE FROM nixflow_comment WHERE ticket_id = %s", [b.pk])
    assert tallied() == team_tallied() == counted() == Counter()


def test_reply_tally_compacts_and_rebuilds_to_the_same_counts(berlin: object) -> None:
    agent = cast(User, AgentFactory())
    ticket = ticket_at(at(SPRING, 1))
    for hour in range(0, 24, 2):
        reply(ticket, agent, at(SPRING, hour))
    Ticket.objects.filter(pk=ticket.pk).update(team=TeamFactory())
    before, rows = tallied(), ReplyDayTally.objects.count()
    team_rows = ReplyTeamDayTally.objects.count()
    assert tally_compact().folded > 0
    assert ReplyDayTally.objects.count() < rows
    # Folding the reply tally passed its deletions and sums on, and those were folded
    # in turn: one row per day, author and team is left.
    assert ReplyTeamDayTally.objects.count() < team_rows
    assert ReplyTeamDayTally.objects.count() == len(team_tallied())
    assert tallied() == before == counted()
    assert team_tallied() == by_team(before)
    tally_rebuild(zone=BERLIN)
    assert tallied() == before
    assert team_tallied() == by_team(before)
    ReplyDayTally.objects.all().delete()  # as TRUNCATE or a recount would begin
    assert team_tallied() == Counter()


def test_people_replies_from_the_tally_equal_those_counted(berlin: object) -> None:
    team = cast(Team, TeamFactory())
    agent, admin = cast(User, AgentFactory()), cast(User, AgentFactory(role=Role.ADMIN))
    on_team = ticket_at(at(SPRING, 1), team=team, source=Source.FORM)
    no_team = ticket_at(at(AUTUMN, 1))
    for day in (SPRING, AUTUMN):
        for hour in (0, 1, 23):
            reply(on_team, agent, at(day, hour))
            reply(no_team, admin, at(day, hour, 30))
    reply(on_team, on_team.requester, at(SPRING, 5))  # a requester's: no reply
    reply(no_team, agent, at(AUTUMN, 6), is_internal=True)
    for params, table in (
        ({"from": "2026-03-01", "to": "2026-11-30"}, "reports_replyteamdaytally"),
        ({"from": "2026-03-29", "to": "2026-03-29", "channel": "FORM"}, "reports_replydaytally"),
        ({"from": "2026-10-25", "to": "2026-10-26", "team": team.pk}, "reports_replyteamdaytally"),
    ):
        filters = report_filters(**params)
        with CaptureQueriesContext(connection) as queries:
            from_tally = _replies(filters)
        assert any(f'FROM "{table}"' in q["sql"] for q in queries.captured_queries), params
        TallyZone.objects.update(time_zone="UTC")  # the tally no longer answers
        direct = _replies(filters)
        TallyZone.objects.update(time_zone="Europe/Berlin")
        counts = {
            level: {key: row["n"] for key, row in rows.items()}
            for level, rows in from_tally.items()
        }
        assert counts == {
            level: {key: row["n"] for key, row in rows.items()} for level, rows in direct.items()
        }, params
    whole = _replies(report_filters(**{"from": "2026-03-01", "to": "2026-11-30"}))
    assert whole["agents"][agent.pk]["n"] == whole["agents"][admin.pk]["n"] == 6
    assert whole["teams"][team.pk]["n"] == 6
    assert whole["all"][None]["n"] == 12
