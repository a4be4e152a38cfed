"""Each clock rule: start, policy choice, re-target, pause/resume, completion, reopen."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import time_machine

from eventlog.models import EventLog
from nixflow import services
from nixflow.models import Priority, Source, Stage, Ticket, User
from sla.models import (
    MetricType,
    SLABreach,
    SLAMetric,
    SLAPolicy,
    SLAStatus,
)
from tests.sla.conftest import T0, open_ticket
from tests.sla.factories import BusinessCalendarFactory, SLAPolicyFactory, office_hours

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)


def metric(ticket: Ticket, metric_type: str) -> SLAMetric:
    return SLAMetric.objects.filter(ticket=ticket, metric_type=metric_type).latest("id")


def test_a_new_ticket_starts_first_response_and_resolution_clocks(
    policy: SLAPolicy, requester: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)

    first = metric(ticket, MetricType.FIRST_RESPONSE)
    resolution = metric(ticket, MetricType.RESOLUTION)
    assert (first.status, first.policy, first.target_seconds) == (SLAStatus.RUNNING, policy, 3600)
    assert (first.started_at, first.deadline, first.warning_at) == (T0, T0 + 60 * M, T0 + 45 * M)
    assert (resolution.deadline, resolution.warning_at) == (T0 + 480 * M, T0 + 360 * M)
    assert not SLAMetric.objects.filter(ticket=ticket, metric_type=MetricType.NEXT_RESPONSE)


def test_the_first_matching_policy_by_order_applies_and_no_match_starts_nothing(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    urgent = SLAPolicyFactory(
        name="Urgent mail", order=1, priorities=["URGENT"], targets={Priority.URGENT: (5, 5, 60)}
    )
    mail_only = SLAPolicyFactory(
        name="Mail", order=5, sources=[Source.EMAIL], targets={Priority.NORMAL: (120, 60, 960)}
    )

    by_mail = services.ticket_create(
        requester=requester, title="x", source=Source.EMAIL, actor=None
    )
    urgent_ticket = services.ticket_create(
        requester=requester, title="x", priority=Priority.URGENT, actor=agent
    )
    low = services.ticket_create(requester=requester, title="x", priority=Priority.LOW, actor=agent)

    assert metric(by_mail, MetricType.FIRST_RESPONSE).policy == mail_only
    assert metric(urgent_ticket, MetricType.FIRST_RESPONSE).policy == urgent
    # Standard matches LOW tickets but has no LOW targets: no clocks.
    assert not SLAMetric.objects.filter(ticket=low).exists()
    SLAPolicy.objects.update(is_active=False)
    assert not SLAMetric.objects.filter(ticket=open_ticket(requester)).exists()


def test_a_priority_change_retargets_running_clocks_and_keeps_the_time_used(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    clock.shift(10 * 60)
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.HIGH})

    first = metric(ticket, MetricType.FIRST_RESPONSE)
    # 10 of HIGH's 15 minutes are used: 5 left.
    assert (first.target_seconds, first.elapsed_seconds) == (900, 600)
    assert first.deadline == T0 + 15 * M
    assert metric(ticket, MetricType.RESOLUTION).deadline == T0 + 120 * M


def test_a_priority_without_targets_cancels_the_clocks(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.LOW})
    assert set(SLAMetric.objects.filter(ticket=ticket).values_list("status", flat=True)) == {
        SLAStatus.CANCELLED
    }


def test_waiting_pauses_the_clocks_and_leaving_it_resumes_them_with_the_time_left(
    policy: SLAPolicy,
    requester: User,
    agent: User,
    stages: dict[str, Stage],
    clock: time_machine.Coordinates,
) -> None:
    ticket = open_ticket(requester)
    clock.shift(20 * 60)
    services.ticket_transition(ticket=ticket, to_stage=stages["Waiting on requester"], actor=agent)

    paused = metric(ticket, MetricType.FIRST_RESPONSE)
    assert (paused.status, paused.elapsed_seconds, paused.deadline) == (
        SLAStatus.PAUSED,
        1200,
        None,
    )

    clock.shift(100 * 60)
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)

    resumed = metric(ticket, MetricType.FIRST_RESPONSE)
    assert resumed.status == SLAStatus.RUNNING
    assert resumed.paused_seconds == 6000
    # 40 of 60 minutes left from the resume at T0+120m.
    assert resumed.deadline == T0 + 160 * M
    assert metric(ticket, MetricType.RESOLUTION).deadline == T0 + (120 + 460) * M


def test_only_a_public_agent_comment_is_the_first_response(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    clock.shift(5 * 60)
    services.comment_create(ticket=ticket, author=agent, body="hmm", is_internal=True)
    assert metric(ticket, MetricType.FIRST_RESPONSE).status == SLAStatus.RUNNING

    clock.shift(5 * 60)
    services.comment_create(ticket=ticket, author=agent, body="Hello!")
    first = metric(ticket, MetricType.FIRST_RESPONSE)
    assert (first.status, first.completed_at, first.elapsed_seconds) == (
        SLAStatus.MET,
        T0 + 10 * M,
        600,
    )
    assert metric(ticket, MetricType.RESOLUTION).status == SLAStatus.RUNNING


def test_completing_after_the_deadline_is_a_breach_recorded_once_with_its_event(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    clock.shift(61 * 60)
    services.comment_create(ticket=ticket, author=agent, body="Sorry for the wait")

    first = metric(ticket, MetricType.FIRST_RESPONSE)
    assert first.status == SLAStatus.BREACHED
    breach = SLABreach.objects.get(metric=first)
    assert (breach.breach_type, breach.breached_at, breach.ticket) == (
        "first_response",
        T0 + 60 * M,
        ticket,
    )
    assert EventLog.objects.filter(type="sla.breached", subject_id=str(breach.pk)).count() == 1


def test_a_requester_reply_starts_next_response_and_the_next_agent_reply_completes_it(
    policy: SLAPolicy, requester: User, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = open_ticket(requester)
    services.comment_create(ticket=ticket, author=agent, body="What model?")
    clock.shift(60)
    services.comment_create(ticket=ticket, author=requester, body="X200")
    clock.shift(60)
    services.comment_create(ticket=ticket, author=requester, body="Also, it beeps")

    (next_response,) = SLAMetric.objects.filter(ticket=ticket, metric_type="next_response")
    assert (next_response.started_at, next_response.deadline) == (T0 + M, T0 + 31 * M)

    clock.shift(8 * 60)
    services.comment_create(ticket=ticket, author=agent, body="Replacing it")
    next_response.refresh_from_db()
    assert (next_response.status, next_response.elapsed_seconds) == (SLAStatus.MET, 9 * 60)

    clock.shift(60)
    services.comment_create(ticket=ticket, author=requester, body="Thanks, when?")
    assert SLAMetric.objects.filter(ticket=ticket, metric_type="next_response").count() == 2


def test_resolving_completes_resolution_and_reopening_resumes_it(
    policy: SLAPolicy,
    requester: User,
    agent: User,
    stages: dict[str, Stage],
    clock: time_machine.Coordinates,
) -> None:
    ticket = open_ticket(requester)
    clock.shift(100 * 60)
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    resolution = metric(ticket, MetricType.RESOLUTION)
    assert (resolution.status, resolution.elapsed_seconds) == (SLAStatus.MET, 6000)
    # Resolving also answered the requester: the response clock is complete.
    assert metric(ticket, MetricType.FIRST_RESPONSE).status == SLAStatus.BREACHED

    clock.shift(600 * 60)  # long after: only business (here: all) time while open counts
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=requester)
    resolution.refresh_from_db()
    assert resolution.status == SLAStatus.RUNNING
    assert resolution.completed_at is None
    assert resolution.deadline == T0 + 700 * M + 380 * M
    assert SLAMetric.objects.filter(ticket=ticket, metric_type="resolution").count() == 1


def test_business_hours_pause_and_resume_on_the_calendar(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    berlin = BusinessCalendarFactory(
        name="Berlin office",
        time_zone="Europe/Berlin",
        intervals=office_hours(range(5), time(9), time(17)),
    )
    SLAPolicyFactory(name="Office", calendar=berlin, targets={Priority.NORMAL: (240, 60, 960)})

    # Friday 6 March 2026 15:00 Berlin (14:00 UTC): 2 of 4 hours left today.
    friday = T0.replace(day=6, hour=14)
    with time_machine.travel(friday, tick=False) as clock:
        ticket = open_ticket(requester)
        first = metric(ticket, MetricType.FIRST_RESPONSE)
        # 2 h Friday + 2 h Monday from 09:00 Berlin = Monday 11:00 Berlin = 10:00 UTC.
        assert first.deadline == T0.replace(day=9, hour=10)

        clock.shift(60 * 60)  # Friday 16:00 Berlin: 1 business hour used
        services.ticket_transition(
            ticket=ticket, to_stage=stages["Waiting on requester"], actor=agent
        )
        clock.shift(3 * 24 * 3600)  # Monday 16:00 Berlin
        services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)

    first.refresh_from_db()
    assert first.elapsed_seconds == 3600
    # 3 h left from Monday 16:00 Berlin: 1 h Monday + 2 h Tuesday = Tuesday 11:00 Berlin.
    assert first.deadline == T0.replace(day=10, hour=10)
    # Paused Friday 16:00 to Monday 16:00: 1 h Friday + 7 h Monday of business time.
    assert first.paused_seconds == 8 * 3600
