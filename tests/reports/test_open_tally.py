"""The open-ticket tally (OpenDayTally, kept by the triggers of migration reports 0016)
always equals counting the open tickets by stage and desk day of creation, through
every kind of write, compaction and rebuild; and the Backlog report's open tickets by
stage and age read from it equal those counted from the rows, at the age bounds too."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, timedelta
from typing import Any, cast

import pytest
import time_machine

from nixflow import services
from nixflow.models import Stage, Ticket, User
from nixflow.services.merge import ticket_merge
from reports.models import OpenDayTally, TallyZone
from reports.selectors import report_build
from reports.services import tally_compact, tally_rebuild
from tests.factories import AgentFactory, default_workflow
from tests.helpers import new_ticket
from tests.reports.support import AUTUMN, BERLIN, SPRING, at, desk_day, report_filters, ticket_at

pytestmark = pytest.mark.django_db


def tallied() -> Counter:
    counts: Counter = Counter()
    for row in OpenDayTally.objects.all():
        counts[(row.day, row.stage_id)] += row.open
    return +counts


def counted() -> Counter:
    return +Counter(
        (desk_day(t.created), t.stage_id) for t in Ticket.objects.filter(resolved_at__isnull=True)
    )


def stages() -> dict[str, Stage]:
    return {s.name: s for s in Stage.objects.filter(workflow=default_workflow())}


def test_the_tally_equals_the_open_tickets_through_every_kind_of_write(berlin: object) -> None:
    stage = stages()
    agent = cast(User, AgentFactory())
    # Around both daylight-saving changes: 00:30 in Berlin is the day before in UTC.
    a = ticket_at(at(SPRING, 0, 30), None, stage=stage["Open"])
    b = ticket_at(at(AUTUMN, 23, 59), None, stage=stage["New"])
    c = ticket_at(at(AUTUMN, 2, 30), at(AUTUMN, 5), stage=stage["Resolved"])
    assert tallied() == counted()
    assert sum(tallied().values()) == 2
    # Stage, creation and openness changed in bulk; a change of another column is none.
    Ticket.objects.filter(pk=b.pk).update(stage=stage["Open"], created=at(AUTUMN, 0, 5))
    Ticket.objects.filter(pk=c.pk).update(resolved_at=None, stage=stage["Open"])
    Ticket.objects.filter(pk=a.pk).update(resolved_at=at(SPRING, 9), stage=stage["Resolved"])
    Ticket.objects.update(title="Renamed")
    assert tallied() == counted()
    # Through the services: created, resolved, reopened; merged (the source is closed).
    ticket = new_ticket(b.requester)
    services.ticket_transition(ticket=ticket, to_stage=stage["Resolved"], actor=agent)
    services.ticket_transition(ticket=ticket, to_stage=stage["Open"], actor=agent)
    assert tallied() == counted()
    source = new_ticket(b.requester)
    ticket_merge(sources=[source], target=ticket, actor=agent)
    assert tallied() == counted()
    # Deleting open and resolved tickets together.
    Ticket.objects.filter(pk__in=[a.pk, b.pk, ticket.pk]).delete()
    assert tallied() == counted()


def test_compaction_and_rebuild_keep_the_counts(berlin: object) -> None:
    stage = stages()
    for hour in range(0, 24, 3):
        ticket_at(at(SPRING, hour), None, stage=stage["Open"])
    Ticket.objects.update(stage=stage["New"])
    before, rows = tallied(), OpenDayTally.objects.count()
    assert tally_compact().folded > 0
    assert OpenDayTally.objects.count() < rows
    assert tallied() == before == counted()
    tally_rebuild(zone=BERLIN)
    assert tallied() == before


NOW = at(AUTUMN + timedelta(days=2), 1, 30)  # Tuesday 27 October 2026, 01:30 in Berlin
H, D, M = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)


def _by_stage(params: dict[str, Any]) -> tuple[Any, Any]:
    report = report_build(name="backlog", filters=report_filters(**params))
    return [(f.key, f.value) for f in report.figures], report.table("by_stage").rows


@time_machine.travel(NOW, tick=False)
def test_open_by_stage_from_the_tally_equals_the_rows(berlin: object) -> None:
    stage = stages()
    # Either side of each age bound (1, 3, 7 and 30 days, the last across the change
    # of summer time), on the bound itself, in the future, and long ago.
    ages = [-H, M, D - M, D, D + M, 3 * D - M, 3 * D, 3 * D + M, 7 * D, 7 * D + M]
    ages += [30 * D - M, 30 * D, 30 * D + M, 200 * D]
    now = NOW.astimezone(UTC)  # durations, not Berlin wall-clock arithmetic
    for n, age in enumerate(ages):
        ticket_at(now - age, None, stage=stage["Open" if n % 3 else "New"])
    ticket_at(now - 2 * D, now - D, stage=stage["Resolved"])
    for params in ({"range": "30"}, {"range": "7"}):
        from_tally = _by_stage(params)
        TallyZone.objects.update(time_zone="UTC")  # the tally no longer answers
        from_rows = _by_stage(params)
        TallyZone.objects.update(time_zone="Europe/Berlin")
        assert from_tally == from_rows, params
    figures = dict(from_tally[0])
    assert figures["open"] == len(ages)
    # < 1 d: -1 h, 1 min, 1 d - 1 min; 1-3: 1 d, 1 d + 1 min, 3 d - 1 min; 3-7: 3 d,
    # 3 d + 1 min; 7-30: 7 d, 7 d + 1 min, 30 d - 1 min; > 30 d: 30 d, 30 d + 1 min, 200 d.
    buckets = ("under_1d", "d1_3", "d3_7", "d7_30", "over_30d")
    assert [figures[k] for k in buckets] == [3, 3, 2, 3, 3]
    # A ticket filter counts the rows, to the same figures.
    workflow = default_workflow().pk
    assert _by_stage({"range": "30", "workflow": workflow})[1] == from_tally[1]
