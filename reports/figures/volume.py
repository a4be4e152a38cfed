"""Volume: tickets created and resolved per day or week, by channel, workflow and team,
and how many were reopened.

- created: tickets whose ``created`` falls in the range;
- resolved: tickets whose ``resolved_at`` falls in it (a ticket resolved, reopened and
  resolved again counts on its last resolution; a reopened ticket not resolved since
  counts in none);
- reopened: changes of a ticket from resolved or closed back to an open stage in the
  range (history rows that clear ``resolved_at``);
- reopen rate: reopened ÷ resolved, in percent.

Read from ``TicketDayTally`` when its days are cut in the report's zone and no tag is
asked for (the tally has no tags); otherwise counted from the tickets and their
history directly. Both give the same numbers (tests/reports/test_tally.py).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Any, TypeVar

from django.db.models import Count, F, QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from nixflow.models import HistoryLog, Source, Team, Ticket, Workflow
from reports.figures import (
    Chart,
    Column,
    Figure,
    Report,
    Series,
    Table,
    buckets,
    per_bucket,
    per_key,
    percent,
)
from reports.filters import ReportFilters
from reports.models import ReplyDayTally, TallyZone, TicketDayTally

KINDS = ("created", "resolved", "reopened")
# The dimensions a volume table groups by: the tally's column and the ticket's field.
DIMENSIONS = {"source": "source", "workflow_id": "workflow_id", "team_id": "team_id"}

Counts = dict[Any, dict[str, int]]
T = TypeVar("T", TicketDayTally, ReplyDayTally)


def tally_usable(filters: ReportFilters) -> bool:
    """Whether the tally can answer: its days are the report's and no tag is asked for."""
    return filters.tag is None and tally_in_zone(filters)


def tally_in_zone(filters: ReportFilters) -> bool:
    """Whether the tallies' days are the report's: cut in its zone."""
    zone = TallyZone.objects.filter(pk=1).values_list("time_zone", flat=True).first()
    return zone == filters.zone.key


def _tally(filters: ReportFilters) -> QuerySet[TicketDayTally]:
    """The tally rows of the range's days, with the ticket filters (except tags)."""
    return tally_filtered(
        TicketDayTally.objects.filter(day__gte=filters.start, day__lte=filters.end), filters
    )


def tally_filtered(rows: QuerySet[T], filters: ReportFilters) -> QuerySet[T]:
    """``rows`` of a tally (``TicketDayTally``, ``ReplyDayTally``: their dimension
    columns are named alike) narrowed by the ticket filters, tags aside."""
    if filters.workflow:
        rows = rows.filter(workflow_id=filters.workflow.pk)
    if filters.team:
        rows = rows.filter(team_id=filters.team.pk)
    if filters.channel:
        rows = rows.filter(source=filters.channel)
    if filters.priority:
        rows = rows.filter(priority=filters.priority)
    return rows.order_by()


def tally_grouped(filters: ReportFilters, keys: list[str]) -> dict[str, Counts]:
    """Created, resolved and reopened per value of each of ``keys`` ("day" or a
    dimension), from the tally in one pass (``per_key``): on a large desk the range
    holds a row per day and combination of dimensions (7,000 over 90 days at a million
    tickets), which a query per key read once each."""
    rows = _tally(filters).values(*keys, *KINDS)
    sums = per_key(rows, keys, [f"sum({kind})" for kind in KINDS])
    return {
        key: {
            value: dict(zip(KINDS, map(int, totals), strict=True))
            for value, totals in found.items()
        }
        for key, found in sums.items()
    }


def tally_counts(filters: ReportFilters, key: str) -> Counts:
    """Created, resolved and reopened per ``key`` ("day" or a dimension), from the tally."""
    return tally_grouped(filters, [key])[key]


def direct_counts(filters: ReportFilters, key: str) -> Counts:
    """The same counts from the tickets and their history rows."""
    tickets = Ticket.objects.filter(**filters.ticket_filters()).order_by()
    reopens = (
        HistoryLog.objects.filter(
            field="resolved_at",
            new_value="",
            created__gte=filters.since,
            created__lt=filters.until,
            **filters.ticket_filters("ticket__"),
        )
        .exclude(old_value="")
        .order_by()
    )
    sources: dict[str, QuerySet[Any]] = {
        "created": tickets.filter(created__gte=filters.since, created__lt=filters.until),
        "resolved": tickets.filter(resolved_at__gte=filters.since, resolved_at__lt=filters.until),
        "reopened": reopens,
    }
    stamps = {"created": "created", "resolved": "resolved_at", "reopened": "created"}
    counts: Counts = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    for kind, rows in sources.items():
        if key == "day":
            grouped = rows.annotate(k=TruncDate(stamps[kind], tzinfo=filters.zone))
        else:
            field = DIMENSIONS[key] if kind != "reopened" else f"ticket__{DIMENSIONS[key]}"
            grouped = rows.annotate(k=F(field))
        for row in grouped.values("k").annotate(n=Count("id")):
            counts[row["k"]][kind] = row["n"]
    return dict(counts)


KEYS = ["day", *DIMENSIONS]


def volume_counts(filters: ReportFilters) -> dict[str, Counts]:
    """The counts per day and per dimension (``KEYS``)."""
    if tally_usable(filters):
        return tally_grouped(filters, KEYS)
    return {key: direct_counts(filters, key) for key in KEYS}


def _names(model: type[Workflow] | type[Team], ids: list[Any]) -> dict[Any, str]:
    return dict(
        model.objects.filter(pk__in=[i for i in ids if i is not None]).values_list("pk", "name")
    )


def _dimension_table(
    key: str, title: Any, label: Any, counts: Counts, names: dict[Any, str]
) -> Table:
    table = Table(
        key=key,
        title=title,
        columns=[
            Column("name", label),
            Column("created", _("Created"), "count"),
            Column("resolved", _("Resolved"), "count"),
            Column("reopened", _("Reopened"), "count"),
        ],
    )
    for value, row in sorted(
        counts.items(), key=lambda item: (-item[1]["created"], names.get(item[0], ""))
    ):
        if not any(row.values()):
            continue  # a folded key whose changes cancelled out
        table.rows.append({"name": names.get(value, str(value)), **row})
    return table


def volume_report(filters: ReportFilters) -> Report:
    counts = volume_counts(filters)
    by_day = counts["day"]
    series = {
        kind: per_bucket({day: row[kind] for day, row in by_day.items()}, filters) for kind in KINDS
    }
    keys: list[datetime.date] = buckets(filters)
    totals = {kind: sum(series[kind].values()) for kind in KINDS}
    per_day = Table(
        key="per_day" if filters.interval == "day" else "per_week",
        title=_("Per day") if filters.interval == "day" else _("Per week"),
        columns=[
            Column("date", _("Day") if filters.interval == "day" else _("Week of"), "date"),
            Column("created", _("Created"), "count"),
            Column("resolved", _("Resolved"), "count"),
            Column("reopened", _("Reopened"), "count"),
        ],
        rows=[{"date": key, **{kind: series[kind][key] for kind in KINDS}} for key in keys],
    )
    by_source, by_workflow, by_team = (counts[key] for key in DIMENSIONS)
    team_names = {None: str(_("No team")), **_names(Team, list(by_team))}
    return Report(
        name="volume",
        title=_("Volume"),
        filters=filters,
        figures=[
            Figure("created", _("Created"), totals["created"]),
            Figure("resolved", _("Resolved"), totals["resolved"]),
            Figure("reopened", _("Reopened"), totals["reopened"]),
            Figure(
                "reopen_rate",
                _("Reopen rate"),
                percent(totals["reopened"], totals["resolved"]),
                "percent",
            ),
        ],
        chart=Chart(
            kind="lines",
            title=_("Tickets created and resolved"),
            unit="count",
            labels=list(keys),
            series=[
                Series("created", _("Created"), [series["created"][k] for k in keys]),
                Series("resolved", _("Resolved"), [series["resolved"][k] for k in keys]),
            ],
        ),
        tables=[
            _dimension_table(
                "by_channel",
                _("By channel"),
                _("Channel"),
                by_source,
                {value: str(label) for value, label in Source.choices},
            ),
            _dimension_table(
                "by_workflow",
                _("By workflow"),
                _("Workflow"),
                by_workflow,
                _names(Workflow, list(by_workflow)),
            ),
            _dimension_table("by_team", _("By team"), _("Team"), by_team, team_names),
            per_day,  # last: the longest
        ],
    )
