"""Counting working time backwards (sla.calendar.subtract_business_seconds), what time
rules' cutoffs are made of.

Expected values are worked out by hand in the comments. Berlin is CET (UTC+1) in winter
and CEST (UTC+2) from 2026-03-29 02:00; 2026-12-04 is a Friday, 2026-03-30 a Monday.
"""

from __future__ import annotations

import random
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest

from sla.calendar import (
    CalendarSpec,
    add_business_seconds,
    business_seconds,
    subtract_business_seconds,
)

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
HOUR = 3600
OFFICE = CalendarSpec(
    time_zone="Europe/Berlin",
    intervals=tuple((weekday, time(9), time(17)) for weekday in range(5)),
    holidays=frozenset({date(2026, 12, 24)}),
)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_counting_back_over_a_weekend_lands_on_friday() -> None:
    # Monday 10:00 minus 3 hours: Monday 09-10 (1), then Friday 15-17 (2).
    assert subtract_business_seconds(OFFICE, berlin(2026, 12, 7, 10), 3 * HOUR) == berlin(
        2026, 12, 4, 15
    )


def test_a_span_used_up_at_opening_time_ends_there_not_at_the_evening_before() -> None:
    # Monday 10:00 minus 1 hour: exactly Monday's first hour. Friday 17:00 has as much
    # working time up to Monday 10:00, but the cutoff is the latest such instant.
    assert subtract_business_seconds(OFFICE, berlin(2026, 12, 7, 10), HOUR) == berlin(
        2026, 12, 7, 9
    )


def test_from_outside_working_time_the_count_starts_at_the_last_closing() -> None:
    # Sunday noon minus 40 hours = the five days Mon-Fri before: Monday 09:00.
    assert subtract_business_seconds(OFFICE, berlin(2026, 12, 6, 12), 40 * HOUR) == berlin(
        2026, 11, 30, 9
    )


def test_holidays_are_skipped() -> None:
    # Friday 2026-12-25 10:00 minus 2 hours: Friday 09-10 (1); Thursday 24th is a listed
    # holiday; Wednesday 16-17 (1).
    assert subtract_business_seconds(OFFICE, berlin(2026, 12, 25, 10), 2 * HOUR) == berlin(
        2026, 12, 23, 16
    )


def test_across_the_spring_forward_night_working_hours_stay_eight_real_hours() -> None:
    # Monday 2026-03-30 11:00 CEST minus 10 hours: Monday 09-11 (2), Friday 2026-03-27
    # 09-17 CET (8): Friday 09:00 CET = 08:00 UTC.
    cutoff = subtract_business_seconds(OFFICE, berlin(2026, 3, 30, 11), 10 * HOUR)
    assert cutoff == datetime(2026, 3, 27, 8, tzinfo=UTC)


def test_nothing_to_subtract_is_the_instant_itself_and_24x7_is_plain_time() -> None:
    sunday = berlin(2026, 12, 6, 12)
    assert subtract_business_seconds(OFFICE, sunday, 0) == sunday
    assert subtract_business_seconds(CalendarSpec(), sunday, 90) == sunday - timedelta(seconds=90)
    assert subtract_business_seconds(OFFICE, sunday, 0).tzinfo == UTC


def test_24x7_with_a_holiday_skips_the_whole_day() -> None:
    spec = CalendarSpec(time_zone="UTC", holidays=frozenset({date(2026, 12, 6)}))
    # Monday 02:00 minus 3 hours: Monday 00-02 (2); Sunday is a holiday; Saturday 23-24.
    monday = datetime(2026, 12, 7, 2, tzinfo=UTC)
    assert subtract_business_seconds(spec, monday, 3 * HOUR) == datetime(
        2026, 12, 5, 23, tzinfo=UTC
    )


def test_negative_spans_and_calendars_without_working_time_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        subtract_business_seconds(OFFICE, berlin(2026, 12, 7, 10), -1)
    every_day_off = CalendarSpec(
        intervals=((0, time(9), time(17)),),
        holidays=frozenset(date(2026, 1, 5) + timedelta(weeks=n) for n in range(-200, 10)),
    )
    with pytest.raises(ValueError, match="no working time"):
        subtract_business_seconds(every_day_off, datetime(2026, 2, 1, tzinfo=UTC), HOUR)
    with pytest.raises(ValueError, match="naive"):
        subtract_business_seconds(OFFICE, datetime(2026, 12, 7, 10), HOUR)  # noqa: DTZ001


def test_it_undoes_add_business_seconds_and_has_exactly_the_span_up_to_the_end() -> None:
    night_shift = CalendarSpec(
        time_zone="Europe/Berlin",
        intervals=(*OFFICE.intervals, (5, time(22), time(6)), (2, time(12), time(20))),
    )
    rng = random.Random(20)  # noqa: S311 -- test data
    start = berlin(2026, 1, 1)
    for spec in (OFFICE, night_shift):
        for _ in range(200):
            end = start + timedelta(seconds=rng.randrange(366 * 86400))
            seconds = rng.randrange(1, 30 * 8 * HOUR)
            cutoff = subtract_business_seconds(spec, end, seconds)
            assert business_seconds(spec, cutoff, end) == seconds
            # The latest such instant: a second later there is less working time.
            assert business_seconds(spec, cutoff + timedelta(seconds=1), end) == seconds - 1
            assert add_business_seconds(spec, cutoff, seconds) <= end
