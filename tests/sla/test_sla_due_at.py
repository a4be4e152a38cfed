"""Ticket.sla_due_at, the earliest deadline among the ticket's ticking clocks: kept by
sla.clocks in the ticket's transaction through every clock change, and filled for
older clocks by the post-deploy migration sla 0005."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection

from nixflow import services
from nixflow.models import Priority, Stage, Ticket, User
from sla import clocks
from sla import services as sla_services
from sla.models import SLAPolicy, SLAStatus
from tests.sla.conftest import T0, open_ticket

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
backfill_migration = importlib.import_module("sla.migrations.0005_backfill_ticket_sla_due")


def due(ticket: Ticket) -> datetime | None:
    return Ticket.objects.values_list("sla_due_at", flat=True).get(pk=ticket.pk)


def test_a_new_ticket_is_due_at_its_first_response_deadline(
    policy: SLAPolicy, requester: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    # First response (60 min) comes before resolution (480 min).
    assert due(ticket) == ticket.sla_due_at == T0 + 60 * M


def test_a_ticket_without_a_policy_has_no_due_time(requester: User) -> None:
    assert due(open_ticket(requester)) is None


def test_the_first_response_moves_it_to_the_resolution_deadline(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    services.comment_create(ticket=ticket, author=agent, body="On it")
    assert due(ticket) == T0 + 480 * M


def test_a_requester_reply_brings_the_next_response_deadline_forward(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    services.comment_create(ticket=ticket, author=agent, body="What model?")
    clock.shift(60)
    services.comment_create(ticket=ticket, author=requester, body="X200")
    assert due(ticket) == T0 + 31 * M  # next response: 30 minutes from the reply
    services.comment_create(ticket=ticket, author=agent, body="Replacing it")
    assert due(ticket) == T0 + 480 * M


def test_waiting_empties_it_and_leaving_waiting_sets_the_recomputed_deadline(
    policy: SLAPolicy,
    requester: User,
    agent: User,
    stages: dict[str, Stage],
    clock: time_machine.Coordinates,
) -> None:
    ticket = open_ticket(requester)
    clock.shift(20 * 60)
    services.ticket_transition(ticket=ticket, to_stage=stages["Waiting on requester"], actor=agent)
    assert due(ticket) is None

    clock.shift(100 * 60)
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)
    assert due(ticket) == T0 + 160 * M  # 40 of 60 minutes left from T0+120m


def test_a_priority_change_retargets_it_and_a_priority_without_targets_empties_it(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    clock.shift(10 * 60)
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.HIGH})
    assert due(ticket) == T0 + 15 * M

    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.LOW})
    assert due(ticket) is None


def test_resolving_empties_it_and_reopening_sets_the_resolution_deadline(
    policy: SLAPolicy,
    requester: User,
    agent: User,
    stages: dict[str, Stage],
    clock: time_machine.Coordinates,
) -> None:
    ticket = open_ticket(requester)
    services.comment_create(ticket=ticket, author=agent, body="On it")
    clock.shift(100 * 60)
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    assert due(ticket) is None

    clock.shift(600 * 60)
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=requester)
    assert due(ticket) == T0 + 700 * M + 380 * M


def test_a_breached_clock_that_still_counts_keeps_the_ticket_overdue_until_completed(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    clock.shift(61 * 60)
    assert sla_services.sla_scan().breached == 1
    # The monitor marks the clock breached and leaves the ticket alone: still most urgent.
    assert ticket.sla_metrics.filter(status=SLAStatus.BREACHED).count() == 1
    assert due(ticket) == T0 + 60 * M

    services.comment_create(ticket=ticket, author=agent, body="Sorry for the wait")
    assert due(ticket) == T0 + 480 * M


def test_keeping_it_unchanged_writes_no_new_row_version(
    policy: SLAPolicy, requester: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)

    def row_version() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT ctid::text FROM nixflow_ticket WHERE id = %s", [ticket.pk])
            return str(cursor.fetchone()[0])

    before = row_version()
    clocks.keep_due(ticket)
    assert row_version() == before
    assert due(ticket) == T0 + 60 * M


def test_the_backfill_sets_and_clears_it_from_the_clocks(
    policy: SLAPolicy,
    requester: User,
    agent: User,
    stages: dict[str, Stage],
    clock: time_machine.Coordinates,
) -> None:
    running = open_ticket(requester)
    waiting = open_ticket(requester)
    services.ticket_transition(ticket=waiting, to_stage=stages["Waiting on requester"], actor=agent)
    clock.shift(61 * 60)
    breached = open_ticket(requester)  # opened later: first response due at T0+121m
    sla_services.sla_scan()  # `running` breached, still counting
    # As an older release left them: nothing, or a value no clock has.
    Ticket.objects.filter(pk__in=[running.pk, breached.pk]).update(sla_due_at=None)
    Ticket.objects.filter(pk=waiting.pk).update(sla_due_at=T0)

    backfill_migration.backfill(None, SimpleNamespace(connection=connection))

    assert (due(running), due(breached), due(waiting)) == (T0 + 60 * M, T0 + 121 * M, None)
