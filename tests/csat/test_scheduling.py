"""A survey is armed when a ticket is resolved, mailed once after the workflow's delay,
and never twice for one ticket."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from csat import services
from csat.models import Survey, SurveyStatus
from eventlog import outbox
from eventlog.models import EventLog, OutboxMessage
from nixflow.models import Ticket, User
from tests.csat.conftest import set_policy
from tests.factories import WorkflowFactory
from tests.helpers import new_ticket

pytestmark = pytest.mark.django_db

Move = Callable[[Ticket, str], Ticket]


def test_resolving_schedules_one_survey_credited_to_the_assignee_and_team(
    worked_ticket: Ticket, move: Move, agent: User
) -> None:
    move(worked_ticket, "Resolved")

    survey = Survey.objects.get(ticket=worked_ticket)
    assert survey.agent == agent
    assert survey.team == worked_ticket.team
    assert survey.status == SurveyStatus.QUEUED  # no delay: queued with the resolution
    outbox.run_inline()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [worked_ticket.requester.email]
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.SENT
    assert survey.closes_at == survey.sent_at + timedelta(days=7)
    sent = EventLog.objects.get(type="csat.survey_sent")
    assert sent.ticket_key == worked_ticket.key
    assert set(sent.payload) == {"ticket_id", "requester_id", "closes_at"}


def test_other_transitions_schedule_nothing(worked_ticket: Ticket, move: Move) -> None:
    move(worked_ticket, "Open")
    move(worked_ticket, "Waiting on requester")
    move(worked_ticket, "Closed")  # closed without a resolution: no survey either
    outbox.run_inline()
    assert not Survey.objects.exists()
    assert mail.outbox == []


def test_reopening_and_resolving_again_after_the_mail_sends_no_second_mail(
    worked_ticket: Ticket, move: Move
) -> None:
    move(worked_ticket, "Resolved")
    outbox.run_inline()
    move(worked_ticket, "Open")
    move(worked_ticket, "Resolved")
    outbox.run_inline()

    assert len(mail.outbox) == 1
    assert Survey.objects.get().status == SurveyStatus.SENT


def test_delay_is_respected_and_the_scan_queues_the_survey_once_due(
    worked_ticket: Ticket, move: Move, workflow: object
) -> None:
    set_policy(worked_ticket.workflow, delay=60)
    move(worked_ticket, "Resolved")
    outbox.run_inline()
    survey = Survey.objects.get()
    assert survey.status == SurveyStatus.SCHEDULED
    assert survey.due_at == survey.resolved_at + timedelta(minutes=60)

    assert services.surveys_queue_due(now=survey.due_at - timedelta(seconds=1)) == 0
    outbox.run_inline()
    assert mail.outbox == []

    assert services.surveys_queue_due(now=survey.due_at) == 1
    assert services.surveys_queue_due(now=survey.due_at) == 0  # a second scan: nothing
    outbox.run_inline()
    assert len(mail.outbox) == 1


def test_the_beat_task_queues_due_surveys(worked_ticket: Ticket, move: Move) -> None:
    from csat.tasks import survey_queue_due

    set_policy(worked_ticket.workflow, delay=5)
    move(worked_ticket, "Resolved")
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert survey_queue_due.apply().get() == 1
        outbox.run_inline()
    assert len(mail.outbox) == 1


def test_reopened_before_the_mail_cancels_and_a_new_resolution_arms_it_again(
    worked_ticket: Ticket, move: Move, agent: User
) -> None:
    set_policy(worked_ticket.workflow, delay=60)
    move(worked_ticket, "Resolved")
    move(worked_ticket, "Open")
    survey = Survey.objects.get()
    assert survey.status == SurveyStatus.CANCELLED

    move(worked_ticket, "Resolved")
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.SCHEDULED
    services.surveys_queue_due(now=survey.due_at)
    outbox.run_inline()
    assert len(mail.outbox) == 1


def test_a_ticket_reopened_while_its_mail_is_queued_is_not_mailed(
    worked_ticket: Ticket, move: Move
) -> None:
    move(worked_ticket, "Resolved")  # queued at once
    move(worked_ticket, "Open")
    outbox.run_inline()
    assert mail.outbox == []
    assert Survey.objects.get().status == SurveyStatus.CANCELLED


def test_policy_off_schedules_nothing(worked_ticket: Ticket, move: Move) -> None:
    set_policy(worked_ticket.workflow, enabled=False)
    move(worked_ticket, "Resolved")
    outbox.run_inline()
    assert not Survey.objects.exists()
    assert mail.outbox == []


def test_policy_turned_off_before_a_delayed_survey_is_due_cancels_it(
    worked_ticket: Ticket, move: Move
) -> None:
    set_policy(worked_ticket.workflow, delay=10)
    move(worked_ticket, "Resolved")
    set_policy(worked_ticket.workflow, enabled=False, delay=10)
    services.surveys_queue_due(now=timezone.now() + timedelta(minutes=11))
    outbox.run_inline()
    assert mail.outbox == []
    assert Survey.objects.get().status == SurveyStatus.CANCELLED


def test_the_default_policy_applies_to_a_workflow_without_one(settings: object) -> None:
    workflow = WorkflowFactory()
    policy = services.policy_for(workflow_id=workflow.pk)
    assert policy == services.Policy(enabled=True, delay=timedelta(0), changeable_days=7)


def test_the_default_policy_comes_from_the_settings(settings: object) -> None:
    settings.CSAT_DEFAULT_ENABLED = False  # type: ignore[attr-defined]
    settings.CSAT_DEFAULT_DELAY_MINUTES = 30  # type: ignore[attr-defined]
    settings.CSAT_DEFAULT_CHANGEABLE_DAYS = 3  # type: ignore[attr-defined]
    assert services.default_policy() == services.Policy(
        enabled=False, delay=timedelta(minutes=30), changeable_days=3
    )


def test_a_requester_without_an_address_is_skipped(
    worked_ticket: Ticket, move: Move, requester: User
) -> None:
    User.objects.filter(pk=requester.pk).update(email="")
    move(worked_ticket, "Resolved")
    outbox.run_inline()
    assert mail.outbox == []
    assert Survey.objects.get().status == SurveyStatus.SKIPPED


def test_the_link_is_stored_nowhere(
    worked_ticket: Ticket, move: Move, survey_links: Callable[[], dict[str, str]]
) -> None:
    move(worked_ticket, "Resolved")
    outbox.run_inline()
    token = survey_links()["good"].split("/")[2]
    signature = token.rsplit(":", 1)[1]
    for message in OutboxMessage.objects.all():
        assert signature not in str(message.kwargs)
    for event in EventLog.objects.all():
        assert signature not in str(event.payload)


def test_a_failing_mail_server_is_retried_then_the_survey_says_it_failed(
    worked_ticket: Ticket, move: Move, monkeypatch: pytest.MonkeyPatch
) -> None:
    from csat import tasks

    def refuse(*args: object, **kwargs: object) -> int:
        raise OSError("connection refused")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    monkeypatch.setattr(tasks, "MAX_RETRIES", 0)
    move(worked_ticket, "Resolved")
    outbox.run_inline()
    survey = Survey.objects.get()
    assert survey.status == SurveyStatus.FAILED
    assert "connection refused" in survey.status_reason


def test_tickets_of_another_workflow_follow_its_own_policy(requester: User, agent: User) -> None:
    from nixflow import services as core

    workflow = WorkflowFactory(stages=["Start", "Done"])
    set_policy(workflow, enabled=False)
    ticket = new_ticket(requester, workflow=workflow)
    core.ticket_transition(ticket=ticket, to_stage=workflow.stages.get(name="Done"), actor=agent)
    assert not Survey.objects.exists()


def test_the_migration_schedules_a_task_celery_knows() -> None:
    import importlib

    from django.apps import apps as django_apps

    from nixflow.celery import app as celery_app

    migration = importlib.import_module("csat.migrations.0002_survey_schedule")
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name=migration.TASK_NAME).delete()
    migration.create_schedule(django_apps, None)
    task = PeriodicTask.objects.get(name=migration.TASK_NAME)
    celery_app.loader.import_default_modules()
    assert task.task in celery_app.tasks
    assert (task.interval.every, task.interval.period) == (1, "minutes")
