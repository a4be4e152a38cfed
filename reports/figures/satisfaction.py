"""Satisfaction: the requesters' ratings (csat app) over the range.

A rating counts on the day it was first given (``Rating.created``); the score is good
÷ all ratings, in percent. By team and agent, the rating's own team and agent (those
that had the ticket when it was resolved). The ticket filters apply to the rated
ticket. Reads the csat app's ratings where it is installed; an empty report otherwise.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Any

from django.apps import apps
from django.db.models import QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from nixflow.models import Team, Ticket, User
from reports.figures import (
    Chart,
    Column,
    Figure,
    Report,
    Series,
    Table,
    bucket_of,
    buckets,
    per_key,
    percent,
)
from reports.figures.volume import tally_in_zone
from reports.filters import ReportFilters
from reports.models import RatingDayTally

LATEST_COMMENTS = 20

SCORE_COLUMNS = [
    Column("good", _("Good"), "count"),
    Column("bad", _("Bad"), "count"),
    Column("score", _("Score"), "percent"),
]


def _row(good: int, bad: int) -> dict[str, Any]:
    return {"good": good, "bad": bad, "score": percent(good, good + bad)}


def _counted(
    ratings: QuerySet[Any], filters: ReportFilters, good: str, bad: str
) -> tuple[dict[datetime.date, tuple[int, int]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(good, bad) per desk day; rows {"team_id", "good", "bad"} and {"agent_id", ...}:
    one pass (``per_key``) over ``RatingDayTally`` when no ticket filter is asked for and
    its days are the report's, else over the ratings (the index reports 0019 adds)."""
    keys = ["day", "team_id", "agent_id"]
    if not filters.has_ticket_filters and tally_in_zone(filters):
        # Summed from RatingDayTally: a row per day, agent and team.
        tally = RatingDayTally.objects.filter(day__gte=filters.start, day__lte=filters.end)
        rows = tally.order_by().values(*keys, "good", "bad")
        counts = per_key(rows, keys, ["sum(good)", "sum(bad)"])
        counts = {
            key: {v: (int(g), int(b)) for v, (g, b) in found.items() if g or b}
            for key, found in counts.items()
        }
    else:
        rows = ratings.annotate(day=TruncDate("created", tzinfo=filters.zone)).values(
            "day", "team_id", "agent_id", "rating"
        )
        counts = per_key(
            rows,
            keys,
            ["count(*) FILTER (WHERE rating = %s)", "count(*) FILTER (WHERE rating = %s)"],
            [good, bad],
        )
    return (
        {day: (g, b) for day, (g, b) in counts["day"].items()},
        [{"team_id": team, "good": g, "bad": b} for team, (g, b) in counts["team_id"].items()],
        [{"agent_id": agent, "good": g, "bad": b} for agent, (g, b) in counts["agent_id"].items()],
    )


def satisfaction_report(filters: ReportFilters) -> Report:
    keys: list[datetime.date] = buckets(filters)
    per_bucket: dict[datetime.date, list[int]] = {key: [0, 0] for key in keys}
    by_team: list[dict[str, Any]] = []
    by_agent: list[dict[str, Any]] = []
    latest: list[dict[str, Any]] = []
    if apps.is_installed("csat"):
        from csat.models import Rating, RatingValue

        ratings = Rating.objects.filter(
            created__gte=filters.since,
            created__lt=filters.until,
            **filters.ticket_filters("ticket__"),
        ).order_by()
        per_day, team_rows, agent_rows = _counted(
            ratings, filters, RatingValue.GOOD, RatingValue.BAD
        )
        for day, (good_n, bad_n) in per_day.items():
            bucket = per_bucket[bucket_of(day, filters)]
            bucket[0] += good_n
            bucket[1] += bad_n
        teams: dict[Any, str] = defaultdict(lambda: str(_("No team")))
        agents: dict[Any, str] = defaultdict(lambda: str(_("Nobody")))
        teams.update(
            Team.objects.filter(pk__in=[r["team_id"] for r in team_rows]).values_list("pk", "name")
        )
        agents.update(
            User.objects.filter(pk__in=[r["agent_id"] for r in agent_rows]).values_list(
                "pk", "username"
            )
        )
        by_team = sorted(
            ({"name": teams[r["team_id"]], **_row(r["good"], r["bad"])} for r in team_rows),
            key=lambda r: (-(r["good"] + r["bad"]), r["name"]),
        )
        by_agent = sorted(
            ({"name": agents[r["agent_id"]], **_row(r["good"], r["bad"])} for r in agent_rows),
            key=lambda r: (-(r["good"] + r["bad"]), r["name"]),
        )
        for rating in (
            ratings.exclude(comment="")
            .select_related("agent", "team")
            .order_by("-created", "-id")[:LATEST_COMMENTS]
        ):
            latest.append(
                {
                    "when": rating.created,
                    "ticket": Ticket.key_for(rating.ticket_id),
                    "rating": rating.get_rating_display(),
                    "agent": rating.agent.username if rating.agent else "",
                    "team": rating.team.name if rating.team else "",
                    "comment": rating.comment,
                }
            )
    good = sum(g for g, _b in per_bucket.values())
    bad = sum(b for _g, b in per_bucket.values())
    return Report(
        name="satisfaction",
        title=_("Satisfaction"),
        filters=filters,
        figures=[
            Figure("score", _("CSAT score"), percent(good, good + bad), "percent"),
            Figure("ratings", _("Ratings"), good + bad),
            Figure("good", _("Good"), good),
            Figure("bad", _("Bad"), bad),
        ],
        chart=Chart(
            kind="lines",
            title=_("CSAT score"),
            unit="percent",
            labels=list(keys),
            series=[
                Series(
                    "score",
                    _("CSAT score"),
                    [percent(per_bucket[k][0], sum(per_bucket[k])) for k in keys],
                )
            ],
        ),
        tables=[
            Table(
                key="per_day" if filters.interval == "day" else "per_week",
                title=_("Per day") if filters.interval == "day" else _("Per week"),
                columns=[
                    Column("date", _("Day") if filters.interval == "day" else _("Week of"), "date"),
                    *SCORE_COLUMNS,
                ],
                rows=[{"date": k, **_row(*per_bucket[k])} for k in keys],
            ),
            Table("by_team", _("By team"), [Column("name", _("Team")), *SCORE_COLUMNS], by_team),
            Table(
                "by_agent", _("By agent"), [Column("name", _("Agent")), *SCORE_COLUMNS], by_agent
            ),
            Table(
                "comments",
                _("Latest comments"),
                [
                    Column("when", _("When"), "datetime"),
                    Column("ticket", _("Ticket")),
                    Column("rating", _("Rating")),
                    Column("agent", _("Agent")),
                    Column("team", _("Team")),
                    Column("comment", _("Comment")),
                ],
                latest,
            ),
        ],
    )
