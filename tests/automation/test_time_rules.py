"""Time rules: the periodic scan that acts on tickets once their rule's time has passed.

The office calendar is Mon-Fri 09:00-17:00 in Berlin (CET, UTC+1, in December);
2026-12-04 and 2026-12-11 are Fridays. Expected instants are worked out by hand in the
comments.
"""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings

from automation import tasks, time_rules
from automation.actions import automation_user
from automation.events import RULE_APPLIED, RULE_FAILED
from automation.models import Rule, RuleFiring, TimeBasis, TimeUnit, Trigger
from eventlog import outbox
from eventlog.models import EventLog
from eventlog.subscribers import deliver
from nixflow import services
from nixflow.models import Priority, Stage, Ticket, User
from sla.calendar import CalendarSpec
from sla.models import BusinessCalendar
from tests.automation.conftest import MakeRule, events_of
from tests.helpers import new_ticket
from tests.sla.factories import BusinessCalendarFactory, office_hours

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
REMIND = [{"type": "add_tags", "tags": ["reminded"]}]


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def stage(name: str) -> Stage:
    return Stage.objects.get(workflow__is_default=True, name=name)


@pytest.fixture
def office(db: None) -> BusinessCalendar:
    return BusinessCalendarFactory(
        time_zone="Europe/Berlin", intervals=office_hours(range(5), time(9), time(17))
    )


def tags(ticket: Ticket) -> set[str]:
    return set(Ticket.objects.get(pk=ticket.pk).tags.values_list("name", flat=True))


def waiting_ticket(requester: User, agent: User, at: datetime, **kwargs: object) -> Ticket:
    """A ticket the agent put in "Waiting on requester" at ``at``."""
    with time_machine.travel(at, tick=False):
        ticket = new_ticket(requester, **kwargs)
        return services.ticket_transition(
            ticket=ticket, to_stage=stage("Waiting on requester"), actor=agent
        )


def waiting_rule(make_rule: MakeRule, actions: list[dict[str, object]], **fields: object) -> Rule:
    conditions = fields.pop("conditions", None) or [
        {"field": "stage", "op": "is", "value": stage("Waiting on requester").pk}
    ]
    values = {
        "time_basis": TimeBasis.STAGE_ENTERED,
        "time_amount": 2,
        "time_unit": TimeUnit.HOURS,
        **fields,
    }
    return make_rule(Trigger.TIME, actions, conditions, **values)


def scan_at(at: datetime) -> time_rules.TimeScanResult:
    """A pass at ``at``, then the actions it queued (the outbox, as relay and worker)."""
    with time_machine.travel(at, tick=False):
        result = time_rules.time_rules_scan()
        outbox.run_inline()
        return result


def applied(rule: Rule, ticket: Ticket) -> int:
    return len(events_of(RULE_APPLIED, rule={"id": rule.pk, "name": rule.name, "version": 1}))


# --- Business time ------------------------------------------------------------------------
def test_five_business_days_from_friday_afternoon_run_out_the_next_friday_not_at_the_weekend(
    make_rule: MakeRule, requester: User, agent: User, office: BusinessCalendar
) -> None:
    ticket = waiting_ticket(requester, agent, berlin(2026, 12, 4, 16))
    waiting_rule(
        make_rule,
        REMIND,
        time_amount=5,
        time_unit=TimeUnit.BUSINESS_DAYS,
        calendar=office,
    )
    # Five 8-hour days = 40 working hours: Fri 16-17 (1), Mon-Thu (32), Fri 09-16 (7).
    # A plain 5 x 24 hours would have run out on Wednesday 16:00.
    for not_yet in (
        berlin(2026, 12, 5, 12),  # Saturday
        berlin(2026, 12, 6, 23),  # Sunday
        berlin(2026, 12, 7, 16),  # Monday
        berlin(2026, 12, 9, 16, 30),  # Wednesday, past 5 x 24 hours
        berlin(2026, 12, 10, 20),  # Thursday evening
        berlin(2026, 12, 11, 15, 59, 59),  # Friday, a second before
    ):
        assert scan_at(not_yet).due == 0, not_yet
        assert tags(ticket) == set(), not_yet

    result = scan_at(berlin(2026, 12, 11, 16, 0, 1))

    assert result.due == 1
    assert tags(ticket) == {"reminded"}
    (scan,) = result.rules
    assert scan.cutoff == berlin(2026, 12, 4, 16, 0, 1).astimezone(UTC)


def test_business_hours_skip_the_night_and_the_weekend(
    make_rule: MakeRule, requester: User, agent: User, office: BusinessCalendar
) -> None:
    # Friday 16:30 + 4 working hours: 30 minutes on Friday, 3.5 hours on Monday: 12:30.
    ticket = waiting_ticket(requester, agent, berlin(2026, 12, 4, 16, 30))
    waiting_rule(
        make_rule, REMIND, time_amount=4, time_unit=TimeUnit.BUSINESS_HOURS, calendar=office
    )

    assert scan_at(berlin(2026, 12, 7, 12, 29)).due == 0
    assert scan_at(berlin(2026, 12, 7, 12, 31)).due == 1
    assert tags(ticket) == {"reminded"}


def test_a_business_day_is_the_calendars_average_working_day() -> None:
    spec = CalendarSpec(
        time_zone="Europe/Berlin",
        intervals=(*office_hours(range(4), time(9), time(17)), (4, time(9), time(13))),
    )
    night_shift = CalendarSpec(intervals=((0, time(22), time(6)),))

    assert time_rules.business_day_seconds(spec) == (4 * 8 + 4) * 3600 // 5
    assert time_rules.business_day_seconds(night_shift) == 8 * 3600
    assert time_rules.business_day_seconds(CalendarSpec()) == 86400  # 24x7


# --- Once per state ------------------------------------------------------------------------
def test_a_ticket_sitting_in_its_stage_is_acted_on_once_and_again_after_it_comes_back(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    ticket = waiting_ticket(requester, agent, start)
    rule = waiting_rule(make_rule, [{"type": "add_note", "body": "Any news?"}])

    assert scan_at(start + timedelta(hours=1)).due == 0
    assert scan_at(start + timedelta(hours=3)).due == 1
    assert scan_at(start + timedelta(hours=4)).due == 0
    assert scan_at(start + timedelta(days=3)).due == 0
    assert applied(rule, ticket) == 1

    with time_machine.travel(start + timedelta(days=3, hours=1), tick=False):
        back = services.ticket_transition(ticket=ticket, to_stage=stage("Open"), actor=agent)
        services.ticket_transition(ticket=back, to_stage=stage("Waiting on requester"), actor=agent)
    assert scan_at(start + timedelta(days=3, hours=2)).due == 0  # only an hour back
    assert scan_at(start + timedelta(days=3, hours=4)).due == 1

    assert applied(rule, ticket) == 2
    assert sorted(RuleFiring.objects.filter(rule=rule).values_list("state", flat=True)) == [
        "stage_entered:2026-12-07T09:00:00.000000Z",
        "stage_entered:2026-12-10T10:00:00.000000Z",
    ]
    notes = ticket.comments.filter(is_internal=True, body="Any news?")
    assert notes.count() == 2


def test_the_state_sql_reads_is_the_state_python_writes(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    """A microsecond-precise entry instant: if SQL's text of it differed from Python's,
    the scan would never see the firing and act every minute."""
    at = datetime(2026, 12, 7, 9, 0, 0, 123456, tzinfo=UTC)
    ticket = waiting_ticket(requester, agent, at)
    rule = waiting_rule(make_rule, REMIND)

    assert scan_at(at + timedelta(hours=3)).due == 1
    assert scan_at(at + timedelta(hours=4)).due == 0
    assert RuleFiring.objects.get(rule=rule, ticket=ticket).state == (
        "stage_entered:2026-12-07T09:00:00.123456Z"
    )


def test_the_scan_compares_the_stage_entry_time_alone_so_the_index_stops_at_the_cutoff(
    make_rule: MakeRule,
) -> None:
    """An OR with "no entry time" would make the (stage, stage_entered_at) index scan
    filter instead of stopping at the cutoff: the pass that finds nothing more due
    would walk every ticket of the stage (at a million tickets, the 40,000 waiting)."""
    rule = waiting_rule(make_rule, REMIND)
    tickets, _ = time_rules.due_tickets(rule, cutoff=datetime(2026, 12, 7, tzinfo=UTC))
    where = str(tickets.query).split(" WHERE ", 1)[1]

    assert '"nixflow_ticket"."stage_entered_at" <' in where
    assert '"nixflow_ticket"."stage_entered_at" IS NULL' not in where


@pytest.mark.parametrize(
    ("basis", "moved"),
    [
        (TimeBasis.CREATED, "created"),
        (TimeBasis.UPDATED, "updated"),
        (TimeBasis.PUBLIC_UPDATED, "public_updated"),
    ],
)
def test_each_basis_measures_from_its_own_instant(
    make_rule: MakeRule, requester: User, agent: User, basis: str, moved: str
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    ticket = waiting_ticket(requester, agent, start)
    Ticket.objects.filter(pk=ticket.pk).update(
        created=start, updated=start, public_updated=start, stage_entered_at=start
    )
    # Only the rule's own basis is old: the others say "just now".
    Ticket.objects.filter(pk=ticket.pk).update(**{moved: start - timedelta(days=2)})
    waiting_rule(make_rule, REMIND, time_basis=basis, time_amount=1, time_unit=TimeUnit.DAYS)
    waiting_rule(
        make_rule,
        [{"type": "add_tags", "tags": ["stage-rule"]}],
        time_amount=1,
        time_unit=TimeUnit.DAYS,
    )

    scan_at(start + timedelta(hours=1))

    assert tags(ticket) == {"reminded"}


# --- Which tickets ---------------------------------------------------------------------------
def test_conditions_choose_the_tickets_in_sql(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    urgent = waiting_ticket(requester, agent, start, priority=Priority.URGENT)
    normal = waiting_ticket(requester, agent, start)
    waiting_rule(
        make_rule,
        REMIND,
        conditions=[
            {"field": "stage_category", "op": "is", "value": "WAITING"},
            {"field": "priority", "op": "is", "value": Priority.URGENT},
        ],
    )

    assert scan_at(start + timedelta(hours=3)).due == 1
    assert (tags(urgent), tags(normal)) == ({"reminded"}, set())


def test_a_condition_sql_cannot_say_is_checked_in_python_and_the_others_still_narrow(
    make_rule: MakeRule, requester: User, agent: User, office: BusinessCalendar
) -> None:
    start = berlin(2026, 12, 7, 9)
    urgent = waiting_ticket(requester, agent, start, priority=Priority.URGENT)
    normal = waiting_ticket(requester, agent, start)
    rule = waiting_rule(
        make_rule,
        REMIND,
        calendar=office,
        conditions=[
            {"field": "priority", "op": "is", "value": Priority.URGENT},
            {"field": "business_hours", "op": "is", "value": True},
        ],
    )
    tickets, in_python = time_rules.due_tickets(rule, cutoff=start + timedelta(hours=1))
    assert in_python
    assert list(tickets) == [urgent]  # the priority narrowed in SQL

    night = scan_at(berlin(2026, 12, 7, 20))  # due, but out of business hours
    assert (night.due, night.rules[0].not_matched) == (0, 1)
    assert scan_at(berlin(2026, 12, 8, 10)).due == 1
    assert (tags(urgent), tags(normal)) == ({"reminded"}, set())


def test_open_tickets_only_unless_the_rule_names_the_stage(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        resolved = services.ticket_transition(
            ticket=new_ticket(requester), to_stage=stage("Resolved"), actor=agent
        )
    waiting_ticket(requester, agent, start)
    anything = make_rule(
        Trigger.TIME,
        [{"type": "add_tags", "tags": ["old"]}],
        [],
        time_basis=TimeBasis.STAGE_ENTERED,
        time_amount=1,
        time_unit=TimeUnit.DAYS,
    )
    closer = make_rule(
        Trigger.TIME,
        [{"type": "set_stage", "stage": stage("Closed").pk}],
        [{"field": "stage_category", "op": "is", "value": "RESOLVED"}],
        time_basis=TimeBasis.STAGE_ENTERED,
        time_amount=7,
        time_unit=TimeUnit.DAYS,
    )

    result = scan_at(start + timedelta(days=8))

    assert [(s.rule_id, s.due) for s in result.rules] == [(anything.pk, 1), (closer.pk, 1)]
    assert "old" not in tags(resolved)
    assert Ticket.objects.get(pk=resolved.pk).stage == stage("Closed")


def test_a_refused_action_is_recorded_once_per_state_not_every_minute(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    ticket = waiting_ticket(requester, agent, start)
    # No transition leads from "Waiting on requester" back to "New".
    rule = waiting_rule(make_rule, [{"type": "set_stage", "stage": stage("New").pk}])

    first = scan_at(start + timedelta(hours=3))
    second = scan_at(start + timedelta(hours=4))

    assert (first.due, second.due) == (1, 0)
    (failed,) = events_of(RULE_FAILED)
    assert failed.payload["action_type"] == "set_stage"
    assert RuleFiring.objects.filter(rule=rule, ticket=ticket).count() == 1
    assert Ticket.objects.get(pk=ticket.pk).stage == stage("Waiting on requester")


@override_settings(AUTOMATION_TIME_RULE_BATCH=3)
def test_a_pass_takes_at_most_the_batch_oldest_first_and_the_next_pass_the_rest(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    tickets = [waiting_ticket(requester, agent, start + timedelta(minutes=n)) for n in range(5)]
    waiting_rule(make_rule, REMIND)
    later = start + timedelta(hours=5)

    assert scan_at(later).due == 3
    assert [bool(tags(t)) for t in tickets] == [True, True, True, False, False]
    assert scan_at(later).due == 2
    assert scan_at(later).due == 0


def test_inactive_rules_and_event_rules_are_not_scanned(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    ticket = waiting_ticket(requester, agent, start)
    rule = waiting_rule(make_rule, REMIND)
    Rule.objects.filter(pk=rule.pk).update(is_active=False)

    assert scan_at(start + timedelta(days=1)).rules == []
    assert tags(ticket) == set()


# --- Two scans at once ----------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_ticket_locked_by_someone_else_is_left_for_the_next_pass(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    busy, free = (waiting_ticket(requester, agent, start) for _ in range(2))
    waiting_rule(make_rule, REMIND)
    locked, release = threading.Event(), threading.Event()

    def edit() -> None:  # an agent's transaction holding the ticket's row
        try:
            with transaction.atomic():
                Ticket.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    editor = threading.Thread(target=edit)
    editor.start()
    assert locked.wait(30)
    try:
        first = scan_at(start + timedelta(hours=3))
    finally:
        release.set()
        editor.join()

    assert first.due == 1
    assert (tags(busy), tags(free)) == (set(), {"reminded"})
    assert scan_at(start + timedelta(hours=3)).due == 1
    assert tags(busy) == {"reminded"}


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_passes_act_on_each_due_ticket_exactly_once(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    tickets = [waiting_ticket(requester, agent, start) for _ in range(120)]
    rule = waiting_rule(make_rule, [{"type": "add_note", "body": "Any news?"}])
    automation_user()  # the notes' author, made on first use: not what this test races
    barrier = threading.Barrier(2)
    results: list[time_rules.TimeScanResult] = []

    def scan() -> None:
        try:
            barrier.wait(30)
            results.append(time_rules.time_rules_scan(now=start + timedelta(hours=3)))
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outbox.run_inline()

    assert len(results) == 2
    assert [e.payload for e in events_of(RULE_FAILED)] == []
    assert sum(r.due for r in results) == 120
    assert RuleFiring.objects.filter(rule=rule).count() == 120
    for ticket in tickets:
        assert ticket.comments.filter(body="Any news?").count() == 1
    assert applied(rule, tickets[0]) == 120


def test_a_firing_recorded_meanwhile_by_another_scan_stops_this_one_from_acting(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    """The unique (rule, ticket, state) is the last guard: a scan that read the ticket
    before another's firing committed inserts nothing and does not act."""
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    ticket = waiting_ticket(requester, agent, start)
    rule = waiting_rule(make_rule, REMIND)
    now = start + timedelta(hours=3)

    (fired,) = time_rules._fire(rule, [ticket], now)
    assert fired[1:] == (ticket.pk, "stage_entered:2026-12-07T09:00:00.000000Z")
    assert time_rules._fire(rule, [ticket], now) == []
    assert RuleFiring.objects.filter(rule=rule, ticket=ticket).count() == 1


# --- Acting after the pass ------------------------------------------------------------------
def due_event(ticket: Ticket) -> EventLog:
    (event,) = [
        e
        for e in EventLog.objects.filter(type=time_rules.TIME_RULE_DUE)
        if any(f["ticket_id"] == ticket.pk for f in e.payload["firings"])
    ]
    return event


def test_the_pass_queues_the_actions_and_a_second_delivery_does_nothing_more(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    ticket = waiting_ticket(requester, agent, start)
    rule = waiting_rule(make_rule, [{"type": "add_note", "body": "Any news?"}])

    with time_machine.travel(start + timedelta(hours=3), tick=False):
        time_rules.time_rules_scan()
    assert ticket.comments.filter(body="Any news?").count() == 0  # not yet: queued
    event = due_event(ticket)
    assert (event.subject_model, event.subject_id) == ("rule", str(rule.pk))
    assert event.payload == {
        "rule": {"id": rule.pk, "name": rule.name, "version": 1},
        "cutoff": "2026-12-07T10:00:00+00:00",
        "firings": [
            {
                "firing_id": RuleFiring.objects.get(rule=rule).pk,
                "ticket_id": ticket.pk,
                "state": "stage_entered:2026-12-07T09:00:00.000000Z",
            }
        ],
    }

    assert deliver(event) == [time_rules.SUBSCRIBER]
    assert deliver(event) == []  # at least once, acted on once

    assert ticket.comments.filter(body="Any news?").count() == 1
    (applied_event,) = events_of(RULE_APPLIED)
    assert (applied_event.payload["event_id"], applied_event.payload["trigger"]) == (
        event.pk,
        Trigger.TIME,
    )


def test_one_event_carries_a_group_of_firings_and_each_ticket_is_acted_on_once(
    make_rule: MakeRule, requester: User, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time_rules, "ACT_GROUP", 2)
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    tickets = [waiting_ticket(requester, agent, start) for _ in range(5)]
    rule = waiting_rule(make_rule, REMIND)

    assert scan_at(start + timedelta(hours=3)).due == 5

    groups = EventLog.objects.filter(type=time_rules.TIME_RULE_DUE).order_by("id")
    assert [len(e.payload["firings"]) for e in groups] == [2, 2, 1]
    assert all(tags(t) == {"reminded"} for t in tickets)
    assert applied(rule, tickets[0]) == 5


def test_nothing_is_done_when_the_ticket_moved_on_or_the_rule_was_disabled_meanwhile(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    moved, kept = (waiting_ticket(requester, agent, start) for _ in range(2))
    rule = waiting_rule(make_rule, REMIND)
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        time_rules.time_rules_scan()
        services.ticket_transition(ticket=moved, to_stage=stage("Open"), actor=agent)
        outbox.run_inline()
    assert (tags(moved), tags(kept)) == (set(), {"reminded"})

    other = waiting_ticket(requester, agent, start)
    with time_machine.travel(start + timedelta(hours=4), tick=False):
        time_rules.time_rules_scan()
        Rule.objects.filter(pk=rule.pk).update(is_active=False)
        outbox.run_inline()
    assert tags(other) == set()


# --- How it runs ------------------------------------------------------------------------------
def test_the_task_runs_a_pass_and_says_what_it_did(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    ticket = waiting_ticket(requester, agent, start)
    waiting_rule(make_rule, REMIND)

    with time_machine.travel(start + timedelta(hours=3), tick=False):
        outcome = tasks.time_rules_scan.apply().get()
        outbox.run_inline()

    assert outcome == {"rules": 1, "due": 1}
    assert tags(ticket) == {"reminded"}


def test_the_migration_schedules_the_task_every_minute_under_its_name() -> None:
    from celery import current_app
    from django.apps import apps as django_apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("automation.migrations.0002_time_rule_schedule")
    # A transactional test's flush empties the table: schedule as the migration does.
    PeriodicTask.objects.filter(name=migration.TASK_NAME).delete()
    migration.create_schedule(django_apps, None)

    entry = PeriodicTask.objects.get(name=migration.TASK_NAME)
    assert current_app.tasks[entry.task].name == tasks.time_rules_scan.name
    assert (entry.interval.every, entry.interval.period) == (1, "minutes")


def test_the_command_runs_a_pass(make_rule: MakeRule, requester: User, agent: User) -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    ticket = waiting_ticket(requester, agent, start)
    rule = waiting_rule(make_rule, REMIND)
    out = StringIO()

    with time_machine.travel(start + timedelta(hours=3), tick=False):
        call_command("automation_scan", stdout=out)
        outbox.run_inline()

    assert f"rule {rule.pk}: cutoff 2026-12-07T10:00:00+00:00, 1 due, 0 did not" in out.getvalue()
    assert "1 time rules, 1 tickets due: their actions are queued" in out.getvalue()
    assert tags(ticket) == {"reminded"}
