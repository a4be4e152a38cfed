"""The attempt tally (AttemptDayTally, kept by the triggers of migration reports 0021)
always equals counting the portal's attempts by the desk day they started, whatever is
written (one by one, in bulk, moved to another day, deleted, truncated), compacted and
rebuilt; the Self-service report's "requests started with suggestions" read from it
equals the count from the attempts."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any, cast

import pytest
from django.db import connection
from django.utils import timezone

from nixflow.models import User
from portal.models import DeflectionAttempt
from reports.models import AttemptDayTally, TallyZone
from reports.selectors import report_build
from reports.services import tally_compact, tally_rebuild
from tests.factories import RequesterFactory
from tests.reports.support import AUTUMN, BERLIN, SPRING, at, desk_day, report_filters

pytestmark = pytest.mark.django_db


def tallied() -> Counter:
    counts: Counter = Counter()
    for row in AttemptDayTally.objects.all():
        counts[row.day] += row.attempts
    return +counts


def counted() -> Counter:
    return +Counter(desk_day(a.created) for a in DeflectionAttempt.objects.all())


def attempt(requester: User, started: Any) -> DeflectionAttempt:
    return DeflectionAttempt.objects.create(requester=requester, subject="VPN", created=started)


def test_the_tally_equals_the_attempts_through_every_kind_of_write(berlin: object) -> None:
    alice = cast(User, RequesterFactory())
    eve = SPRING - timedelta(days=1)
    late = attempt(alice, at(eve, 23, 30))  # 21:30 UTC: still the 28th in Berlin
    attempt(alice, at(SPRING, 1, 59))  # the night the clocks go forward
    attempt(alice, at(AUTUMN, 2, 30))  # and the night they go back
    assert tallied() == counted() == Counter({eve: 1, SPRING: 1, AUTUMN: 1})
    DeflectionAttempt.objects.bulk_create(
        [
            DeflectionAttempt(requester=alice, subject=f"n{n}", created=at(SPRING, n))
            for n in (3, 23)
        ]
    )
    assert tallied() == counted() == Counter({eve: 1, SPRING: 3, AUTUMN: 1})
    # Moved to another day; changed without moving (no count changes); deleted.
    DeflectionAttempt.objects.filter(pk=late.pk).update(created=at(AUTUMN, 12))
    DeflectionAttempt.objects.update(subject="Printer")
    assert tallied() == counted() == Counter({SPRING: 3, AUTUMN: 2})
    DeflectionAttempt.objects.filter(created__gte=at(AUTUMN, 0)).delete()
    assert tallied() == counted() == Counter({SPRING: 3})
    rows = AttemptDayTally.objects.count()
    assert tally_compact().folded > 0
    assert AttemptDayTally.objects.count() < rows
    assert tallied() == counted()
    tally_rebuild(zone=BERLIN)
    assert tallied() == counted()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire the pending FK checks
        cursor.execute("TRUNCATE portal_deflectionattempt")
    assert tallied() == counted() == Counter()


def attempts_figure(params: dict[str, str]) -> Any:
    report = report_build(name="selfservice", filters=report_filters(**params))
    return {f.key: f.value for f in report.figures}["attempts"]


def test_selfservice_attempts_from_the_tally_equal_the_count(berlin: object) -> None:
    alice = cast(User, RequesterFactory())
    now = timezone.now()
    today = desk_day(now)
    for days in (0, 1, 2, 5, 9):
        attempt(alice, now - timedelta(days=days, minutes=5))
    ranges: list[dict[str, str]] = [
        {"range": "7"},
        {"from": str(today), "to": str(today)},
        {"from": str(today - timedelta(days=6)), "to": str(today - timedelta(days=1))},
    ]
    with_tally = [attempts_figure(p) for p in ranges]
    TallyZone.objects.update(time_zone="UTC")  # the tally no longer answers
    from_rows = [attempts_figure(p) for p in ranges]
    TallyZone.objects.update(time_zone="Europe/Berlin")
    assert with_tally == from_rows
    assert with_tally[0] == 4
    assert with_tally[1] + with_tally[2] == 4
