"""Business-time arithmetic: pure functions over an immutable ``CalendarSpec``.

A spec is built once from a ``BusinessCalendar`` (``calendar_spec`` caches it per
``(pk, updated)``) and then answers, without touching the database, how much working
time lies between two instants and when a span of working time ends. All arguments are
aware datetimes in any time zone (naive ones raise ``ValueError``); results are in UTC.
Business time is counted in whole seconds: ``business_seconds`` floors.

Semantics
---------
- **Working intervals.** ``(weekday, start, end)`` is local wall time in ``time_zone``
  on every date whose weekday (0=Monday) matches, from ``start`` to ``end``. An ``end``
  at or before ``start`` runs past midnight into the next day (22:00-06:00), so
  ``start == end`` is 24 local hours and ``00:00-00:00`` is the whole day (23 or 25
  real hours on a DST day). Overlapping intervals, also across midnight, are merged, so
  no second counts twice.
- **DST.** Wall times become UTC with ``zoneinfo``. A boundary in a spring-forward gap
  moves to the first valid instant after the gap (02:30 on the night clocks jump from
  02:00 to 03:00 is 03:00); an ambiguous fall-back time is its first occurrence
  (``fold=0``). Hence 09:00-17:00 is 8 real hours on any day, and 00:00-06:00 across
  spring-forward is 5 real hours.
- **Holidays** are the listed ``holidays`` plus the ``holidays`` package's public
  holidays for ``holiday_country`` (and ``holiday_subdivision``). An interval belongs to
  the local date it starts on: one starting on a holiday counts not at all, one starting
  the evening before a holiday counts in full (also after midnight).
- **24x7.** With no intervals every instant counts and arithmetic is in absolute time:
  a day is 86400 s, also across DST, and nothing is lost at midnight. Holidays apply to
  24x7 calendars too: a 24x7 calendar with listed holidays or a holiday country skips
  each of those whole local days (00:00 to 00:00 in ``time_zone``) and counts every
  other instant.
- **Boundaries.** A working period is half-open, ``[start, end)``: ``is_working_time``
  is true at 09:00 and false at 17:00. ``add_business_seconds`` returns the instant the
  span is used up, so a span that ends exactly at closing time ends at 17:00 (not at the
  next opening); a span of 0 returns ``start`` even outside working time.
- **No working time.** ``add_business_seconds``, ``subtract_business_seconds`` and
  ``next_working_instant`` raise ``ValueError`` when they find no working time within
  ~3 years, instead of looping forever. Functions over a bounded range
  (``business_seconds``, ``working_periods``, ``is_working_time``) never raise for that;
  they just find nothing.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sla.models import BusinessCalendar

UTC = datetime.UTC
_DAY = datetime.timedelta(days=1)
_SECOND = datetime.timedelta(seconds=1)
_MIDNIGHT = datetime.time(0)
# An open-ended search gives up after this many consecutive days without working time.
_MAX_IDLE_DAYS = 3 * 366

Period = tuple[datetime.datetime, datetime.datetime]


@dataclass(frozen=True)
class CalendarSpec:
    """Everything business-time arithmetic needs to know about a calendar; hashable."""

    time_zone: str = "UTC"
    intervals: tuple[tuple[int, datetime.time, datetime.time], ...] = ()
    holidays: frozenset[datetime.date] = frozenset()
    holiday_country: str = ""
    holiday_subdivision: str = ""

    def __post_init__(self) -> None:
        zoneinfo.ZoneInfo(self.time_zone)  # fail here, not in the middle of a computation
        intervals = tuple(sorted((int(w), s, e) for w, s, e in self.intervals))
        for weekday, _, _ in intervals:
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday}")
        # Normalised, so that equal calendars give equal (and equally hashed) specs.
        object.__setattr__(self, "intervals", intervals)
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @property
    def is_24x7(self) -> bool:
        return not self.intervals

    @classmethod
    def from_model(cls, calendar: BusinessCalendar | None) -> CalendarSpec:
        """The spec of ``calendar`` (``None``: 24x7); two queries, intervals and holidays."""
        if calendar is None:
            return cls()
        intervals: tuple[tuple[int, datetime.time, datetime.time], ...] = ()
        holidays: frozenset[datetime.date] = frozenset()
        if calendar.pk is not None:  # an unsaved calendar has no rows to load
            intervals = tuple(calendar.intervals.values_list("weekday", "start", "end"))
            holidays = frozenset(calendar.holidays.values_list("date", flat=True))
        return cls(
            time_zone=calendar.time_zone,
            intervals=intervals,
            holidays=holidays,
            holiday_country=calendar.holiday_country,
            holiday_subdivision=calendar.holiday_subdivision,
        )


# pk -> (updated, spec). Keyed by pk, not (pk, updated), so that an edited calendar
# replaces its stale entry and the dict never outgrows the number of calendars.
_SPEC_CACHE: dict[int, tuple[datetime.datetime, CalendarSpec]] = {}


def calendar_spec(calendar: BusinessCalendar | None) -> CalendarSpec:
    """``CalendarSpec.from_model(calendar)``, cached in-process per (pk, updated).

    Relies on ``BusinessCalendar.updated`` changing whenever the calendar, its intervals
    or its holidays change.
    """
    if calendar is None or calendar.pk is None:
        return CalendarSpec.from_model(calendar)
    cached = _SPEC_CACHE.get(calendar.pk)
    if cached is not None and cached[0] == calendar.updated:
        return cached[1]
    spec = CalendarSpec.from_model(calendar)
    _SPEC_CACHE[calendar.pk] = (calendar.updated, spec)
    return spec


def business_seconds(spec: CalendarSpec, start: datetime.datetime, end: datetime.datetime) -> int:
    """Working seconds in ``[start, end)``; 0 when ``end <= start``."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return 0
    if _is_plain_24x7(spec):
        return (end - start) // _SECOND
    total = sum((e - s for s, e in _fragments(spec, start, end)), datetime.timedelta())
    return total // _SECOND


def add_business_seconds(
    spec: CalendarSpec, start: datetime.datetime, seconds: int
) -> datetime.datetime:
    """The instant (UTC) when ``seconds`` of working time have passed since ``start``.

    ``seconds == 0`` gives ``start`` itself; otherwise counting begins at ``start`` or,
    outside working time, at the next working period. Raises ``ValueError`` for negative
    ``seconds`` and when the calendar has no working time within ~3 years.
    """
    if seconds < 0:
        raise ValueError(f"seconds must not be negative, not {seconds}")
    start = _utc(start)
    remaining = datetime.timedelta(seconds=seconds)
    if seconds == 0 or _is_plain_24x7(spec):
        return start + remaining
    for s, e in _fragments(spec, start, None):
        if remaining <= e - s:
            return s + remaining
        remaining -= e - s
    raise AssertionError("unreachable: _fragments is endless or raises")  # pragma: no cover


def subtract_business_seconds(
    spec: CalendarSpec, end: datetime.datetime, seconds: int
) -> datetime.datetime:
    """The latest instant (UTC) with ``seconds`` of working time between it and ``end``:
    ``add_business_seconds`` run backwards, what "more than 5 business days ago" needs.

    ``seconds == 0`` gives ``end`` itself. Being the latest such instant, a span used up
    exactly at an opening time ends there (Monday 09:00, not the Friday 17:00 before, which
    has as much working time up to ``end``). Raises ``ValueError`` for negative ``seconds``
    and when the calendar has no working time in the ~3 years before ``end``.
    """
    if seconds < 0:
        raise ValueError(f"seconds must not be negative, not {seconds}")
    end = _utc(end)
    remaining = datetime.timedelta(seconds=seconds)
    if seconds == 0 or _is_plain_24x7(spec):
        return end - remaining
    # _fragments walks forwards only, so walk back a week at a time and read each week's
    # periods from its end; a period cut at a week's edge is counted in two pieces.
    week = 7 * _DAY
    window_end, idle_days = end, 0
    while idle_days <= _MAX_IDLE_DAYS:
        window_start = window_end - week
        periods = list(working_periods(spec, window_start, window_end))
        for s, e in reversed(periods):
            if remaining <= e - s:
                return e - remaining
            remaining -= e - s
        idle_days = 0 if periods else idle_days + 7
        window_end = window_start
    raise ValueError(
        f"the calendar has no working time in the {_MAX_IDLE_DAYS} days "
        f"before {window_end.isoformat()}"
    )


def is_working_time(spec: CalendarSpec, at: datetime.datetime) -> bool:
    """Whether ``at`` lies in a working period (periods are half-open, ``[start, end)``)."""
    at = _utc(at)
    if _is_plain_24x7(spec):
        return True
    return any(True for _ in _fragments(spec, at, at + datetime.timedelta(microseconds=1)))


def next_working_instant(spec: CalendarSpec, at: datetime.datetime) -> datetime.datetime:
    """``at`` (in UTC) if it is working time, else the start of the next working period.

    Raises ``ValueError`` when there is no working time within ~3 years.
    """
    at = _utc(at)
    if _is_plain_24x7(spec):
        return at
    return next(_fragments(spec, at, None))[0]


def working_periods(
    spec: CalendarSpec, start: datetime.datetime, end: datetime.datetime
) -> Iterator[Period]:
    """The working periods in ``[start, end)``: UTC, ordered, merged, clipped to the range."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return
    if _is_plain_24x7(spec):
        yield start, end
        return
    pending: Period | None = None
    for s, e in _fragments(spec, start, end):
        if pending is None:
            pending = (s, e)
        elif s == pending[1]:  # fragments split at local midnight join up again
            pending = (pending[0], e)
        else:
            yield pending
            pending = (s, e)
    if pending is not None:
        yield pending


# --- internals ------------------------------------------------------------------------


def _utc(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"an aware datetime is needed, not naive {value.isoformat()}")
    return value.astimezone(UTC)


def _is_plain_24x7(spec: CalendarSpec) -> bool:
    """24x7 without holidays: arithmetic is plain absolute time."""
    return spec.is_24x7 and not spec.holidays and not spec.holiday_country


@functools.lru_cache(maxsize=512)
def _country_holidays(country: str, subdivision: str, year: int) -> frozenset[datetime.date]:
    import holidays

    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


@functools.lru_cache(maxsize=256)
def _weekly(spec: CalendarSpec) -> tuple[tuple[tuple[datetime.time, datetime.time], ...], ...]:
    """Per weekday 0..6, the (start, end) wall times of the intervals starting that day."""
    # A 24x7 calendar with holidays is, between its holidays, whole days back to back.
    intervals = spec.intervals or tuple((w, _MIDNIGHT, _MIDNIGHT) for w in range(7))
    return tuple(tuple((s, e) for w, s, e in intervals if w == weekday) for weekday in range(7))


def _is_holiday(spec: CalendarSpec, day: datetime.date) -> bool:
    if day in spec.holidays:
        return True
    return bool(spec.holiday_country) and day in _country_holidays(
        spec.holiday_country, spec.holiday_subdivision, day.year
    )


def _to_utc(wall: datetime.datetime, tz: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The UTC instant of local wall time ``wall`` under the module's DST rules."""
    local = wall.replace(tzinfo=tz)  # fold=0: the first of two ambiguous instants
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc
    # ``wall`` does not exist (spring-forward gap). For gap times fold=0 applies the
    # offset from before the transition and fold=1 the one after, so the transition,
    # the first valid instant after the gap, lies in (fold=1 instant, fold=0 instant].
    return _transition(tz, local.replace(fold=1).astimezone(UTC), utc)


def _transition(
    tz: zoneinfo.ZoneInfo, before: datetime.datetime, after: datetime.datetime
) -> datetime.datetime:
    """The first instant in ``(before, after]`` whose UTC offset differs from ``before``'s.

    zoneinfo does not expose its transitions, so bisect; tz transitions fall on whole
    seconds, and this runs only for a boundary inside a gap (a few times a year).
    """
    before = before.replace(microsecond=0)
    offset = before.astimezone(tz).utcoffset()
    low, high = 0, -(-(after - before) // _SECOND)  # offsets in seconds from ``before``
    while high - low > 1:
        middle = (low + high) // 2
        if (before + middle * _SECOND).astimezone(tz).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return before + high * _SECOND


def _day_periods(
    spec: CalendarSpec,
    tz: zoneinfo.ZoneInfo,
    weekly: tuple[tuple[tuple[datetime.time, datetime.time], ...], ...],
    day: datetime.date,
) -> list[Period]:
    """UTC periods of the intervals starting on local date ``day``, ordered by start."""
    if not weekly[day.weekday()] or _is_holiday(spec, day):
        return []
    periods = []
    for start, end in weekly[day.weekday()]:
        end_day = day + _DAY if end <= start else day
        s = _to_utc(datetime.datetime.combine(day, start), tz)
        e = _to_utc(datetime.datetime.combine(end_day, end), tz)
        if e > s:  # both ends in one DST gap: nothing left
            periods.append((s, e))
    periods.sort()
    return periods


def _fragments(
    spec: CalendarSpec, start: datetime.datetime, end: datetime.datetime | None
) -> Iterator[Period]:
    """Working time in ``[start, end)`` (UTC; ``end=None``: endless) as ordered pieces.

    Pieces never overlap but may touch (a whole-day interval ends where the next day's
    begins). Walking date by date keeps the periods ordered by start, because a date's
    intervals all start after the previous date's; overlaps, also with the previous
    date's overnight interval, are cut off against ``covered`` (the latest end so far)
    rather than merged, so a piece can be yielded without looking ahead. Endless walks
    raise ``ValueError`` after ``_MAX_IDLE_DAYS`` days without working time.
    """
    tz = zoneinfo.ZoneInfo(spec.time_zone)
    weekly = _weekly(spec)
    # Start a day early: the previous evening's interval may run past midnight into it.
    day = start.astimezone(tz).date() - _DAY
    last_day = end.astimezone(tz).date() if end is not None else datetime.date.max
    covered = start
    idle_days = 0
    while day <= last_day:
        found = False
        for period_start, period_end in _day_periods(spec, tz, weekly, day):
            s = max(period_start, covered)
            e = period_end if end is None else min(period_end, end)
            if e > s:
                yield s, e
                covered = e
                found = True
        if found:
            idle_days = 0
        elif end is None:
            idle_days += 1
            if idle_days > _MAX_IDLE_DAYS:
                raise ValueError(
                    f"the calendar has no working time in the {_MAX_IDLE_DAYS} days "
                    f"before {day.isoformat()}"
                )
        if day == datetime.date.max:
            break
        day += _DAY
