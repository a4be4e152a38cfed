"""Reads of the SLA app: the dashboard's figures (admin page and ``/api/sla/summary/``).

Each figure is an aggregate query over an index or a small table, never a loop issuing a
query per row, so the dashboard costs about the same on a thousand tickets as on a
million (``bench.sla``):

- compliance: the daily tally ``SLADailyTally`` (a few rows per day, kept by triggers),
  corrected at each window's edges through the covering index ``sla_metric_completed``;
  breached clocks still open through the partial index ``sla_metric_breached_open``;
- unacknowledged breaches: the partial index ``sla_breach_unacknowledged``;
- at-risk clocks: the partial indexes ``sla_metric_at_risk`` and ``sla_metric_warning``,
  then the few found sorted by deadline;
- medians: ``sla_metric_elapsed`` (completed clocks of a type in elapsed order) read up
  to the middle one, the count coming from the tally;
- breaches per day: ``sla_breach_time``, grouped by UTC day, zero-filled by
  ``generate_series``.

``sla_summary`` reads them all in one REPEATABLE READ snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from django.db import connections, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from nixflow.models import Ticket
from nixflow.platform import replica
from sla.models import (
    MetricType,
    SLABreach,
    SLADailyTally,
    SLAMetric,
    SLAPolicy,
    SLAStatus,
)

# Compliance windows, in days, by the name they have in the summary.
WINDOWS = {"last_7_days": 7, "last_30_days": 30}
MEDIAN_DAYS = 30
TREND_DAYS = 30
BREACH_LIMIT = 20
AT_RISK_LIMIT = 20

COMPLETED = (SLAStatus.MET, SLAStatus.BREACHED)


def _tally(met: int, breached: int) -> dict[str, Any]:
    decided = met + breached
    return {
        "met": met,
        "breached": breached,
        "compliance_percent": met * 100 / decided if decided else None,
    }


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _completed_counts(*, now: datetime) -> dict[tuple[int, str], dict[str, int]]:
    """Clocks completed (MET or BREACHED) in each window, per (policy id, metric type):
    ``{(policy_id, type): {"last_7_days_met": n, "last_7_days_breached": n, ...}}``.

    Read from the daily tally (``SLADailyTally``: a few rows per day), not from the
    clocks: the sum over the UTC days a window touches, less the clocks of those days
    that fall outside it, completed on its first day before it starts or today after
    ``now``. Those lie within a day at each end, a short range of the covering index
    ``sla_metric_completed``. The result is the count over the clocks themselves, exactly.
    """
    today = now.astimezone(UTC).date()
    after_today = _day_start(today + timedelta(days=1))
    starts = {name: now - timedelta(days=days) for name, days in WINDOWS.items()}
    first_days = {name: start.astimezone(UTC).date() for name, start in starts.items()}
    met = Q(status=SLAStatus.MET)

    sums, outside = {}, {}
    edges = Q(completed_at__gt=now, completed_at__lt=after_today)
    for name, start in starts.items():
        on_first_day = Q(day__gte=first_days[name])
        sums[f"{name}_met"] = Sum("met", filter=on_first_day, default=0)
        sums[f"{name}_breached"] = Sum("breached", filter=on_first_day, default=0)
        before = Q(completed_at__gte=_day_start(first_days[name]), completed_at__lte=start)
        outside_window = before | Q(completed_at__gt=now, completed_at__lt=after_today)
        outside[f"{name}_met"] = Count("pk", filter=outside_window & met)
        outside[f"{name}_breached"] = Count("pk", filter=outside_window & ~met)
        edges |= before
    tallied = (
        SLADailyTally.objects.filter(day__gte=min(first_days.values()), day__lte=today)
        .values("policy_id", "metric_type")
        .annotate(**sums)
        .order_by()
    )
    beyond = (
        SLAMetric.objects.filter(edges, status__in=COMPLETED)
        .values("policy_id", "metric_type")
        .annotate(**outside)
        .order_by()
    )
    counts: dict[tuple[int, str], dict[str, int]] = {}
    for sign, rows in ((1, tallied), (-1, beyond)):
        for row in rows:
            group = counts.setdefault((row.pop("policy_id"), row.pop("metric_type")), {})
            for name, value in row.items():
                group[name] = group.get(name, 0) + sign * value
    return counts


_COUNT_NAMES = [f"{window}_{kind}" for window in WINDOWS for kind in ("met", "breached")]
Counts = dict[str, int]


def _breached_open_counts(*, now: datetime) -> dict[tuple[int, str], Counts]:
    """Breached clocks still open, decided when they breached, per (policy id, metric
    type): ``{(policy_id, type): {"last_7_days_breached": n, ...}}``. Few, read through
    the partial index of such clocks, each joined to its breach for the time."""
    starts = {name: now - timedelta(days=days) for name, days in WINDOWS.items()}
    still_open = (
        SLAMetric.objects.filter(
            status=SLAStatus.BREACHED,
            completed_at__isnull=True,
            breach__breached_at__gt=min(starts.values()),
            breach__breached_at__lte=now,
        )
        .values("policy_id", "metric_type")
        .annotate(
            **{
                f"{name}_breached": Count("pk", filter=Q(breach__breached_at__gt=start))
                for name, start in starts.items()
            }
        )
        .order_by()
    )
    return {(row.pop("policy_id"), row.pop("metric_type")): row for row in still_open}


def _roll_up(
    groups: list[tuple[tuple[int, str], Counts]],
) -> tuple[Counts, dict[str, Counts], dict[int, Counts]]:
    """The (policy, metric type) groups summed overall, per metric type and per policy:
    a few rows, policies x metric types."""
    overall = dict.fromkeys(_COUNT_NAMES, 0)
    by_type = {value: dict.fromkeys(_COUNT_NAMES, 0) for value in MetricType.values}
    by_policy: dict[int, Counts] = {}
    for (policy_id, metric_type), row in groups:
        for name, value in row.items():
            overall[name] += value
            by_type[metric_type][name] += value
            by_policy.setdefault(policy_id, dict.fromkeys(_COUNT_NAMES, 0))[name] += value
    return overall, by_type, by_policy


def sla_compliance(
    *, now: datetime, completed: dict[tuple[int, str], dict[str, int]] | None = None
) -> dict[str, Any]:
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
    ``completed`` is ``_completed_counts(now=now)`` when the caller has it already.
    """
    if completed is None:
        completed = _completed_counts(now=now)
    groups = [*completed.items(), *_breached_open_counts(now=now).items()]
    overall, by_type, by_policy = _roll_up(groups)

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
                **windows(by_policy.get(pk, dict.fromkeys(_COUNT_NAMES, 0))),
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
                "ticket_key": Ticket.key_for(breach.ticket_id),
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


# Each branch in the terms of a partial index (sla_metric_at_risk, sla_metric_warning),
# so PostgreSQL reads just the clocks at risk; MATERIALIZED keeps it from walking every
# ticking clock in deadline order instead (sla_metric_due), hoping to meet the limit
# early, which a poor estimate of "warning_at <= now" can lead it to.
_AT_RISK = """
    WITH at_risk AS MATERIALIZED (
        SELECT id, deadline FROM sla_slametric
        WHERE status = 'at_risk' OR (status = 'running' AND warning_at <= %(now)s)
    )
    SELECT id, count(*) OVER () FROM at_risk ORDER BY deadline, id LIMIT %(limit)s
"""


def sla_at_risk(*, now: datetime, limit: int = AT_RISK_LIMIT) -> dict[str, Any]:
    """Ticking clocks past their warning time, least time left first.

    That is status AT_RISK, or RUNNING with ``warning_at`` passed (the monitor marks it
    at risk within a minute). A clock whose deadline has passed but that the monitor has
    not yet marked breached stays here with a negative ``time_left_seconds``: it is
    overdue, and hiding it would hide a stalled monitor. Each row is one clock, so a
    ticket with two clocks at risk appears twice.
    """
    with replica.reads_connection().cursor() as cursor:
        cursor.execute(_AT_RISK, {"now": now, "limit": limit})
        rows = cursor.fetchall()
    count = rows[0][1] if rows else 0
    by_id = SLAMetric.objects.select_related("ticket__assignee", "policy").in_bulk(
        [pk for pk, _ in rows]
    )
    clocks = [by_id[pk] for pk, _ in rows]
    return {
        "count": count,
        "clocks": [
            {
                "metric_id": metric.pk,
                "ticket_id": metric.ticket_id,
                "ticket_key": Ticket.key_for(metric.ticket_id),
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
                # Ticking clocks have a deadline (sla_metric_ticking_has_deadline).
                "time_left_seconds": int((cast(datetime, metric.deadline) - now).total_seconds()),
            }
            for metric in clocks
        ],
    }


def sla_median_seconds(
    *, now: datetime, completed: dict[tuple[int, str], dict[str, int]] | None = None
) -> dict[str, float | None]:
    """Median business seconds used by the first-response and resolution clocks that
    completed (MET or BREACHED) in the last 30 days; None when none did. Of an even
    number, the mean of the middle two (as ``percentile_cont(0.5)``).

    The tally says how many there are, so the median is read, not sorted: the index
    ``sla_metric_elapsed`` holds completed clocks of a type in elapsed order, and the
    query stops at the middle one. Its cost is half the clocks of that type completed
    in the window (about 0.1 s per million), not a sort of them all. ``completed`` is
    ``_completed_counts(now=now)`` when the caller has it already.
    """
    if completed is None:
        completed = _completed_counts(now=now)
    window = f"last_{MEDIAN_DAYS}_days"
    medians: dict[str, float | None] = {}
    for metric_type, name in (
        (MetricType.FIRST_RESPONSE, "first_response"),
        (MetricType.RESOLUTION, "resolution"),
    ):
        count = sum(
            group[f"{window}_met"] + group[f"{window}_breached"]
            for (_, kind), group in completed.items()
            if kind == metric_type
        )
        middle = (
            list(
                SLAMetric.objects.filter(
                    status__in=COMPLETED,
                    metric_type=metric_type,
                    completed_at__gt=now - timedelta(days=MEDIAN_DAYS),
                    completed_at__lte=now,
                )
                .order_by("elapsed_seconds")
                .values_list("elapsed_seconds", flat=True)[(count - 1) // 2 : count // 2 + 1]
            )
            if count
            else []
        )
        medians[name] = sum(middle) / len(middle) if middle else None
    return medians


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
    with replica.reads_connection().cursor() as cursor:
        cursor.execute(
            _BREACHES_PER_DAY, {"first": first, "last": last, "start": start, "end": end}
        )
        rows: list[tuple[date, int]] = cursor.fetchall()
    return [{"date": day, "count": count} for day, count in rows]


def sla_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the SLA dashboard shows, as plain data (the admin page renders it, the
    API returns it as JSON). Times are aware datetimes, durations seconds."""
    now = now or timezone.now()
    with _snapshot():
        completed = _completed_counts(now=now)
        return {
            "generated_at": now,
            "compliance": sla_compliance(now=now, completed=completed),
            "unacknowledged_breaches": sla_unacknowledged_breaches(now=now),
            "at_risk": sla_at_risk(now=now),
            "median_seconds": sla_median_seconds(now=now, completed=completed),
            "breaches_per_day": sla_breaches_per_day(now=now),
        }


@contextmanager
def _snapshot() -> Iterator[None]:
    """One read-only REPEATABLE READ transaction, so every figure comes from the same
    moment (the medians rely on the tally's count matching the clocks they read). Inside
    a caller's transaction, that transaction's isolation applies. On the read replica
    when one is configured (``nixflow.platform.replica``)."""
    with replica.replica_reads() as using:
        if connections[using].in_atomic_block:
            yield
            return
        with transaction.atomic(using=using):
            with connections[using].cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
