"""Business-time arithmetic (sla.calendar).

Every expected value below is worked out by hand in its comment; none comes from the code
under test. Offsets: Berlin is CET (UTC+1) and CEST (UTC+2) from 2026-03-29 02:00 to
2026-10-25 03:00; New York is EST (UTC-5) and EDT (UTC-4) from 2026-03-08 02:00 to
2026-11-01 02:00. 2026-01-01 is a Thursday.
"""

from __future__ import annotations

import random
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest
from pytest_django import DjangoAssertNumQueries

from sla.calendar import (
    CalendarSpec,
    add_business_seconds,
    business_seconds,
    calendar_spec,
    is_working_time,
    next_working_instant,
    working_periods,
)
from tests.sla.factories import BusinessCalendarFactory, WorkingIntervalFactory, office_hours

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
MINUTE = 60
HOUR = 3600
DAY = 86400


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def every(weekdays: range, start: time, end: time) -> tuple[tuple[int, time, time], ...]:
    return tuple((weekday, start, end) for weekday in weekdays)


MON_FRI = range(5)
ALL_WEEK = range(7)

# Mon-Fri 09-17, German public holidays, plus Monday 2026-06-15 listed by hand.
BERLIN_OFFICE = CalendarSpec(
    time_zone="Europe/Berlin",
    intervals=every(MON_FRI, time(9), time(17)),
    holidays=frozenset({date(2026, 6, 15)}),
    holiday_country="DE",
)
NEW_YORK_OFFICE = CalendarSpec(
    time_zone="America/New_York",
    intervals=every(MON_FRI, time(9), time(17)),
    holiday_country="US",
)
# Every night 22:00-06:00; Friday 2026-05-01 listed as a holiday.
BERLIN_NIGHTS = CalendarSpec(
    time_zone="Europe/Berlin",
    intervals=every(ALL_WEEK, time(22), time(6)),
    holidays=frozenset({date(2026, 5, 1)}),
)
NEW_YORK_NIGHTS = CalendarSpec(
    time_zone="America/New_York", intervals=every(ALL_WEEK, time(22), time(6))
)
UTC_24X7 = CalendarSpec()
BERLIN_24X7 = CalendarSpec(time_zone="Europe/Berlin")
BERLIN_24X7_DE = CalendarSpec(time_zone="Europe/Berlin", holiday_country="DE")
# Whole Sundays (00:00-00:00) only.
BERLIN_SUNDAYS = CalendarSpec(time_zone="Europe/Berlin", intervals=((6, time(0), time(0)),))
# Union: Sun 22:00 -> Mon 06:00, Mon 00-08, 08-10, 09-17, 12-18 = Sun 22:00 to Mon 18:00,
# 20 h a week, which double counting would inflate.
OVERLAPPING = CalendarSpec(
    intervals=(
        (0, time(9), time(17)),
        (0, time(12), time(18)),
        (0, time(8), time(10)),
        (6, time(22), time(6)),
        (0, time(0), time(8)),
    )
)
# Sundays 01:30-03:00 New York: on 2026-03-08 01:30 EST (06:30Z) to 03:00 EDT (07:00Z) is
# 30 min; on 2026-11-01 01:30 is ambiguous, first (EDT, 05:30Z) to 03:00 EST (08:00Z) is
# 2.5 h.
NEW_YORK_SMALL_HOURS = CalendarSpec(
    time_zone="America/New_York", intervals=((6, time(1, 30), time(3)),)
)
# Sundays 02:30-04:00 Berlin: 02:30 does not exist on 2026-03-29 and moves to 03:00 CEST.
BERLIN_SMALL_HOURS = CalendarSpec(time_zone="Europe/Berlin", intervals=((6, time(2, 30), time(4)),))
# Mondays only, and every Monday from 2026 to 2030 listed as a holiday.
NO_WORKING_TIME = CalendarSpec(
    intervals=((0, time(9), time(17)),),
    holidays=frozenset(date(2026, 1, 5) + timedelta(weeks=n) for n in range(5 * 53)),
)


DEADLINES = [
    # --- Berlin, Mon-Fri 09-17, DE holidays ---------------------------------------
    pytest.param(
        # Tue 10:00 + 2h -> Tue 12:00 CET = 11:00Z
        BERLIN_OFFICE,
        berlin(2026, 3, 10, 10),
        2 * HOUR,
        utc(2026, 3, 10, 11),
        id="berlin-within-a-day",
    ),
    pytest.param(
        # Tue 16:00 + 2h -> 1h Tue + 1h Wed -> Wed 10:00 CET = 09:00Z
        BERLIN_OFFICE,
        berlin(2026, 3, 10, 16),
        2 * HOUR,
        utc(2026, 3, 11, 9),
        id="berlin-crossing-a-night",
    ),
    pytest.param(
        # Fri 16:00 + 2h -> 1h Fri + 1h Mon -> Mon 10:00 CET = 09:00Z
        BERLIN_OFFICE,
        berlin(2026, 3, 13, 16),
        2 * HOUR,
        utc(2026, 3, 16, 9),
        id="berlin-crossing-a-weekend",
    ),
    pytest.param(
        # Fri 16:00 CET + 2h -> 1h Fri + 1h Mon -> Mon 10:00 CEST = 08:00Z
        BERLIN_OFFICE,
        berlin(2026, 3, 27, 16),
        2 * HOUR,
        utc(2026, 3, 30, 8),
        id="berlin-weekend-with-spring-forward",
    ),
    pytest.param(
        # Fri 16:00 CEST + 2h -> 1h Fri + 1h Mon -> Mon 10:00 CET = 09:00Z
        BERLIN_OFFICE,
        berlin(2026, 10, 23, 16),
        2 * HOUR,
        utc(2026, 10, 26, 9),
        id="berlin-weekend-with-fall-back",
    ),
    pytest.param(
        # Wed 07:30 + 30m -> counting starts 09:00 -> 09:30 CET = 08:30Z
        BERLIN_OFFICE,
        berlin(2026, 3, 11, 7, 30),
        30 * MINUTE,
        utc(2026, 3, 11, 8, 30),
        id="berlin-before-opening",
    ),
    pytest.param(
        # Wed 18:00 + 1h -> Thu 09:00 + 1h = Thu 10:00 CET = 09:00Z
        BERLIN_OFFICE,
        berlin(2026, 3, 11, 18),
        HOUR,
        utc(2026, 3, 12, 9),
        id="berlin-after-closing",
    ),
    pytest.param(
        # Sun 12:00 + 8h -> all of Mon 09-17 -> Mon 17:00 CET = 16:00Z
        BERLIN_OFFICE,
        berlin(2026, 3, 15, 12),
        8 * HOUR,
        utc(2026, 3, 16, 16),
        id="berlin-on-a-sunday",
    ),
    pytest.param(
        # Wed 13:00 + 4h -> Wed 17:00 CET = 16:00Z (closing time, not Thu 09:00)
        BERLIN_OFFICE,
        berlin(2026, 3, 11, 13),
        4 * HOUR,
        utc(2026, 3, 11, 16),
        id="berlin-ending-at-closing-time",
    ),
    pytest.param(
        # Fri 16:00 + 2h -> 1h Fri, Mon 06-15 listed holiday, 1h Tue -> Tue 10:00 CEST
        # = 08:00Z
        BERLIN_OFFICE,
        berlin(2026, 6, 12, 16),
        2 * HOUR,
        utc(2026, 6, 16, 8),
        id="berlin-listed-holiday",
    ),
    pytest.param(
        # Thu 12-24 16:00 + 2h -> 1h Thu, Fri 25 + Sat 26 Christmas, Sun -> Mon 28 10:00
        # CET = 09:00Z
        BERLIN_OFFICE,
        berlin(2026, 12, 24, 16),
        2 * HOUR,
        utc(2026, 12, 28, 9),
        id="berlin-christmas",
    ),
    pytest.param(
        # Thu 04-02 16:00 + 2h -> 1h Thu, Good Friday, weekend, Easter Monday -> Tue 04-07
        # 10:00 CEST = 08:00Z
        BERLIN_OFFICE,
        berlin(2026, 4, 2, 16),
        2 * HOUR,
        utc(2026, 4, 7, 8),
        id="berlin-easter",
    ),
    pytest.param(
        # Mon 03-02 09:00 + 30 business days: weeks of 03-02, 03-09, 03-16, 03-23 = 20;
        # Mon 03-30..Thu 04-02 = 24 (Good Friday); Tue 04-07..Fri 04-10 = 28 (Easter
        # Monday); Mon 04-13, Tue 04-14 = 30 -> Tue 04-14 17:00 CEST = 15:00Z
        BERLIN_OFFICE,
        berlin(2026, 3, 2, 9),
        30 * 8 * HOUR,
        utc(2026, 4, 14, 15),
        id="berlin-30-business-days",
    ),
    # --- New York, Mon-Fri 09-17, US holidays -------------------------------------
    pytest.param(
        # Tue 03-10 09:15 EDT + 45m -> 10:00 EDT = 14:00Z
        NEW_YORK_OFFICE,
        new_york(2026, 3, 10, 9, 15),
        45 * MINUTE,
        utc(2026, 3, 10, 14),
        id="new-york-within-a-day",
    ),
    pytest.param(
        # Wed 16:30 EST + 1h -> 30m Wed + 30m Thu -> Thu 09:30 EST = 14:30Z
        NEW_YORK_OFFICE,
        new_york(2026, 3, 4, 16, 30),
        HOUR,
        utc(2026, 3, 5, 14, 30),
        id="new-york-crossing-a-night",
    ),
    pytest.param(
        # Fri 03-06 16:00 EST + 2h -> 1h Fri + 1h Mon -> Mon 10:00 EDT = 14:00Z
        NEW_YORK_OFFICE,
        new_york(2026, 3, 6, 16),
        2 * HOUR,
        utc(2026, 3, 9, 14),
        id="new-york-weekend-with-spring-forward",
    ),
    pytest.param(
        # Fri 10-30 16:00 EDT + 2h -> 1h Fri + 1h Mon -> Mon 11-02 10:00 EST = 15:00Z
        NEW_YORK_OFFICE,
        new_york(2026, 10, 30, 16),
        2 * HOUR,
        utc(2026, 11, 2, 15),
        id="new-york-weekend-with-fall-back",
    ),
    pytest.param(
        # Sun 03-08 03:30 EDT (the DST Sunday) + 1h -> Mon 10:00 EDT = 14:00Z
        NEW_YORK_OFFICE,
        new_york(2026, 3, 8, 3, 30),
        HOUR,
        utc(2026, 3, 9, 14),
        id="new-york-on-the-dst-sunday",
    ),
    pytest.param(
        # Mon 11-02 06:00 EST + 8h -> 09:00-17:00 -> 17:00 EST = 22:00Z
        NEW_YORK_OFFICE,
        new_york(2026, 11, 2, 6),
        8 * HOUR,
        utc(2026, 11, 2, 22),
        id="new-york-before-opening",
    ),
    pytest.param(
        # Wed 11-25 16:00 + 2h -> 1h Wed, Thanksgiving Thu -> Fri 10:00 EST = 15:00Z
        NEW_YORK_OFFICE,
        new_york(2026, 11, 25, 16),
        2 * HOUR,
        utc(2026, 11, 27, 15),
        id="new-york-thanksgiving",
    ),
    pytest.param(
        # Thu 07-02 16:00 + 2h -> 1h Thu, Fri 07-03 (July 4th observed), weekend
        # -> Mon 07-06 10:00 EDT = 14:00Z
        NEW_YORK_OFFICE,
        new_york(2026, 7, 2, 16),
        2 * HOUR,
        utc(2026, 7, 6, 14),
        id="new-york-observed-independence-day",
    ),
    pytest.param(
        # Fri 01-16 16:00 + 2h -> 1h Fri, weekend, Mon 01-19 MLK day -> Tue 10:00 EST
        # = 15:00Z
        NEW_YORK_OFFICE,
        new_york(2026, 1, 16, 16),
        2 * HOUR,
        utc(2026, 1, 20, 15),
        id="new-york-mlk-day",
    ),
    # --- Nights 22:00-06:00 -------------------------------------------------------
    pytest.param(
        # Sat 03-28 22:00 CET (21:00Z) to Sun 06:00 CEST (04:00Z) is 7 real hours
        BERLIN_NIGHTS,
        berlin(2026, 3, 28, 22),
        7 * HOUR,
        utc(2026, 3, 29, 4),
        id="berlin-nights-spring-forward-night-is-7h",
    ),
    pytest.param(
        # ... one minute more -> next night Sun 22:00 CEST (20:00Z) + 1m = 20:01Z
        BERLIN_NIGHTS,
        berlin(2026, 3, 28, 22),
        7 * HOUR + MINUTE,
        utc(2026, 3, 29, 20, 1),
        id="berlin-nights-spring-forward-one-minute-more",
    ),
    pytest.param(
        # Sat 10-24 22:00 CEST (20:00Z) to Sun 06:00 CET (05:00Z) is 9 real hours
        BERLIN_NIGHTS,
        berlin(2026, 10, 24, 22),
        9 * HOUR,
        utc(2026, 10, 25, 5),
        id="berlin-nights-fall-back-night-is-9h",
    ),
    pytest.param(
        # 20:00Z + 5h = 01:00Z, the second 02:00 (CET) of the repeated hour
        BERLIN_NIGHTS,
        berlin(2026, 10, 24, 22),
        5 * HOUR,
        utc(2026, 10, 25, 1),
        id="berlin-nights-inside-the-repeated-hour",
    ),
    pytest.param(
        # Wed 12:00 + 1h -> Wed 22:00 + 1h = 23:00 CET = 22:00Z
        BERLIN_NIGHTS,
        berlin(2026, 3, 11, 12),
        HOUR,
        utc(2026, 3, 11, 22),
        id="berlin-nights-from-daytime",
    ),
    pytest.param(
        # Thu 05:00 (Wed's night) + 2h -> 1h to 06:00, Thu 22:00 + 1h = 23:00 CET = 22:00Z
        BERLIN_NIGHTS,
        berlin(2026, 3, 12, 5),
        2 * HOUR,
        utc(2026, 3, 12, 22),
        id="berlin-nights-from-after-midnight",
    ),
    pytest.param(
        # Fri 05-01 (listed) 05:00 is Thu's night, which counts: 1h to 06:00; Fri's night
        # does not; Sat 22:00 + 1h = 23:00 CEST = 21:00Z
        BERLIN_NIGHTS,
        berlin(2026, 5, 1, 5),
        2 * HOUR,
        utc(2026, 5, 2, 21),
        id="berlin-nights-belong-to-the-day-they-start",
    ),
    pytest.param(
        # Sat 03-07 22:00 EST (Sun 03:00Z) to Sun 06:00 EDT (10:00Z) is 7 real hours
        NEW_YORK_NIGHTS,
        new_york(2026, 3, 7, 22),
        7 * HOUR,
        utc(2026, 3, 8, 10),
        id="new-york-nights-spring-forward-night-is-7h",
    ),
    pytest.param(
        # Sat 10-31 22:00 EDT (Sun 02:00Z) to Sun 06:00 EST (11:00Z) is 9 real hours
        NEW_YORK_NIGHTS,
        new_york(2026, 10, 31, 22),
        9 * HOUR,
        utc(2026, 11, 1, 11),
        id="new-york-nights-fall-back-night-is-9h",
    ),
    # --- 24x7 ---------------------------------------------------------------------
    pytest.param(
        # 23:59 + 1440 min = exactly 24 h later, no minute lost at midnight
        UTC_24X7,
        utc(2026, 1, 1, 23, 59),
        1440 * MINUTE,
        utc(2026, 1, 2, 23, 59),
        id="utc-24x7-across-midnight",
    ),
    pytest.param(
        # 23:59:30 + 60 s = 00:00:30 next year
        UTC_24X7,
        utc(2026, 12, 31, 23, 59, 30),
        MINUTE,
        utc(2027, 1, 1, 0, 0, 30),
        id="utc-24x7-across-new-year",
    ),
    pytest.param(
        # Sat 12:00 CET (11:00Z) + 86400 s = Sun 11:00Z (13:00 CEST): absolute time
        BERLIN_24X7,
        berlin(2026, 3, 28, 12),
        DAY,
        utc(2026, 3, 29, 11),
        id="berlin-24x7-across-spring-forward",
    ),
    pytest.param(
        # Sat 12:00 CEST (10:00Z) + 86400 s = Sun 10:00Z (11:00 CET)
        BERLIN_24X7,
        berlin(2026, 10, 24, 12),
        DAY,
        utc(2026, 10, 25, 10),
        id="berlin-24x7-across-fall-back",
    ),
    pytest.param(
        # Sat 23:59 CET (22:59Z) + 1440 min = Sun 22:59Z, across midnight and the DST jump
        BERLIN_24X7,
        berlin(2026, 3, 28, 23, 59),
        1440 * MINUTE,
        utc(2026, 3, 29, 22, 59),
        id="berlin-24x7-midnight-and-dst",
    ),
    pytest.param(
        # With DE holidays, the days join at each local midnight: Tue 23:59 CET (22:59Z)
        # + 1440 min = Wed 22:59Z
        BERLIN_24X7_DE,
        berlin(2026, 3, 10, 23, 59),
        1440 * MINUTE,
        utc(2026, 3, 11, 22, 59),
        id="berlin-24x7-with-holidays-no-lost-minute",
    ),
    pytest.param(
        # Thu 12-24 23:00 CET (22:00Z) + 2h -> 1h to midnight; 25th and 26th skipped whole;
        # Sun 27 00:00 CET (26th 23:00Z) + 1h = 12-27 00:00Z
        BERLIN_24X7_DE,
        berlin(2026, 12, 24, 23),
        2 * HOUR,
        utc(2026, 12, 27, 0),
        id="berlin-24x7-skips-christmas",
    ),
    # --- Whole-day intervals on DST days ------------------------------------------
    pytest.param(
        # Sat 03-28 12:00 -> Sun 00:00 CET (Sat 23:00Z); Sunday 03-29 lasts 23 real hours
        # -> Mon 00:00 CEST = Sun 22:00Z
        BERLIN_SUNDAYS,
        berlin(2026, 3, 28, 12),
        23 * HOUR,
        utc(2026, 3, 29, 22),
        id="berlin-whole-sunday-spring-forward-is-23h",
    ),
    pytest.param(
        # Sat 10-24 12:00 -> Sun 00:00 CEST (Sat 22:00Z); Sunday 10-25 lasts 25 real hours
        # -> Mon 00:00 CET = Sun 23:00Z
        BERLIN_SUNDAYS,
        berlin(2026, 10, 24, 12),
        25 * HOUR,
        utc(2026, 10, 25, 23),
        id="berlin-whole-sunday-fall-back-is-25h",
    ),
    # --- Boundaries inside the DST gap --------------------------------------------
    pytest.param(
        # Sun 03-29 00:00: 02:30 does not exist, starts at 03:00 CEST (01:00Z) + 30m
        BERLIN_SMALL_HOURS,
        berlin(2026, 3, 29),
        30 * MINUTE,
        utc(2026, 3, 29, 1, 30),
        id="berlin-start-in-the-dst-gap-moves-after-it",
    ),
    # --- Overlapping intervals ----------------------------------------------------
    pytest.param(
        # Sun 03-01 21:00Z -> union Sun 22:00 to Mon 18:00 is 20 h -> Mon 18:00Z
        OVERLAPPING,
        utc(2026, 3, 1, 21),
        20 * HOUR,
        utc(2026, 3, 2, 18),
        id="overlapping-intervals-union",
    ),
    pytest.param(
        # ... one second more -> next Sun 03-08 22:00:01Z
        OVERLAPPING,
        utc(2026, 3, 1, 21),
        20 * HOUR + 1,
        utc(2026, 3, 8, 22, 0, 1),
        id="overlapping-intervals-one-second-more",
    ),
]


@pytest.mark.parametrize(("spec", "start", "seconds", "expected"), DEADLINES)
def test_add_business_seconds_matches_the_hand_computed_deadline(
    spec: CalendarSpec, start: datetime, seconds: int, expected: datetime
) -> None:
    deadline = add_business_seconds(spec, start, seconds)

    assert deadline == expected
    assert deadline.tzinfo is UTC


@pytest.mark.parametrize(("spec", "start", "seconds", "expected"), DEADLINES)
def test_business_seconds_to_the_hand_computed_deadline_is_the_span(
    spec: CalendarSpec, start: datetime, seconds: int, expected: datetime
) -> None:
    assert business_seconds(spec, start, expected) == seconds


SPANS = [
    pytest.param(
        # Mon-Fri 8h each
        BERLIN_OFFICE,
        berlin(2026, 3, 2),
        berlin(2026, 3, 9),
        5 * 8 * HOUR,
        id="berlin-office-week",
    ),
    pytest.param(
        # The DST Sunday does not touch 09-17
        BERLIN_OFFICE,
        berlin(2026, 3, 23),
        berlin(2026, 3, 30),
        5 * 8 * HOUR,
        id="berlin-office-dst-week",
    ),
    pytest.param(
        # 2026: 52 weeks + Thu 01-01 = 261 weekdays; DE holidays on weekdays: 01-01,
        # 04-03, 04-06, 05-01, 05-14, 05-25, 12-25 (10-03 and 12-26 are Saturdays) = 7;
        # listed Mon 06-15 = 1 -> 253 days x 8h = 2024 h
        BERLIN_OFFICE,
        berlin(2026, 1, 1),
        berlin(2027, 1, 1),
        2024 * HOUR,
        id="berlin-office-year",
    ),
    pytest.param(
        # 261 weekdays; US holidays on weekdays: 01-01, 01-19, 02-16, 05-25, 06-19, 07-03
        # (observed), 09-07, 10-12, 11-11, 11-26, 12-25 = 11 -> 250 x 8h = 2000 h
        NEW_YORK_OFFICE,
        new_york(2026, 1, 1),
        new_york(2027, 1, 1),
        2000 * HOUR,
        id="new-york-office-year",
    ),
    pytest.param(
        # Sat 22:00 CET -> Sun 06:00 CEST = 7 real hours
        BERLIN_NIGHTS,
        berlin(2026, 3, 28, 12),
        berlin(2026, 3, 29, 12),
        7 * HOUR,
        id="berlin-nights-spring-forward",
    ),
    pytest.param(
        # Sat 22:00 CEST -> Sun 06:00 CET = 9 real hours
        BERLIN_NIGHTS,
        berlin(2026, 10, 24, 12),
        berlin(2026, 10, 25, 12),
        9 * HOUR,
        id="berlin-nights-fall-back",
    ),
    pytest.param(
        # Thu night (into the holiday) 8h; Fri 05-01's night skipped
        BERLIN_NIGHTS,
        berlin(2026, 4, 30, 12),
        berlin(2026, 5, 2, 12),
        8 * HOUR,
        id="berlin-nights-holiday",
    ),
    pytest.param(
        BERLIN_SUNDAYS,
        berlin(2026, 3, 22),
        berlin(2026, 3, 23),
        24 * HOUR,
        id="berlin-whole-sunday-ordinary",
    ),
    pytest.param(
        BERLIN_SUNDAYS,
        berlin(2026, 3, 29),
        berlin(2026, 3, 30),
        23 * HOUR,
        id="berlin-whole-sunday-spring-forward",
    ),
    pytest.param(
        BERLIN_SUNDAYS,
        berlin(2026, 10, 25),
        berlin(2026, 10, 26),
        25 * HOUR,
        id="berlin-whole-sunday-fall-back",
    ),
    pytest.param(
        # A local day with the DST jump is 23 real hours, all of them counted
        BERLIN_24X7,
        berlin(2026, 3, 29),
        berlin(2026, 3, 30),
        23 * HOUR,
        id="berlin-24x7-spring-forward-day",
    ),
    pytest.param(
        # Mon 12-21 to Mon 12-28: 7 days minus Christmas 25th and 26th = 5 x 24h
        BERLIN_24X7_DE,
        berlin(2026, 12, 21),
        berlin(2026, 12, 28),
        5 * DAY,
        id="berlin-24x7-christmas-week",
    ),
    pytest.param(UTC_24X7, utc(2026, 3, 2), utc(2026, 3, 3), DAY, id="utc-24x7-day"),
    pytest.param(
        # Mon 00:00-18:00 (18h) + Sun 03-08 22:00-24:00 (2h); Sun 03-01 22-24 is before
        OVERLAPPING,
        utc(2026, 3, 2),
        utc(2026, 3, 9),
        20 * HOUR,
        id="overlapping-intervals-week",
    ),
    pytest.param(
        # Sun 01:30 EST -> 03:00 EST
        NEW_YORK_SMALL_HOURS,
        new_york(2026, 3, 1),
        new_york(2026, 3, 2),
        90 * MINUTE,
        id="new-york-small-hours-ordinary",
    ),
    pytest.param(
        # 01:30 EST (06:30Z) -> 03:00 EDT (07:00Z)
        NEW_YORK_SMALL_HOURS,
        new_york(2026, 3, 8),
        new_york(2026, 3, 9),
        30 * MINUTE,
        id="new-york-small-hours-spring-forward",
    ),
    pytest.param(
        # first 01:30 (EDT, 05:30Z) -> 03:00 EST (08:00Z)
        NEW_YORK_SMALL_HOURS,
        new_york(2026, 11, 1),
        new_york(2026, 11, 2),
        150 * MINUTE,
        id="new-york-small-hours-fall-back",
    ),
    pytest.param(
        # 02:30 in the gap -> 03:00 CEST (01:00Z) to 04:00 CEST (02:00Z)
        BERLIN_SMALL_HOURS,
        berlin(2026, 3, 29),
        berlin(2026, 3, 30),
        HOUR,
        id="berlin-small-hours-spring-forward",
    ),
    pytest.param(
        # first 02:30 (CEST, 00:30Z) -> 04:00 CET (03:00Z)
        BERLIN_SMALL_HOURS,
        berlin(2026, 10, 25),
        berlin(2026, 10, 26),
        150 * MINUTE,
        id="berlin-small-hours-fall-back",
    ),
    pytest.param(
        BERLIN_OFFICE,
        berlin(2026, 3, 3, 12),
        berlin(2026, 3, 3, 11),
        0,
        id="end-before-start",
    ),
    pytest.param(
        # The same instant written in two zones: 10:00 CET = 09:00Z; 09:00Z + 1h
        BERLIN_OFFICE,
        berlin(2026, 3, 3, 10),
        utc(2026, 3, 3, 10),
        HOUR,
        id="mixed-time-zones",
    ),
]


@pytest.mark.parametrize(("spec", "start", "end", "expected"), SPANS)
def test_business_seconds_matches_the_hand_computed_span(
    spec: CalendarSpec, start: datetime, end: datetime, expected: int
) -> None:
    assert business_seconds(spec, start, end) == expected


ROUND_TRIP_SPECS = [
    BERLIN_OFFICE,
    NEW_YORK_OFFICE,
    BERLIN_NIGHTS,
    NEW_YORK_NIGHTS,
    UTC_24X7,
    BERLIN_24X7_DE,
    BERLIN_SUNDAYS,
    OVERLAPPING,
    NEW_YORK_SMALL_HOURS,
]


@pytest.mark.parametrize(
    "spec", ROUND_TRIP_SPECS, ids=lambda s: f"{s.time_zone}-{len(s.intervals)}-intervals"
)
def test_business_seconds_undoes_add_business_seconds(spec: CalendarSpec) -> None:
    rng = random.Random(1)  # noqa: S311 - a reproducible sample, not a secret
    year_start = utc(2026, 1, 1)
    for _ in range(150):
        # Any second of 2026 (so inside and outside hours, DST days included), in a
        # random one of the three zones.
        start = (year_start + timedelta(seconds=rng.randrange(365 * DAY))).astimezone(
            rng.choice([UTC, BERLIN, NEW_YORK])
        )
        seconds = rng.choice([rng.randrange(1, 2 * HOUR), rng.randrange(1, 30 * 8 * HOUR)])

        deadline = add_business_seconds(spec, start, seconds)

        assert business_seconds(spec, start, deadline) == seconds, (start, seconds)
        # ... and it is the earliest such instant.
        assert business_seconds(spec, start, deadline - timedelta(seconds=1)) == seconds - 1


def test_zero_seconds_is_the_start_itself_even_outside_working_time() -> None:
    sunday = berlin(2026, 3, 15, 12)

    assert add_business_seconds(BERLIN_OFFICE, sunday, 0) == sunday


def test_sub_second_starts_keep_their_microseconds() -> None:
    # Mon 16:59:59.5 CET + 1 s -> 0.5 s Mon, 0.5 s Tue -> Tue 09:00:00.5 CET = 08:00:00.5Z
    start = berlin(2026, 3, 16, 16, 59, 59).replace(microsecond=500_000)

    deadline = add_business_seconds(BERLIN_OFFICE, start, 1)

    assert deadline == utc(2026, 3, 17, 8).replace(microsecond=500_000)


def test_a_calendar_without_working_time_raises_instead_of_looping() -> None:
    start = utc(2026, 1, 1)

    with pytest.raises(ValueError, match="no working time"):
        add_business_seconds(NO_WORKING_TIME, start, HOUR)
    with pytest.raises(ValueError, match="no working time"):
        next_working_instant(NO_WORKING_TIME, start)
    # Bounded questions just find nothing.
    assert business_seconds(NO_WORKING_TIME, start, utc(2027, 1, 1)) == 0
    assert list(working_periods(NO_WORKING_TIME, start, utc(2027, 1, 1))) == []
    assert not is_working_time(NO_WORKING_TIME, utc(2026, 1, 5, 10))


def test_naive_datetimes_and_negative_spans_are_refused() -> None:
    naive = datetime(2026, 3, 2, 10)  # noqa: DTZ001 - the point of the test

    with pytest.raises(ValueError, match="aware"):
        business_seconds(BERLIN_OFFICE, naive, utc(2026, 3, 3))
    with pytest.raises(ValueError, match="aware"):
        add_business_seconds(BERLIN_OFFICE, naive, HOUR)
    with pytest.raises(ValueError, match="negative"):
        add_business_seconds(BERLIN_OFFICE, utc(2026, 3, 2), -1)


@pytest.mark.parametrize(
    ("spec", "at", "expected"),
    [
        pytest.param(BERLIN_OFFICE, berlin(2026, 3, 16, 9), True, id="at-opening"),
        pytest.param(BERLIN_OFFICE, berlin(2026, 3, 16, 8, 59, 59), False, id="before"),
        pytest.param(BERLIN_OFFICE, berlin(2026, 3, 16, 16, 59, 59), True, id="last-second"),
        pytest.param(BERLIN_OFFICE, berlin(2026, 3, 16, 17), False, id="at-closing"),
        pytest.param(BERLIN_OFFICE, berlin(2026, 3, 14, 12), False, id="saturday"),
        pytest.param(BERLIN_OFFICE, berlin(2026, 12, 25, 12), False, id="christmas"),
        # 05:59 on the holiday belongs to Thursday's night; 23:00 to the holiday's own
        pytest.param(BERLIN_NIGHTS, berlin(2026, 5, 1, 5, 59), True, id="night-into-holiday"),
        pytest.param(BERLIN_NIGHTS, berlin(2026, 5, 1, 23), False, id="night-of-holiday"),
        pytest.param(UTC_24X7, utc(2026, 12, 25, 12), True, id="24x7"),
        pytest.param(BERLIN_24X7_DE, berlin(2026, 12, 25, 12), False, id="24x7-holiday"),
    ],
)
def test_is_working_time(spec: CalendarSpec, at: datetime, expected: bool) -> None:
    assert is_working_time(spec, at) is expected


@pytest.mark.parametrize(
    ("spec", "at", "expected"),
    [
        # Working already: itself, in UTC (Mon 10:00 CET = 09:00Z)
        pytest.param(BERLIN_OFFICE, berlin(2026, 3, 16, 10), utc(2026, 3, 16, 9), id="working"),
        # Fri 17:00 CET -> Mon 09:00 CEST = 07:00Z
        pytest.param(
            BERLIN_OFFICE, berlin(2026, 3, 27, 17), utc(2026, 3, 30, 7), id="after-closing"
        ),
        # Wed 11-25 18:00 EST -> Thanksgiving -> Fri 09:00 EST = 14:00Z
        pytest.param(
            NEW_YORK_OFFICE, new_york(2026, 11, 25, 18), utc(2026, 11, 27, 14), id="holiday"
        ),
        # Christmas Day 12:00 CET -> Sun 12-27 00:00 CET = 12-26 23:00Z
        pytest.param(
            BERLIN_24X7_DE, berlin(2026, 12, 25, 12), utc(2026, 12, 26, 23), id="24x7-holiday"
        ),
    ],
)
def test_next_working_instant(spec: CalendarSpec, at: datetime, expected: datetime) -> None:
    assert next_working_instant(spec, at) == expected


@pytest.mark.parametrize(
    ("spec", "start", "end", "expected"),
    [
        pytest.param(
            # Fri 12:00-17:00 CET = 11:00-16:00Z; Mon 09:00-17:00 CEST = 07:00-15:00Z
            BERLIN_OFFICE,
            berlin(2026, 3, 27, 12),
            berlin(2026, 3, 31),
            [
                (utc(2026, 3, 27, 11), utc(2026, 3, 27, 16)),
                (utc(2026, 3, 30, 7), utc(2026, 3, 30, 15)),
            ],
            id="clipped-across-dst",
        ),
        pytest.param(
            # Up to Christmas Eve midnight (23:00Z), then from Sun 27 00:00 CET (26th
            # 23:00Z) on, one piece across the local midnights
            BERLIN_24X7_DE,
            berlin(2026, 12, 24, 12),
            berlin(2026, 12, 28, 12),
            [
                (utc(2026, 12, 24, 11), utc(2026, 12, 24, 23)),
                (utc(2026, 12, 26, 23), utc(2026, 12, 28, 11)),
            ],
            id="24x7-around-holidays",
        ),
        pytest.param(
            OVERLAPPING,
            utc(2026, 3, 1),
            utc(2026, 3, 3),
            [(utc(2026, 3, 1, 22), utc(2026, 3, 2, 18))],
            id="overlaps-merged",
        ),
        pytest.param(
            UTC_24X7,
            berlin(2026, 3, 1),
            berlin(2026, 3, 2),
            [(utc(2026, 2, 28, 23), utc(2026, 3, 1, 23))],
            id="24x7",
        ),
        pytest.param(BERLIN_OFFICE, utc(2026, 3, 3), utc(2026, 3, 2), [], id="empty-range"),
    ],
)
def test_working_periods(
    spec: CalendarSpec,
    start: datetime,
    end: datetime,
    expected: list[tuple[datetime, datetime]],
) -> None:
    assert list(working_periods(spec, start, end)) == expected


def test_spec_is_24x7_without_intervals_and_normalises_its_intervals() -> None:
    monday = (0, time(9), time(17))
    tuesday = (1, time(9), time(17))

    assert UTC_24X7.is_24x7
    assert BERLIN_24X7_DE.is_24x7
    assert not BERLIN_OFFICE.is_24x7
    # Equal calendars give equal, hashable specs whatever the order of their rows.
    assert CalendarSpec(intervals=(tuesday, monday)) == CalendarSpec(intervals=(monday, tuesday))
    assert (
        len({CalendarSpec(intervals=(tuesday, monday)), CalendarSpec(intervals=(monday, tuesday))})
        == 1
    )


def test_spec_refuses_unknown_time_zones_and_weekdays() -> None:
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        CalendarSpec(time_zone="Europe/Atlantis")
    with pytest.raises(ValueError, match="weekday"):
        CalendarSpec(intervals=((7, time(9), time(17)),))


@pytest.mark.django_db
def test_calendar_spec_loads_the_calendar_once_per_update(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    calendar = BusinessCalendarFactory(
        name="Berlin office",
        time_zone="Europe/Berlin",
        holiday_country="DE",
        intervals=office_hours(MON_FRI, time(9), time(17)),
        holidays=[(date(2026, 6, 15), "Offsite")],
    )

    with django_assert_num_queries(2):
        spec = calendar_spec(calendar)
    with django_assert_num_queries(0):
        assert calendar_spec(calendar) is spec

    assert spec == BERLIN_OFFICE
    assert CalendarSpec.from_model(None) == UTC_24X7
    assert calendar_spec(None).is_24x7

    WorkingIntervalFactory(calendar=calendar, weekday=5, start=time(10), end=time(12))
    calendar.refresh_from_db()  # the new interval bumped ``updated``

    with django_assert_num_queries(2):
        changed = calendar_spec(calendar)
    assert (5, time(10), time(12)) in changed.intervals
