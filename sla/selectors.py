"""Reads of the SLA app: the dashboard's figures (admin page and ``/api/sla/summary/``).

Each figure is one aggregate query over an index, never a loop issuing a query per row,
so the dashboard costs about the same on a thousand tickets as on a million:

- compliance: ``sla_metric_completed`` (a range on ``completed_at``) and ``sla_breach_time``;
- unacknowledged breaches: the partial index ``sla_breach_unacknowledged``;
- at-risk clocks: the partial index ``sla_metric_due`` (ticking clocks by deadline), read
  in deadline order and stopped at the limit;
- medians: ``sla_metric_completed`` again, with PostgreSQL's ``percentile_cont``;
- breaches per day: ``sla_breach_time``, grouped by UTC day, zero-filled by
  ``generate_series``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q
from django.utils import timezone

from nixflow.models import TICKET_KEY_PREFIX
from sla.models import TICKING, MetricType, SLABreach, SLAMetric, SLAPolicy, SLAStatus

# Compliance windows, in days, by the name they have in the summary.
WINDOWS = {"last_7_days": 7, "last_30_days": 30}
MEDIAN_DAYS = 30
TREND_DAYS = 30
BREACH_LIMIT = 20
AT_RISK_LIMIT = 20

COMPLETED = (SLAStatus.MET, SLAStatus.BREACHED)


class Median(Aggregate):
    """``percentile_cont(0.5)``: the median, interpolated between the middle two values
    when their number is even (``percentile_disc`` would pick one of them)."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _key(ticket_id: int) -> str:
    return f"{TICKET_KEY_PREFIX}{ticket_id}"


def _tally(met: int, breached: int) -> dict[str, Any]:
    decided = met + breached
    return {
        "met": met,
        "breached": breached,
        "compliance_percent": met * 100 / decided if decided else None,
    }


def _window_counts(field: str, starts: dict[str, datetime], *, met: Q | None) -> dict[str, Count]:
    """``<window>_met`` / ``<window>_breached`` counts of the rows whose ``field`` falls
    in each window (one pass: COUNT(*) FILTER (WHERE ...) per window). With ``met``
    None every row is a breach."""
    counts = {}
    for name, start in starts.items():
        in_window = Q(**{f"{field}__gt": start})
        if met is None:
            counts[f"{name}_breached"] = Count("pk", filter=in_window)
        else:
            counts[f"{name}_met"] = Count("pk", filter=in_window & met)
            counts[f"{name}_breached"] = Count("pk", filter=in_window & ~met)
    return counts


def sla_compliance(*, now: datetime) -> dict[str, Any]:
    """Compliance overall, per metric type and per policy, over the last 7 and 30 days.

    Compliance = met ÷ (met + breached), Jira Service Management's success rate
    ("completed and not breached ÷ breached or completed"), over the clocks *decided* in
    the window ``(now - N days, now]``:

    - a completed clock (MET or BREACHED) is decided when it completed (``completed_at``);
    - a breached clock still open (its ticket not answered or resolved yet, or reopened
      after its breach) is decided, as breached, when it breached
      (``SLABreach.breached_at``): an unanswered ticket lowers compliance at once, not
      only once somebody finally answers it.

    A clock counts once at any moment: a breached open clock that completes later moves
    from its breach time to its completion time. Running, at-risk, paused and cancelled
    clocks are not decided and not counted. A clock counts under its current policy.
    ``compliance_percent`` is None (shown as "—") when nothing was decided.
    """
    starts = {name: now - timedelta(days=days) for name, days in WINDOWS.items()}
    earliest = min(starts.values())
    # Completed clocks: a range scan of the completed_at index.
    completed = (
        SLAMetric.objects.filter(
            status__in=COMPLETED, completed_at__gt=earliest, completed_at__lte=now
        )
        .values("policy_id", "metric_type")
        .annotate(**_window_counts("completed_at", starts, met=Q(status=SLAStatus.MET)))
        .order_by()
    )
    # Breached clocks still open: a range scan of the breach time index, each joined to
    # its clock by primary key.
    still_open = (
        SLABreach.objects.filter(
            breached_at__gt=earliest,
            breached_at__lte=now,
            metric__status=SLAStatus.BREACHED,
            metric__completed_at__isnull=True,
        )
        .values("metric__policy_id", "metric__metric_type")
        .annotate(**_window_counts("breached_at", starts, met=None))
        .order_by()
    )

    # Roll the (policy, metric type) groups up: a few rows, policies x metric types.
    names = [f"{window}_{kind}" for window in WINDOWS for kind in ("met", "breached")]
    overall = dict.fromkeys(names, 0)
    by_type = {value: dict.fromkeys(names, 0) for value in MetricType.values}
    by_policy: dict[int, dict[str, int]] = {}
    groups = [
        ("policy_id", "metric_type", completed),
        ("metric__policy_id", "metric__metric_type", still_open),
    ]
    for policy_field, type_field, query in groups:
        for row in query:
            policy_id, metric_type = row.pop(policy_field), row.pop(type_field)
            for name, value in row.items():
                overall[name] += value
                by_type[metric_type][name] += value
                by_policy.setdefault(policy_id, dict.fromkeys(names, 0))[name] += value

    def windows(counts: dict[str, int]) -> dict[str, Any]:
        return {w: _tally(counts[f"{w}_met"], counts[f"{w}_breached"]) for w in WINDOWS}

    # Every active policy is listed, with no figures while nothing was decided; an
    # inactive one while its clocks still count.
    policies = (
        SLAPolicy.objects.filter(Q(is_active=True) | Q(pk__in=list(by_policy)))
        .order_by("order", "name")
        .values_list("pk", "name")
    )
    return {
        "overall": windows(overall),
        "by_metric": [
            {"metric_type": value, "label": label, **windows(by_type[value])}
            for value, label in MetricType.choices
        ],
        "by_policy": [
            {
                "policy_id": pk,
                "policy": name,
                **windows(by_policy.get(pk, dict.fromkeys(names, 0))),
            }
            for pk, name in policies
        ],
    }


def sla_unacknowledged_breaches(*, now: datetime, limit: int = BREACH_LIMIT) -> dict[str, Any]:
    """Breaches nobody has acknowledged yet: how many, and the newest ``limit``.

    Both read the partial index of unacknowledged breaches, which stays small however
    many breaches have been acknowledged. ``age_seconds`` is wall-clock time since the
    breach.
    """
    unacknowledged = SLABreach.objects.filter(acknowledged_at__isnull=True)
    newest = unacknowledged.select_related("ticket", "policy").order_by("-breached_at", "-id")
    return {
        "count": unacknowledged.count(),
        "newest": [
            {
                "id": breach.pk,
                "ticket_id": breach.ticket_id,
                "ticket_key": _key(breach.ticket_id),
                "ticket_title": breach.ticket.title,
                "breach_type": breach.breach_type,
                "policy_id": breach.policy_id,
                "policy": breach.policy.name,
                "breached_at": breach.breached_at,
                "age_seconds": int((now - breach.breached_at).total_seconds()),
            }
            for breach in newest[:limit]
        ],
    }


def sla_at_risk(*, now: datetime, limit: int = AT_RISK_LIMIT) -> dict[str, Any]:
    """Ticking clocks past their warning time, least time left first.

    That is status AT_RISK, or RUNNING with ``warning_at`` passed (the monitor marks it
    at risk within a minute). A clock whose deadline has passed but that the monitor has
    not yet marked breached stays here with a negative ``time_left_seconds``: it is
    overdue, and hiding it would hide a stalled monitor. Each row is one clock, so a
    ticket with two clocks at risk appears twice.
    """
    at_risk = SLAMetric.objects.filter(
        Q(status=SLAStatus.AT_RISK) | Q(warning_at__lte=now),
        # Stated again in the partial index's own terms, so PostgreSQL uses it.
        status__in=TICKING,
    )
    clocks = at_risk.select_related("ticket__assignee", "policy").order_by("deadline", "id")
    return {
        "count": at_risk.count(),
        "clocks": [
            {
                "metric_id": metric.pk,
                "ticket_id": metric.ticket_id,
                "ticket_key": _key(metric.ticket_id),
                "ticket_title": metric.ticket.title,
                "priority": metric.ticket.priority,
                "assignee": (
                    metric.ticket.assignee.get_username() if metric.ticket.assignee else None
                ),
                "metric_type": metric.metric_type,
                "status": metric.status,
                "policy_id": metric.policy_id,
                "policy": metric.policy.name,
                "deadline": metric.deadline,
                "time_left_seconds": int((metric.deadline - now).total_seconds()),
            }
            for metric in clocks[:limit]
        ],
    }


def sla_median_seconds(*, now: datetime) -> dict[str, float | None]:
    """Median business seconds used by the first-response and resolution clocks that
    completed (MET or BREACHED) in the last 30 days; None when none did."""
    return SLAMetric.objects.filter(
        status__in=COMPLETED,
        completed_at__gt=now - timedelta(days=MEDIAN_DAYS),
        completed_at__lte=now,
        metric_type__in=(MetricType.FIRST_RESPONSE, MetricType.RESOLUTION),
    ).aggregate(
        first_response=Median("elapsed_seconds", filter=Q(metric_type=MetricType.FIRST_RESPONSE)),
        resolution=Median("elapsed_seconds", filter=Q(metric_type=MetricType.RESOLUTION)),
    )


# Days with no breach have no group; the series of days supplies them with a zero.
_BREACHES_PER_DAY = """
    SELECT day::date, COALESCE(per_day.breaches, 0)
    FROM generate_series(%(first)s::timestamp, %(last)s::timestamp, interval '1 day') AS day
    LEFT JOIN (
        SELECT date_trunc('day', breached_at AT TIME ZONE 'UTC') AS day, count(*) AS breaches
        FROM sla_slabreach
        WHERE breached_at >= %(start)s AND breached_at < %(end)s
        GROUP BY 1
    ) AS per_day USING (day)
    ORDER BY day
"""


def sla_breaches_per_day(*, now: datetime, days: int = TREND_DAYS) -> list[dict[str, Any]]:
    """Breaches per UTC day for the last ``days`` days, today included, oldest first;
    one entry per day, zero when there was none."""
    last = now.astimezone(UTC).date()
    first = last - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            _BREACHES_PER_DAY, {"first": first, "last": last, "start": start, "end": end}
        )
        rows: list[tuple[date, int]] = cursor.fetchall()
    return [{"date": day, "count": count} for day, count in rows]


def sla_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the SLA dashboard shows, as plain data (the admin page renders it, the
    API returns it as JSON). Times are aware datetimes, durations seconds."""
    now = now or timezone.now()
    return {
        "generated_at": now,
        "compliance": sla_compliance(now=now),
        "unacknowledged_breaches": sla_unacknowledged_breaches(now=now),
        "at_risk": sla_at_risk(now=now),
        "median_seconds": sla_median_seconds(now=now),
        "breaches_per_day": sla_breaches_per_day(now=now),
    }
