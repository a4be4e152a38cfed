"""The reports' daily tally (TicketDayTally, kept by triggers of migration reports 0002)
always equals counting the tickets and their history, whoever writes them and however,
compacted or not; and the volume figures read from it equal those counted directly."""

from __future__ import annotations

import io
import zoneinfo
from collections import Counter
from datetime import timedelta
from typing import cast

import pytest
from django.core.management import call_command

from nixflow import services
from nixflow.models import HistoryLog, Priority, Source, Stage, Team, Ticket, User
from reports.figures.volume import (
    KEYS,
    direct_counts,
    tally_counts,
    tally_grouped,
    tally_usable,
)
from reports.models import TallyZone, TicketDayTally
from reports.services import tally_compact, tally_rebuild
from tests.factories import AgentFactory, TeamFactory, default_workflow
from tests.helpers import new_ticket
from tests.reports.support import AUTUMN, BERLIN, SPRING, at, reopen, report_filters, ticket_at

pytestmark = pytest.mark.django_db


def tallied() -> Counter:
    """Net (day, workflow, team, channel, priority, kind) counts according to the tally."""
    counts: Counter = Counter()
    for row in TicketDayTally.objects.all():
        key = (row.day, row.workflow_id, row.team_id, row.source, row.priority)
        for kind in ("created", "resolved", "reopened", "opened"):
            counts[(*key, kind)] += getattr(row, kind)
    return +counts  # drops the zeros


def counted() -> Counter:
    """The same counts from the rows, days cut in the tally's zone (Berlin)."""
    counts: Counter = Counter()
    for ticket in Ticket.objects.all():
        key = (ticket.workflow_id, ticket.team_id, ticket.source, ticket.priority)
        created = ticket.created.astimezone(BERLIN).date()
        counts[(created, *key, "created")] += 1
        counts[(created, *key, "opened")] += 1
        if ticket.resolved_at is not None:
            resolved = ticket.resolved_at.astimezone(BERLIN).date()
            counts[(resolved, *key, "resolved")] += 1
            counts[(resolved, *key, "opened")] -= 1
    for row in HistoryLog.objects.filter(field="resolved_at", new_value="").exclude(old_value=""):
        ticket = row.ticket
        key = (ticket.workflow_id, ticket.team_id, ticket.source, ticket.priority)
        counts[(row.created.astimezone(BERLIN).date(), *key, "reopened")] += 1
    return +counts


def test_tally_equals_the_rows_through_every_kind_of_write(berlin: object) -> None:
    team, other_team = TeamFactory(), TeamFactory()
    agent = cast(User, AgentFactory())
    # Plain inserts around both daylight-saving changes.
    a = ticket_at(at(SPRING, 1, 30), at(SPRING, 3, 30), source=Source.EMAIL)
    b = ticket_at(at(AUTUMN, 23, 59), None, team=team, priority=Priority.HIGH)
    c = ticket_at(at(AUTUMN, 0, 0), at(AUTUMN + timedelta(days=1), 0, 0))
    assert tallied() == counted()
    # Changes of each counted column, in place and in bulk.
    Ticket.objects.filter(pk=b.pk).update(team=other_team, source=Source.API)
    Ticket.objects.filter(pk=a.pk).update(created=at(SPRING, 0, 59))
    Ticket.objects.filter(pk=c.pk).update(resolved_at=None)
    reopen(c, at(AUTUMN, 12))
    reopen(a, at(SPRING, 23, 59))
    assert tallied() == counted()
    # A reopen follows its ticket into another team; a backdated history row moves day.
    Ticket.objects.filter(pk=a.pk).update(team=team)
    HistoryLog.objects.filter(ticket=c, field="resolved_at").update(created=at(SPRING, 12))
    assert tallied() == counted()
    # Through the services: created, resolved, reopened (history written by them).
    ticket = new_ticket(b.requester)
    stages = {s.name: s for s in Stage.objects.filter(workflow=default_workflow())}
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)
    assert tallied() == counted()
    assert sum(v for k, v in tallied().items() if k[-1] == "reopened") == 3
    # Deleting tickets takes their counts and their reopens along.
    Ticket.objects.filter(pk__in=[a.pk, ticket.pk]).delete()
    assert tallied() == counted()


def test_compaction_and_rebuild_keep_every_figure(berlin: object) -> None:
    team = TeamFactory()
    tickets = [ticket_at(at(SPRING, hour), at(AUTUMN, hour)) for hour in range(0, 24, 3)]
    for ticket in tickets[:4]:
        Ticket.objects.filter(pk=ticket.pk).update(team=team)
    reopen(tickets[0], at(AUTUMN, 20))
    before = tallied()
    rows = TicketDayTally.objects.count()
    result = tally_compact()
    assert result.folded > 0
    assert TicketDayTally.objects.count() < rows
    assert tallied() == before == counted()
    assert tally_compact().folded == 0  # nothing left to fold
    tally_rebuild(zone=BERLIN)
    assert tallied() == before


def test_figures_from_the_tally_equal_the_direct_counts(berlin: object) -> None:
    team = cast(Team, TeamFactory())
    for day in (SPRING, AUTUMN):
        for hour in (0, 1, 2, 3, 23):
            ticket_at(at(day, hour), at(day, hour) + timedelta(hours=5), team=team)
            ticket_at(at(day, hour, 30), None, source=Source.FORM)
    reopen(Ticket.objects.earliest("id"), at(AUTUMN, 2, 30))
    for params in (
        {"from": "2026-03-01", "to": "2026-11-30"},
        {"from": "2026-03-29", "to": "2026-03-29", "channel": "FORM"},
        {"from": "2026-10-25", "to": "2026-10-26", "team": team.pk},
    ):
        filters = report_filters(**params)
        assert tally_usable(filters)
        together = tally_grouped(filters, KEYS)  # one pass, as the report reads them
        for key in KEYS:
            from_tally = {k: v for k, v in tally_counts(filters, key).items() if any(v.values())}
            assert from_tally == direct_counts(filters, key), (params, key)
            assert {k: v for k, v in together[key].items() if any(v.values())} == from_tally


def test_the_tally_is_not_used_when_cut_in_another_zone(berlin: object, settings: object) -> None:
    tally_rebuild(zone=BERLIN)
    assert tally_usable(report_filters(range="7"))
    TallyZone.objects.update(time_zone="UTC")
    assert not tally_usable(report_filters(range="7"))
    tally_rebuild()  # the reports' zone again
    assert TallyZone.objects.get().time_zone == "Europe/Berlin"


def test_rebuild_command_recounts_in_the_reports_zone(berlin: object) -> None:
    ticket_at(at(SPRING, 0, 30))  # 22:30 UTC the day before
    tally_rebuild(zone=zoneinfo.ZoneInfo("UTC"))
    assert TicketDayTally.objects.get().day == SPRING - timedelta(days=1)
    call_command("reports_tally_rebuild", stdout=io.StringIO())
    assert TicketDayTally.objects.get().day == SPRING
