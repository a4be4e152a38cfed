"""The reports' figures: one module per report, each a function of ``ReportFilters``
returning a ``Report`` (headline figures, the chart's series, the tables).

The page, its CSV and the API render the same ``Report``, so that what a BI tool reads
is what an agent sees. Every report runs its queries in one snapshot (``snapshot``):
a REPEATABLE READ, read-only transaction, so that its figures agree with each other
even while tickets are written.

The reports read other apps' rows (tickets, comments, ratings, help-center traffic,
mail) and never write them: the one place NixFlow lets a feature app read across apps,
because a report is about all of them. Each such read is guarded with
``apps.is_installed``, so that a desk without that app gets an empty report, not an
error.
"""

from __future__ import annotations

import contextvars
import datetime
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django.utils.functional import Promise

from nixflow.platform import replica
from reports.filters import ReportFilters

Label = str | Promise


@dataclass(frozen=True)
class Figure:
    """A headline number. ``unit``: count, percent, seconds."""

    key: str
    label: Label
    value: int | float | None
    unit: str = "count"


@dataclass(frozen=True)
class Column:
    key: str
    label: Label
    unit: str = "text"  # text, date, count, percent, seconds


@dataclass
class Table:
    key: str
    title: Label
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Series:
    key: str
    label: Label
    values: list[int | float | None]


@dataclass(frozen=True)
class Chart:
    """A line chart over time (``labels`` are dates) or bars by category (labels are
    names)."""

    kind: str  # "lines" or "bars"
    title: Label
    unit: str
    labels: list[datetime.date | str]
    series: list[Series]


@dataclass
class Report:
    name: str
    title: Label
    filters: ReportFilters
    figures: list[Figure]
    chart: Chart
    tables: list[Table]
    # Whether the ticket filters (workflow, team, channel, priority, tag) apply.
    ticket_filters: bool = True
    # Whether the series come per day or per week as asked (``interval``).
    intervals: bool = True
    generated_at: datetime.datetime = field(default_factory=timezone.now)

    def table(self, key: str) -> Table:
        """The table ``key``; KeyError when the report has none by that name."""
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)


@dataclass(frozen=True)
class _Shared:
    """A report's snapshot as other connections can take it up (``side_by_side``)."""

    using: str
    snapshot_id: str
    work_mem: str


# The running report's exported snapshot; None outside one, or when it cannot be shared.
_shared: contextvars.ContextVar[_Shared | None] = contextvars.ContextVar(
    "nixflow_report_snapshot", default=None
)
# What pg_export_snapshot() returns ("00000003-0000001B-1"): checked before it is put in
# SET TRANSACTION SNAPSHOT, which takes a literal only.
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


def _begin(cursor: Any, work_mem: str, snapshot_id: str = "") -> None:
    """The report's transaction: read-only, one snapshot (``snapshot_id``, an exported
    one, taken up before any query as PostgreSQL requires), and its sort memory."""
    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    if snapshot_id:
        # A literal checked by _SNAPSHOT_ID: the command takes no parameter.
        cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
    if work_mem:
        # Ends with the transaction; set_config takes the value as a parameter.
        cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])


@contextmanager
def snapshot() -> Iterator[None]:
    """One REPEATABLE READ, read-only transaction for all a report's queries, on the
    read replica when one is configured (``nixflow.platform.replica``).

    The transaction may sort in more memory than a request's default
    (``NIXFLOW_REPORTS_WORK_MEM``, ``SET LOCAL work_mem``): the People report's medians
    sort every ticket of the range (about 290,000 over 90 days at a million tickets),
    which PostgreSQL's default 4 MB sends to disk, taking several times as long.

    With ``NIXFLOW_REPORTS_PARALLEL`` the snapshot is exported (``pg_export_snapshot``,
    on a standby too), so that ``side_by_side`` can run a report's heavy queries on
    further connections that read exactly what this one reads.

    Inside a transaction that has already run queries (a test, a caller's atomic
    block), the isolation level can no longer be chosen: the report then reads in that
    transaction, as it would its snapshot, and its queries run one after the other
    (another connection could not see that transaction's own writes)."""
    work_mem = getattr(settings, "NIXFLOW_REPORTS_WORK_MEM", "")
    with replica.replica_reads() as using:
        connection = connections[using]
        if connection.in_atomic_block:
            with transaction.atomic(using=using):
                yield
            return
        with transaction.atomic(using=using):
            shared = None
            with connection.cursor() as cursor:
                _begin(cursor, work_mem)
                if getattr(settings, "NIXFLOW_REPORTS_PARALLEL", True):
                    cursor.execute("SELECT pg_export_snapshot()")
                    shared = _Shared(using, cursor.fetchone()[0], work_mem)
            token = _shared.set(shared)
            try:
                yield
            finally:
                _shared.reset(token)


T = TypeVar("T")


def side_by_side(*calls: Callable[[], T]) -> list[T]:
    """The results of ``calls``, run at the same time when the report's snapshot can be
    shared (``snapshot``): the first here, each other one in a thread on a connection of
    its own that takes up the same snapshot, so every figure still comes from one
    snapshot. Otherwise one after the other, here.

    For queries that each take long on their own (the People report's medians of
    tickets created and of tickets resolved: about 300 and 120 ms over 90 days at a
    million tickets); each further call holds a database connection while it runs."""
    shared = _shared.get()
    if shared is None or len(calls) < 2:
        return [call() for call in calls]
    if not _SNAPSHOT_ID.fullmatch(shared.snapshot_id):
        raise ValueError(f"Unexpected snapshot id: {shared.snapshot_id!r}")
    with ThreadPoolExecutor(max_workers=len(calls) - 1) as pool:
        # Each thread gets this context (the replica's alias, this snapshot).
        others = [
            pool.submit(contextvars.copy_context().run, _in_snapshot, shared, call)
            for call in calls[1:]
        ]
        first = calls[0]()
        return [first, *(other.result() for other in others)]


def _in_snapshot(shared: _Shared, call: Callable[[], T]) -> T:
    """``call`` in a read-only transaction of this thread's connection that reads the
    exported snapshot ``shared``; the connection is closed after it."""
    connection = connections[shared.using]
    try:
        with transaction.atomic(using=shared.using):
            with connection.cursor() as cursor:
                _begin(cursor, shared.work_mem, shared.snapshot_id)
            return call()
    finally:
        connection.close()


# Several GROUP BYs of the same rows in one pass: GROUPING SETS, one set per key, over
# the ORM's own query (its filters and joins), which the ORM cannot say itself. Plain
# aggregates are hashed, so the rows are read once whatever the number of keys.
_PER_KEY = """
    SELECT {groupings}, {keys}, {aggregates}
    FROM ({rows}) AS r
    GROUP BY GROUPING SETS ({sets})
"""


def per_key(
    rows: Any, keys: Sequence[str], aggregates: Sequence[str], params: Sequence[Any] = ()
) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """``aggregates`` (SQL over the columns of ``rows``, a queryset's ``values()``) per
    value of each of ``keys`` (columns of ``rows``), from one query: {key: {value:
    (aggregate, ...)}}. ``params`` are the aggregates' own parameters (``%s``).
    Keys and aggregates are the caller's constants, never input."""
    sql, row_params = rows.query.sql_with_params()
    text = _PER_KEY.format(
        groupings=", ".join(f"GROUPING({key})" for key in keys),
        keys=", ".join(keys),
        aggregates=", ".join(aggregates),
        rows=sql,
        sets=", ".join(f"({key})" for key in keys),
    )
    out: dict[str, dict[Any, tuple[Any, ...]]] = {key: {} for key in keys}
    width = len(keys)
    with replica.reads_connection().cursor() as cursor:
        cursor.execute(text, [*params, *row_params])
        for row in cursor.fetchall():
            at = row[:width].index(0)  # the one key this row is grouped by
            out[keys[at]][row[width + at]] = tuple(row[2 * width :])
    return out


def percent(part: int | float, whole: int | float) -> float | None:
    """``part`` of ``whole`` in percent, one decimal; None when ``whole`` is 0."""
    return round(part * 100 / whole, 1) if whole else None


def buckets(filters: ReportFilters) -> list[datetime.date]:
    """The range's days, or its weeks (each by its Monday, the first one possibly
    before the range: the week's figures count only the range's days)."""
    if filters.interval != "week":
        return filters.days
    first = filters.start - datetime.timedelta(days=filters.start.weekday())
    count = (filters.end - first).days // 7 + 1
    return [first + datetime.timedelta(weeks=n) for n in range(count)]


def bucket_of(day: datetime.date, filters: ReportFilters) -> datetime.date:
    if filters.interval != "week":
        return day
    return day - datetime.timedelta(days=day.weekday())


def per_bucket(
    counts: dict[datetime.date, int], filters: ReportFilters
) -> dict[datetime.date, int]:
    """Per-day counts summed into the report's buckets (days or weeks)."""
    summed = dict.fromkeys(buckets(filters), 0)
    for day, count in counts.items():
        key = bucket_of(day, filters)
        if key in summed:
            summed[key] += count
    return summed
