"""Backlog: the tickets open now, by stage and by age, and the backlog over the range.

A ticket is open while it has no ``resolved_at`` (resolving or closing sets it,
reopening clears it). Age is the time since the ticket was created. The trend is the
number open at the end of each day of the range (now, for today): tickets created
before that instant minus those resolved before it, by their current ``resolved_at``
(a ticket reopened later counts as open again on the days since its creation).

"Open now" is summed from ``OpenDayTally`` (open tickets per stage and day of creation,
the four days holding an age bound counted from the rows) when no ticket filter is
asked for, else an index-only scan of the open tickets (reports_ticket_open_cover);
the trend sums ``TicketDayTally`` over the range's days and works back from "open now"
to the backlog before the range (the tally's days after the range taken off), or
counts the tickets directly when the tally cannot answer (a tag filter, or a tally cut
in another zone).
"""

from __future__ import annotations

import datetime
from itertools import accumulate
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from nixflow.models import Stage, Ticket
from reports.figures import Chart, Column, Figure, Report, Series, Table
from reports.figures.volume import _tally, tally_filtered, tally_in_zone, tally_usable
from reports.filters import ReportFilters, day_start
from reports.models import OpenDayTally, TicketDayTally

DAY = datetime.timedelta(days=1)
# (key, label, younger than): each bucket holds the tickets at least as old as the
# previous bound and younger than its own.
AGE_BUCKETS = [
    ("under_1d", _("< 1 day"), DAY),
    ("d1_3", _("1-3 days"), 3 * DAY),
    ("d3_7", _("3-7 days"), 7 * DAY),
    ("d7_30", _("7-30 days"), 30 * DAY),
    ("over_30d", _("> 30 days"), None),
]


def _age_filters(now: datetime.datetime) -> dict[str, Q]:
    filters: dict[str, Q] = {}
    older_than = None
    for key, _label, younger_than in AGE_BUCKETS:
        q = Q()
        if younger_than is not None:
            q &= Q(created__gt=now - younger_than)
        if older_than is not None:
            q &= Q(created__lte=now - older_than)
        filters[key] = q
        older_than = younger_than
    return filters


def _open_counted(filters: ReportFilters, now: datetime.datetime) -> list[dict[str, Any]]:
    """Open tickets per stage and age bucket, counted from the rows (index-only, through
    reports_ticket_open_cover)."""
    ages = _age_filters(now)
    return list(
        Ticket.objects.filter(resolved_at__isnull=True, **filters.ticket_filters())
        .order_by()
        .values("stage_id")
        .annotate(
            total=Count("id"),
            **{key: Count("id", filter=q) for key, q in ages.items()},
        )
    )


def _open_tallied(filters: ReportFilters, now: datetime.datetime) -> list[dict[str, Any]]:
    """The same from ``OpenDayTally``: per stage, the open tickets created after each
    bucket bound are the tally's days after the bound's day plus the tickets of the
    bound's own day created after it (four days of rows, index-only)."""
    per_stage: dict[int, dict[datetime.date, int]] = {}
    for stage, day, n in (
        OpenDayTally.objects.values("stage_id", "day")
        .annotate(n=Sum("open"))
        .values_list("stage_id", "day", "n")
    ):
        if n:
            per_stage.setdefault(stage, {})[day] = n
    bounds = [now - upper for _key, _label, upper in AGE_BUCKETS if upper is not None]
    days = [bound.astimezone(filters.zone).date() for bound in bounds]
    # Each bound's day from the bound on, whose tickets the tally cannot tell apart.
    edges = [
        Q(created__gt=bound, created__lt=day_start(day + datetime.timedelta(days=1), filters.zone))
        for bound, day in zip(bounds, days, strict=True)
    ]
    younger: dict[int, list[int]] = {
        stage: [sum(n for d, n in counts.items() if d > day) for day in days]
        for stage, counts in per_stage.items()
    }
    # One range per query: each an index range scan (stage, created) of the open
    # tickets, where the four ranges OR-ed together would make it read them all.
    for n, edge in enumerate(edges):
        for stage, count in (
            Ticket.objects.filter(edge, resolved_at__isnull=True, stage_id__in=list(per_stage))
            .order_by()
            .values("stage_id")
            .annotate(n=Count("id"))
            .values_list("stage_id", "n")
        ):
            younger[stage][n] += count
    rows = []
    keys = [key for key, *_rest in AGE_BUCKETS]
    for stage, counts in per_stage.items():
        total = sum(counts.values())
        # Created after each bound, youngest first, then everything: bucket k holds
        # the tickets younger than its upper bound and not younger than its lower.
        after = [*younger[stage], total]
        row: dict[str, Any] = {"stage_id": stage, "total": total}
        for n, key in enumerate(keys):
            row[key] = after[n] - (after[n - 1] if n else 0)
        rows.append(row)
    return rows


def open_by_stage(filters: ReportFilters, now: datetime.datetime) -> list[dict[str, object]]:
    """Open tickets per stage (in the workflow's order) and age bucket: from
    ``OpenDayTally`` without ticket filters (the tally has no ticket dimensions), else
    counted from the rows."""
    if not filters.has_ticket_filters and tally_in_zone(filters):
        rows = _open_tallied(filters, now)
    else:
        rows = _open_counted(filters, now)
    stages = {
        stage.pk: stage
        for stage in Stage.objects.select_related("workflow").filter(
            pk__in=[row["stage_id"] for row in rows]
        )
    }
    table = []
    for row in rows:
        stage = stages[row["stage_id"]]
        table.append(
            {
                "workflow": stage.workflow.name,
                "stage": stage.name,
                "position": (stage.workflow.name, stage.position),
                **{key: row[key] for key, *_rest in AGE_BUCKETS},
                "total": row["total"],
            }
        )
    table.sort(key=lambda r: r["position"])
    for row in table:
        del row["position"]
    return table


def backlog_trend(filters: ReportFilters, open_now: int | None = None) -> list[int]:
    """Open tickets at the end of each day of the range. ``open_now``: the tickets open
    now under the same filters, when the caller has counted them."""
    if tally_usable(filters):
        per_day = dict(
            _tally(filters).values("day").annotate(n=Sum("opened")).values_list("day", "n")
        )
        if open_now is None:
            before = tally_filtered(TicketDayTally.objects.filter(day__lt=filters.start), filters)
            base = before.aggregate(n=Sum("opened"))["n"] or 0
        else:
            # The tally's "opened" summed over every day is the tickets open now; the
            # backlog before the range is that less the range's days and those after
            # it (none for a range ending today). Summing every day before the range
            # instead reads the whole tally: two years of days times dimensions.
            after = tally_filtered(TicketDayTally.objects.filter(day__gt=filters.end), filters)
            later = after.aggregate(n=Sum("opened"))["n"] or 0
            base = open_now - sum(per_day.values()) - later
    else:
        tickets = Ticket.objects.filter(**filters.ticket_filters()).order_by()
        base = (
            tickets.filter(created__lt=filters.since)
            .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=filters.since))
            .count()
        )
        per_day = dict.fromkeys(filters.days, 0)
        in_range = {"created__gte": filters.since, "created__lt": filters.until}
        for row in (
            tickets.filter(**in_range)
            .annotate(day=TruncDate("created", tzinfo=filters.zone))
            .values("day")
            .annotate(n=Count("id"))
        ):
            per_day[row["day"]] += row["n"]
        for row in (
            tickets.filter(resolved_at__gte=filters.since, resolved_at__lt=filters.until)
            .annotate(day=TruncDate("resolved_at", tzinfo=filters.zone))
            .values("day")
            .annotate(n=Count("id"))
        ):
            per_day[row["day"]] -= row["n"]
    return list(accumulate((per_day.get(day, 0) for day in filters.days), initial=base))[1:]


def backlog_report(filters: ReportFilters) -> Report:
    now = timezone.now()
    stages = open_by_stage(filters, now)
    ages = {key: sum(int(row[key]) for row in stages) for key, *_rest in AGE_BUCKETS}  # type: ignore[call-overload]
    total = sum(ages.values())
    # Only where the same filters count both (a tag filter is the tickets' alone).
    trend = backlog_trend(filters, open_now=total if filters.tag is None else None)
    return Report(
        name="backlog",
        title=_("Backlog"),
        filters=filters,
        intervals=False,
        figures=[
            Figure("open", _("Open now"), total),
            *(Figure(key, label, ages[key]) for key, label, _bound in AGE_BUCKETS),
        ],
        chart=Chart(
            kind="lines",
            title=_("Open tickets at the end of each day"),
            unit="count",
            labels=list(filters.days),
            series=[Series("open", _("Open"), list(trend))],
        ),
        tables=[
            Table(
                key="by_stage",
                title=_("Open now by stage and age"),
                columns=[
                    Column("workflow", _("Workflow")),
                    Column("stage", _("Stage")),
                    *(Column(key, label, "count") for key, label, _bound in AGE_BUCKETS),
                    Column("total", _("Total"), "count"),
                ],
                rows=stages,
            ),
            Table(
                key="trend",
                title=_("Open at the end of each day"),
                columns=[Column("date", _("Day"), "date"), Column("open", _("Open"), "count")],
                rows=[{"date": day, "open": n} for day, n in zip(filters.days, trend, strict=True)],
            ),
        ],
    )
