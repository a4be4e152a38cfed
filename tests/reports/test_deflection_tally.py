"""The deflection tally (DeflectionDayTally, kept by the triggers of migration reports
0014) always equals counting the deflected attempts by desk day with the portal's own
definition (``portal.selectors.deflected_attempts``), whatever is written: attempts
opened, filed from, moved and deleted, tickets created, moved, merged, reopened and
deleted (the attempt filed from a deleted ticket emptied by ON DELETE SET NULL), in
bulk or one by one; compacted and rebuilt. The Self-service report read from it equals
the report counted from the attempts, including the days whose windows still run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from nixflow.models import Ticket, User
from nixflow.services.merge import ticket_merge
from portal.models import DeflectionAttempt
from portal.selectors import deflected_attempts
from reports.models import DeflectionDayTally, TallyZone
from reports.selectors import report_build
from reports.services import tally_compact, tally_rebuild
from tests.factories import AgentFactory, RequesterFactory, TicketFactory
from tests.reports.support import BERLIN, SPRING, at, desk_day, report_filters

pytestmark = pytest.mark.django_db

EVER = datetime(2000, 1, 1, tzinfo=UTC)
LATER = datetime(2100, 1, 1, tzinfo=UTC)


def tallied() -> Counter:
    counts: Counter = Counter()
    for row in DeflectionDayTally.objects.all():
        counts[row.day] += row.deflected
    return +counts


def counted() -> Counter:
    """Deflected attempts per desk day of their first opening, every window over."""
    attempts = deflected_attempts(since=EVER, until=LATER, now=LATER)
    return +Counter(desk_day(a.first_opened_at) for a in attempts)


def attempt(requester: User, started: datetime, opened: datetime | None, **fields: Any) -> Any:
    return DeflectionAttempt.objects.create(
        requester=requester, subject="Printer", created=started, first_opened_at=opened, **fields
    )


def ticket(requester: User, created: datetime) -> Ticket:
    return cast(Ticket, TicketFactory(requester=requester, created=created))


def test_the_tally_equals_the_attempts_through_every_kind_of_write(berlin: object) -> None:
    alice, bob, carol = (cast(User, RequesterFactory()) for _ in range(3))
    eve = SPRING - timedelta(days=1)
    # Alice: deflected late on the 28th (22:40 UTC is still the 28th in Berlin), and on
    # the 29th. Bob: deflected, then a ticket within the window takes it out. Carol:
    # filed from the page, and one never opened.
    late = attempt(alice, at(eve, 23, 30), at(eve, 23, 40))
    attempt(alice, at(SPRING, 9), at(SPRING, 9, 1))
    bobs = attempt(bob, at(SPRING, 10), at(SPRING, 10, 2))
    filed = ticket(carol, at(SPRING, 11, 5))
    from_page = attempt(carol, at(SPRING, 11), at(SPRING, 11, 1), ticket=filed)
    attempt(carol, at(SPRING, 12), None)
    assert tallied() == counted() == Counter({eve: 1, SPRING: 2})
    bobs_ticket = ticket(bob, at(SPRING, 10, 20))  # 18 minutes after the opening
    assert tallied() == counted() == Counter({eve: 1, SPRING: 1})
    ticket(alice, at(SPRING, 9, 45))  # 44 minutes after: outside the window
    assert tallied() == counted()
    # The ticket moves: to another requester (Bob's attempt deflected again, Alice's
    # taken out), then later than the window (Alice's back).
    Ticket.objects.filter(pk=bobs_ticket.pk).update(requester=alice, created=at(SPRING, 9, 10))
    assert tallied() == counted() == Counter({eve: 1, SPRING: 1})
    Ticket.objects.filter(pk=bobs_ticket.pk).update(created=at(SPRING, 15))
    assert tallied() == counted() == Counter({eve: 1, SPRING: 2})
    # Attempts change: opened on another day, filed from the page, a late opening.
    DeflectionAttempt.objects.filter(pk=late.pk).update(first_opened_at=at(SPRING, 0, 5))
    DeflectionAttempt.objects.filter(pk=bobs.pk).update(ticket=filed)
    assert tallied() == counted() == Counter({SPRING: 2})
    # Several tickets and attempts in one statement each, one ticket filing two.
    DeflectionAttempt.objects.bulk_create(
        [
            DeflectionAttempt(
                requester=bob, subject=f"VPN {n}", created=at(SPRING, 20, n),
                first_opened_at=at(SPRING, 20, n + 1),
            )
            for n in range(3)
        ]
    )  # fmt: skip
    Ticket.objects.bulk_create(
        [
            Ticket(
                workflow=filed.workflow, stage=filed.stage, requester=bob, title="VPN",
                created=at(SPRING, 20, 10),
            ),
            Ticket(
                workflow=filed.workflow, stage=filed.stage, requester=bob, title="VPN again",
                created=at(SPRING, 20, 12),
            ),
        ]
    )  # fmt: skip
    assert tallied() == counted() == Counter({SPRING: 2})
    # Deleting: the ticket filed from the page (its attempts' `ticket` emptied by the
    # cascade: deflected now, both), then Bob's two VPN tickets in one statement.
    filed.delete()
    assert tallied() == counted() == Counter({SPRING: 4})
    Ticket.objects.filter(requester=bob, title__startswith="VPN").delete()
    assert tallied() == counted() == Counter({SPRING: 7})
    from_page.refresh_from_db()
    assert from_page.ticket_id is None
    DeflectionAttempt.objects.filter(requester=bob).delete()  # Alice's two, Carol's
    assert tallied() == counted() == Counter({SPRING: 3})


def test_merges_and_reopenings_leave_the_count_alone(berlin: object) -> None:
    alice = cast(User, RequesterFactory())
    attempt(alice, at(SPRING, 9), at(SPRING, 9, 1))
    attempt(alice, at(SPRING, 14), at(SPRING, 14, 1))
    source, target = ticket(alice, at(SPRING, 9, 10)), ticket(alice, at(SPRING, 18))
    assert tallied() == counted() == Counter({SPRING: 1})
    ticket_merge(sources=[source], target=target, actor=cast(User, AgentFactory()))
    assert tallied() == counted() == Counter({SPRING: 1})
    Ticket.objects.filter(pk=target.pk).update(resolved_at=at(SPRING, 19))
    Ticket.objects.filter(pk=target.pk).update(resolved_at=None)
    assert tallied() == counted() == Counter({SPRING: 1})


def test_compact_and_rebuild_count_the_same_and_follow_the_window(
    berlin: object, settings: Settings
) -> None:
    alice, bob = cast(User, RequesterFactory()), cast(User, RequesterFactory())
    for hour in (8, 9, 10):
        attempt(alice, at(SPRING, hour), at(SPRING, hour, 1))
    attempt(bob, at(SPRING, 9), at(SPRING, 9, 1))
    ticket(bob, at(SPRING, 9, 50))  # 49 minutes after the opening
    ticket(alice, at(SPRING, 10, 20))
    before, rows = tallied(), DeflectionDayTally.objects.count()
    assert before == counted() == Counter({SPRING: 3})
    assert tally_compact().folded > 0
    assert DeflectionDayTally.objects.count() < rows
    assert tallied() == before
    settings.PORTAL_DEFLECTION_WINDOW_MINUTES = 60  # Bob's ticket now follows in time
    tally_rebuild(zone=BERLIN)
    assert TallyZone.objects.get().deflection_window == 60
    assert tallied() == counted() == Counter({SPRING: 2})


def _deflected(params: dict[str, str]) -> Any:
    report = report_build(name="selfservice", filters=report_filters(**params))
    return {f.key: f.value for f in report.figures}["deflected"]


def test_selfservice_from_the_tally_equals_the_count_from_the_attempts(
    berlin: object, settings: Settings
) -> None:
    alice, bob = cast(User, RequesterFactory()), cast(User, RequesterFactory())
    now = timezone.now()
    today = desk_day(now)
    # Over the last days, and minutes ago (its window still runs: not counted yet).
    for days in (0, 1, 2, 5):
        started = now - timedelta(days=days, minutes=50)
        attempt(alice, started, started + timedelta(minutes=1))
    attempt(bob, now - timedelta(minutes=10), now - timedelta(minutes=9))
    attempt(bob, now - timedelta(days=3), now - timedelta(days=3) + timedelta(minutes=1))
    ticket(bob, now - timedelta(days=3) + timedelta(minutes=5))
    ranges: list[dict[str, str]] = [
        {"range": "7"},
        {"from": str(today), "to": str(today)},
        {"from": str(today - timedelta(days=6)), "to": str(today - timedelta(days=1))},
    ]
    from_tally = [_deflected(p) for p in ranges]
    settings.PORTAL_DEFLECTION_WINDOW_MINUTES = 31  # the tally no longer answers
    from_rows_31 = [_deflected(p) for p in ranges]
    settings.PORTAL_DEFLECTION_WINDOW_MINUTES = 30
    TallyZone.objects.update(time_zone="UTC")
    from_rows = [_deflected(p) for p in ranges]
    assert from_tally == from_rows == from_rows_31
    assert from_tally[0] == 4  # Alice's four; Bob's filed one and his running one not
    assert from_tally[1] + from_tally[2] == 4
