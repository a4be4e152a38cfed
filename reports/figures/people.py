"""People: per agent and per team, over the range.

- assigned: tickets created in the range that the agent (the team) holds now;
- resolved: tickets resolved in the range that the agent (the team) holds;
- public replies: public comments the agent wrote in the range (for a team: by agents,
  on the team's tickets);
- median first response: over the tickets created in the range that were answered;
- median resolution: over the tickets resolved in the range;
- CSAT: ratings first given in the range and credited to the agent (the team), the
  score being good ÷ all, in percent.

Times are business seconds where the ticket's SLA policy has a calendar: the completed
SLA clock's own measure (``SLAMetric.elapsed_seconds``: working hours of the calendar,
pauses left out), else wall-clock seconds from creation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db.models import (
    Case,
    F,
    FloatField,
    Func,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast, Coalesce
from django.utils.translation import gettext_lazy as _

from nixflow.models import Comment, Role, Team, Ticket, User
from nixflow.platform import replica
from reports.figures import (
    Chart,
    Column,
    Figure,
    Report,
    Series,
    Table,
    percent,
    side_by_side,
)
from reports.figures.volume import tally_filtered, tally_usable
from reports.filters import ReportFilters
from reports.models import ReplyDayTally, ReplyTeamDayTally

COLUMNS = [
    ("assigned", _("Assigned"), "count"),
    ("resolved", _("Resolved"), "count"),
    ("replies", _("Public replies"), "count"),
    ("median_first_response", _("Median first response"), "seconds"),
    ("median_resolution", _("Median resolution"), "seconds"),
    ("csat_score", _("CSAT score"), "percent"),
    ("csat_count", _("Ratings"), "count"),
]
CHART_TOP = 15  # agents drawn in the chart, by tickets resolved


def _seconds_between(start: str, end: str) -> Func:
    """Seconds from ``start`` to ``end`` as a double. ``date_part`` rather than
    ``EXTRACT``, which since PostgreSQL 14 computes a ``numeric``: over the 280,000
    tickets of 90 days at a million, the medians took 30 % longer to compute and sort
    that way (the values differ by float rounding only, under a nanosecond)."""
    return Func(
        F(end) - F(start),
        template="date_part('epoch', %(expressions)s)",
        output_field=FloatField(),
    )


def _business_seconds(metric_type: str, end: str) -> Combinable:
    """The completed SLA clock's business seconds where its policy has a calendar, else
    the wall-clock seconds from creation to ``end``. Without any calendar policy (a
    common desk), the wall clock alone: no subquery per ticket."""
    wall = _seconds_between("created", end)
    if not apps.is_installed("sla"):
        return wall
    from sla.models import SLAMetric, SLAPolicy, SLAStatus

    if not SLAPolicy.objects.filter(calendar__isnull=False).exists():
        return wall
    clock = (
        SLAMetric.objects.filter(
            ticket=OuterRef("pk"),
            metric_type=metric_type,
            status__in=[SLAStatus.MET, SLAStatus.BREACHED],
            completed_at__isnull=False,
            policy__calendar__isnull=False,
        )
        .order_by("-completed_at")
        .values("elapsed_seconds")[:1]
    )
    return Coalesce(Cast(Subquery(clock), FloatField()), wall)


# Per agent, per team and for the whole desk from one scan of the rows: GROUPING SETS
# over the ORM's own query (its filters and joins), which the ORM cannot say itself.
# GROUPING() tells which set a result row belongs to. The rows' columns are "who" (the
# agent), "team_key" and "seconds".
#
# Each group's values are gathered into an array and the figure taken over that array,
# rather than an ordered-set aggregate over the grouped rows: PostgreSQL groups
# ordered-set aggregates by sorting all the rows for each grouping set (twice more the
# 280,000 rows of 90 days on a million-ticket desk), but plain aggregates by hashing,
# in one pass for all three sets; each group's values are then sorted once, on their
# own. 360 -> 260 ms for the medians of those rows, the same figures.
_GROUPED = """
    SELECT not_agent, not_team, who, team_key, n, owned,
           (SELECT {value} FROM unnest(vals) AS v(seconds))
    FROM (
        SELECT GROUPING(who) AS not_agent, GROUPING(team_key) AS not_team, who, team_key,
               count(*) AS n, count(*) FILTER (WHERE who IS NOT NULL) AS owned,
               array_agg(seconds) FILTER (WHERE seconds IS NOT NULL) AS vals
        FROM ({rows}) AS r
        GROUP BY GROUPING SETS ((who), (team_key), ())
    ) AS grouped
"""
MEDIAN = "percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)"  # NULLs left out
# A plain aggregate (a sum) needs no array: hashed over the rows themselves.
_GROUPED_PLAIN = """
    SELECT GROUPING(who), GROUPING(team_key), who, team_key, count(*),
           count(*) FILTER (WHERE who IS NOT NULL), {value}
    FROM ({rows}) AS r
    GROUP BY GROUPING SETS ((who), (team_key), ())
"""

Levels = dict[str, dict[Any, dict[str, Any]]]


def _sets(queryset: Any, value: str = MEDIAN) -> Levels:
    """``queryset``'s rows counted, and ``value`` taken, per agent ("agents"), per team
    ("teams") and overall ("all", key None); each {"n", "owned", "value"}."""
    sql, params = queryset.query.sql_with_params()
    result: Levels = {"agents": {}, "teams": {}, "all": {}}
    with replica.reads_connection().cursor() as cursor:
        # Only the ORM's own SQL and a constant are put in the text; values are params.
        grouped = _GROUPED if value == MEDIAN else _GROUPED_PLAIN
        cursor.execute(grouped.format(rows=sql, value=value), params)
        for not_agent, not_team, agent, team, n, owned, figure in cursor.fetchall():
            row = {"n": n, "owned": owned, "value": figure}
            if not_agent and not_team:
                result["all"][None] = row
            elif not_team:
                result["agents"][agent] = row
            else:
                result["teams"][team] = row
    return result


def _merge(
    out: Levels, sets: Levels, columns: Callable[[str, dict[str, Any]], dict[str, Any]]
) -> None:
    for level, rows in sets.items():
        for key, row in rows.items():
            out[level].setdefault(key, {}).update(columns(level, row))


def _replies(filters: ReportFilters) -> Levels:
    """Public replies by agents and admins per author, per team of the ticket and in
    all: summed from ``ReplyTeamDayTally`` when it can answer (``tally_usable``, and no
    filter but the team), else from ``ReplyDayTally`` (``tally_usable``), else counted
    from the comments (each one's ticket visited for its team)."""
    agents = User.objects.filter(role__in=[Role.AGENT, Role.ADMIN]).values("pk")
    if not tally_usable(filters):
        comments = (
            Comment.objects.filter(
                created__gte=filters.since,
                created__lt=filters.until,
                is_internal=False,
                author__in=agents,
                **filters.ticket_filters("ticket__"),
            )
            .order_by()
            .annotate(who=F("author_id"), team_key=F("ticket__team_id"), seconds=Value(0.0))
            .values("who", "team_key", "seconds")
        )
        return _sets(comments)
    out: Levels = {"agents": {}, "teams": {}, "all": {}}
    rows: QuerySet[Any]
    if filters.workflow or filters.channel or filters.priority:
        rows = tally_filtered(
            ReplyDayTally.objects.filter(
                day__gte=filters.start, day__lte=filters.end, author_id__in=agents
            ),
            filters,
        )
    else:
        # Summed over the dimensions not asked for: about a row per author and team a
        # day, where the reply tally has about a row per reply on a large desk.
        rows = ReplyTeamDayTally.objects.filter(
            day__gte=filters.start, day__lte=filters.end, author_id__in=agents
        ).order_by()
        if filters.team:
            rows = rows.filter(team_id=filters.team.pk)
    totals: dict[str, Counter[Any]] = {level: Counter() for level in out}
    for author, team, n in (
        rows.values("author_id", "team_id")
        .annotate(n=Sum("replies"))
        .values_list("author_id", "team_id", "n")
    ):
        totals["agents"][author] += n
        totals["teams"][team] += n
        totals["all"][None] += n
    for level, counts in totals.items():
        # A key whose rows net to nothing has no reply: as absent as in a direct count.
        out[level] = {key: {"n": n} for key, n in counts.items() if n}
    return out


def _figures(filters: ReportFilters) -> Levels:
    """Every column per agent, per team and for the whole desk (``_sets``' levels), one
    query per source: tickets created, tickets resolved, replies, ratings."""
    out: Levels = {"agents": {}, "teams": {}, "all": {}}
    tickets = Ticket.objects.filter(**filters.ticket_filters()).order_by()
    created = (
        tickets.filter(created__gte=filters.since, created__lt=filters.until)
        .annotate(
            who=F("assignee_id"),
            team_key=F("team_id"),
            # Unanswered tickets have no time, and a median leaves NULLs out.
            seconds=Case(
                When(
                    first_response_at__isnull=False,
                    then=_business_seconds("first_response", "first_response_at"),
                ),
                default=None,
                output_field=FloatField(),
            ),
        )
        .values("who", "team_key", "seconds")
    )
    resolved = (
        tickets.filter(resolved_at__gte=filters.since, resolved_at__lt=filters.until)
        .annotate(
            who=F("assignee_id"),
            team_key=F("team_id"),
            seconds=_business_seconds("resolution", "resolved_at"),
        )
        .values("who", "team_key", "seconds")
    )
    # The two medians read every ticket of the range each: at the same time, in the
    # report's snapshot, where it can be shared.
    created_sets, resolved_sets = side_by_side(lambda: _sets(created), lambda: _sets(resolved))
    _merge(
        out,
        created_sets,
        lambda level, row: {
            # The desk's "assigned" counts only tickets someone holds.
            "assigned": row["owned"] if level == "all" else row["n"],
            "median_first_response": row["value"],
        },
    )
    _merge(
        out,
        resolved_sets,
        lambda level, row: {"resolved": row["n"], "median_resolution": row["value"]},
    )
    _merge(out, _replies(filters), lambda level, row: {"replies": row["n"]})
    if apps.is_installed("csat"):
        from csat.models import Rating, RatingValue

        ratings = (
            Rating.objects.filter(
                created__gte=filters.since,
                created__lt=filters.until,
                **filters.ticket_filters("ticket__"),
            )
            .order_by()
            .annotate(
                who=F("agent_id"),
                team_key=F("team_id"),
                # 1 for a good rating: their sum is the count of good ones.
                seconds=Case(
                    When(rating=RatingValue.GOOD, then=Value(1.0)),
                    default=Value(0.0),
                    output_field=FloatField(),
                ),
            )
            .values("who", "team_key", "seconds")
        )
        _merge(
            out,
            _sets(ratings, value="sum(seconds)"),
            lambda level, row: {
                "csat_count": row["n"],
                "csat_score": percent(float(row["value"] or 0), row["n"]),
            },
        )
    # Rows of tickets nobody holds (or of no team) are in the desk's total only.
    out["agents"].pop(None, None)
    out["teams"].pop(None, None)
    out["all"].setdefault(None, {})
    for level in out.values():
        for row in level.values():
            for key, _label, unit in COLUMNS:
                row.setdefault(key, 0 if unit == "count" else None)
    return out


def _table(key: str, title: Any, label: Any, rows: list[dict[str, Any]]) -> Table:
    return Table(
        key=key,
        title=title,
        columns=[Column("name", label), *(Column(k, lab, unit) for k, lab, unit in COLUMNS)],
        rows=rows,
    )


def people_report(filters: ReportFilters) -> Report:
    figures = _figures(filters)
    by_agent, by_team = figures["agents"], figures["teams"]
    agents = dict(User.objects.filter(pk__in=list(by_agent)).values_list("pk", "username"))
    teams = dict(Team.objects.filter(pk__in=list(by_team)).values_list("pk", "name"))
    agent_rows = sorted(
        ({"name": agents.get(pk, str(pk)), **row} for pk, row in by_agent.items()),
        key=lambda r: (-r["resolved"], -r["assigned"], r["name"]),
    )
    team_rows = sorted(
        ({"name": teams.get(pk, str(pk)), **row} for pk, row in by_team.items()),
        key=lambda r: (-r["resolved"], -r["assigned"], r["name"]),
    )
    overall = figures["all"][None]
    top = agent_rows[:CHART_TOP]
    return Report(
        name="people",
        title=_("People"),
        filters=filters,
        intervals=False,
        figures=[
            Figure("assigned", _("Assigned"), overall["assigned"]),
            Figure("resolved", _("Resolved"), overall["resolved"]),
            Figure("replies", _("Public replies"), overall["replies"]),
            Figure(
                "median_first_response",
                _("Median first response"),
                overall["median_first_response"],
                "seconds",
            ),
            Figure(
                "median_resolution", _("Median resolution"), overall["median_resolution"], "seconds"
            ),
            Figure("csat_score", _("CSAT score"), overall["csat_score"], "percent"),
            Figure("csat_count", _("Ratings"), overall["csat_count"]),
        ],
        chart=Chart(
            kind="bars",
            title=_("Tickets resolved per agent"),
            unit="count",
            labels=[row["name"] for row in top],
            series=[Series("resolved", _("Resolved"), [row["resolved"] for row in top])],
        ),
        tables=[
            _table("agents", _("Agents"), _("Agent"), agent_rows),
            _table("teams", _("Teams"), _("Team"), team_rows),
        ],
    )
