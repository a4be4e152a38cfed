"""The monitor (`sla_scan`), acknowledgement and breach notifications."""

from __future__ import annotations

import threading
from datetime import time, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection

from eventlog import outbox
from eventlog.models import Delivery, EventLog
from eventlog.subscribers import deliver
from nixflow import services
from nixflow.models import Priority, Role, Ticket, User
from sla import services as sla_services
from sla.calendar import calendar_spec
from sla.models import MetricType, SLABreach, SLAMetric, SLAPolicy, SLAStatus
from sla.notifications import recipients
from sla.services import monitor
from tests.factories import TicketFactory, UserFactory, default_workflow
from tests.sla.conftest import T0, open_ticket
from tests.sla.factories import (
    BusinessCalendarFactory,
    SLABreachFactory,
    SLAMetricFactory,
    SLAPolicyFactory,
    WorkingIntervalFactory,
)

M = timedelta(minutes=1)


@pytest.mark.django_db
def test_scan_marks_at_risk_then_breached_once_each_with_events(
    policy: SLAPolicy, requester: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    first = SLAMetric.objects.get(ticket=ticket, metric_type=MetricType.FIRST_RESPONSE)

    assert sla_services.sla_scan(now=T0 + 44 * M) == sla_services.ScanResult(0, 0)
    assert sla_services.sla_scan(now=T0 + 45 * M) == sla_services.ScanResult(1, 0)
    first.refresh_from_db()
    assert first.status == SLAStatus.AT_RISK
    assert sla_services.sla_scan(now=T0 + 50 * M) == sla_services.ScanResult(0, 0)

    assert sla_services.sla_scan(now=T0 + 60 * M) == sla_services.ScanResult(0, 1)
    first.refresh_from_db()
    assert first.status == SLAStatus.BREACHED
    breach = SLABreach.objects.get(metric=first)
    assert (breach.breached_at, breach.breach_type, breach.policy) == (
        T0 + 60 * M,
        "first_response",
        policy,
    )
    assert sla_services.sla_scan(now=T0 + 90 * M) == sla_services.ScanResult(0, 0)

    types = EventLog.objects.filter(ticket_key=ticket.key).values_list("type", flat=True)
    assert sorted(t for t in types if t.startswith("sla.")) == ["sla.at_risk", "sla.breached"]


@pytest.mark.django_db
def test_a_breached_clock_completed_later_keeps_its_single_breach(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    sla_services.sla_scan(now=T0 + 61 * M)
    clock.shift(90 * 60)
    services.comment_create(ticket=ticket, author=agent, body="Late, sorry")

    first = SLAMetric.objects.get(ticket=ticket, metric_type=MetricType.FIRST_RESPONSE)
    assert (first.status, first.completed_at) == (SLAStatus.BREACHED, T0 + 90 * M)
    assert SLABreach.objects.filter(metric=first).count() == 1
    assert EventLog.objects.filter(type="sla.breached", ticket_key=ticket.key).count() == 1


@pytest.mark.django_db
def test_paused_and_completed_clocks_are_never_breached(
    policy: SLAPolicy,
    requester: User,
    agent: User,
    stages: dict,
    clock: time_machine.Coordinates,
) -> None:
    waiting = open_ticket(requester)
    services.ticket_transition(ticket=waiting, to_stage=stages["Waiting on requester"], actor=agent)
    answered = open_ticket(requester)
    services.comment_create(ticket=answered, author=agent, body="Hi")

    sla_services.sla_scan(now=T0 + 30 * 24 * 60 * M)
    assert not SLABreach.objects.filter(ticket=waiting).exists()
    statuses = SLAMetric.objects.filter(ticket=answered).values_list("metric_type", "status")
    assert dict(statuses) == {"first_response": "met", "resolution": "breached"}


@pytest.mark.django_db
def test_a_scan_after_a_long_outage_breaches_every_due_clock_once(
    policy: SLAPolicy, requester: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor, "SCAN_BATCH", 7)  # several batches
    with time_machine.travel(T0, tick=False):
        tickets = [open_ticket(requester) for _ in range(12)]

    result = sla_services.sla_scan(now=T0 + 10 * 24 * 60 * M)

    assert result.breached == 24  # first response and resolution of each
    assert SLABreach.objects.filter(ticket__in=tickets).count() == 24
    assert sla_services.sla_scan(now=T0 + 11 * 24 * 60 * M).breached == 0


@pytest.mark.django_db
def test_sla_scan_command_runs_one_pass(
    policy: SLAPolicy, requester: User, capsys: pytest.CaptureFixture[str]
) -> None:
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        open_ticket(requester)
    call_command("sla_scan")
    assert capsys.readouterr().out.strip().startswith("0 at risk, 2 breached; ")
    call_command("sla_scan")
    assert capsys.readouterr().out.strip().startswith("0 at risk, 0 breached; ")


def _due_metrics(policy: SLAPolicy, count: int) -> None:
    """``count`` running clocks whose deadline has passed, written in bulk."""
    requester = UserFactory(username="bulk-requester")
    workflow = default_workflow()
    stage = workflow.initial_stage
    tickets = Ticket.objects.bulk_create(
        TicketFactory.build_batch(
            count, workflow=workflow, stage=stage, requester=requester, created=T0, updated=T0
        )
    )
    # Running resolution clocks: deadline T0 + 60 min, at risk from T0 + 45 min.
    SLAMetric.objects.bulk_create(
        SLAMetricFactory.build(ticket=ticket, policy=policy, started_at=T0, target_seconds=3600)
        for ticket in tickets
    )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_scans_over_1000_due_clocks_create_exactly_1000_breaches() -> None:
    policy = SLAPolicyFactory(name="Concurrent", targets={Priority.NORMAL: (60, 30, 60)})
    _due_metrics(policy, 1000)
    start = threading.Barrier(2)
    results: list[sla_services.ScanResult] = []
    errors: list[BaseException] = []

    def scan() -> None:
        try:
            start.wait()
            results.append(sla_services.sla_scan(now=T0 + 2 * 60 * M))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(r.breached for r in results) == 1000
    assert SLABreach.objects.count() == 1000
    assert SLABreach.objects.values("metric").distinct().count() == 1000
    assert EventLog.objects.filter(type="sla.breached").count() == 1000
    assert not SLAMetric.objects.filter(status__in=["running", "at_risk"]).exists()


# --- acknowledgement --------------------------------------------------------------------
@pytest.fixture
def breach(policy: SLAPolicy, requester: User) -> SLABreach:
    with time_machine.travel(T0, tick=False):
        ticket = open_ticket(requester)
    sla_services.sla_scan(now=T0 + 61 * M)
    return SLABreach.objects.get(ticket=ticket, breach_type="first_response")


@pytest.mark.django_db
def test_acknowledging_records_who_when_and_why_once(breach: SLABreach, agent: User) -> None:
    other = UserFactory(role=Role.AGENT)
    acknowledged = sla_services.breach_acknowledge(breach=breach, actor=agent, note=" Outage ")
    assert (acknowledged.acknowledged_by, acknowledged.acknowledgement_note) == (agent, "Outage")

    with pytest.raises(ValidationError, match="Already acknowledged by agent at"):
        sla_services.breach_acknowledge(breach=breach, actor=other, note="Mine")
    breach.refresh_from_db()
    assert (breach.acknowledged_by, breach.acknowledgement_note) == (agent, "Outage")
    event = EventLog.objects.get(type="sla.acknowledged")
    assert (event.actor, event.payload["note"]) == (agent, "Outage")


@pytest.mark.django_db
def test_requesters_cannot_acknowledge(breach: SLABreach, requester: User) -> None:
    with pytest.raises(PermissionDenied):
        sla_services.breach_acknowledge(breach=breach, actor=requester, note="")
    breach.refresh_from_db()
    assert breach.acknowledged_at is None


# --- notifications ----------------------------------------------------------------------
@pytest.mark.django_db
def test_a_breach_mails_assignee_watchers_and_escalation_once(
    policy: SLAPolicy,
    requester: User,
    agent: User,
    django_capture_on_commit_callbacks: object,
) -> None:
    watcher = UserFactory(username="watcher", email="watcher@example.com")
    with time_machine.travel(T0, tick=False):
        ticket = open_ticket(requester)
        services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
        services.ticket_watch(ticket=ticket, user=watcher, actor=agent)
    sla_services.sla_scan(now=T0 + 61 * M)
    event = EventLog.objects.get(type="sla.breached", ticket_key=ticket.key)

    with django_capture_on_commit_callbacks(execute=True):
        deliver(event)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(event)  # a redelivery sends nothing
    outbox.run_inline()  # the mail queued in the outbox, sent as a worker would

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["agent@example.com", "watcher@example.com", "escalation@example.com"]
    assert message.subject == f"[{ticket.key}] SLA breached: First response"
    assert Delivery.objects.filter(event=event, subscriber="sla.breach_mail").count() == 1


@pytest.mark.django_db
def test_calendar_changes_invalidate_cached_business_time(policy: SLAPolicy) -> None:
    calendar = BusinessCalendarFactory(name="Cal")
    assert calendar_spec(calendar).is_24x7
    WorkingIntervalFactory(calendar=calendar, weekday=0, start=time(9), end=time(17))
    calendar.refresh_from_db()
    assert not calendar_spec(calendar).is_24x7


@pytest.mark.django_db
def test_breach_mail_goes_to_the_escalation_address_alone_when_nobody_else_is_there() -> None:
    escalated = SLABreachFactory(metric__policy__escalation_email="oncall@example.com")
    unheard = SLABreachFactory()

    assert recipients(escalated) == ["oncall@example.com"]
    assert recipients(unheard) == []
