"""The satisfaction tests' scene: a requester's ticket, assigned to an agent of a team,
resolved through the core's service (so the survey is armed the way production arms
it), and the survey mail sent by running the outbox as a worker would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core import mail

from csat.models import Survey, SurveyPolicy
from eventlog import outbox
from nixflow import services as core
from nixflow.models import Stage, Team, Ticket, User, Workflow
from tests.factories import TeamFactory
from tests.helpers import new_ticket
from tests.support.browser import browser  # noqa: F401 -- the shared Selenium fixture


@pytest.fixture
def team(db: None) -> Team:
    return TeamFactory(name="Service desk")


@pytest.fixture
def worked_ticket(requester: User, agent: User, team: Team) -> Ticket:
    """``requester``'s ticket, worked by ``agent`` in ``team``."""
    ticket = new_ticket(requester, title="Printer on fire")
    Ticket.objects.filter(pk=ticket.pk).update(assignee=agent, team=team)
    ticket.refresh_from_db()
    return ticket


@pytest.fixture
def move(agent: User, stages: dict[str, Stage]) -> Callable[[Ticket, str], Ticket]:
    """Move a ticket to the named stage of the default workflow, as the agent."""

    def move_to(ticket: Ticket, stage: str) -> Ticket:
        return core.ticket_transition(
            ticket=Ticket.objects.get(pk=ticket.pk), to_stage=stages[stage], actor=agent
        )

    return move_to


@pytest.fixture
def mailed_survey(worked_ticket: Ticket, move: Callable[[Ticket, str], Ticket]) -> Survey:
    """The ticket resolved and its survey mailed (the default policy: at once)."""
    move(worked_ticket, "Resolved")
    outbox.run_inline()
    survey = Survey.objects.get(ticket=worked_ticket)
    assert survey.status == "sent", survey.status_reason
    return survey


@pytest.fixture
def survey_links() -> Callable[[], dict[str, str]]:
    """The good and bad paths of the last survey mail."""

    def links() -> dict[str, str]:
        body = mail.outbox[-1].body
        found = {}
        for line in body.splitlines():
            for choice in ("good", "bad"):
                if line.rstrip().endswith(f"/{choice}/") and "http" in line:
                    url = line[line.index("http") :].strip()
                    found[choice] = url[url.index("/satisfaction/") :]
        return found

    return links


def set_policy(workflow: Workflow, *, enabled: bool = True, delay: int = 0, days: int = 7) -> None:
    SurveyPolicy.objects.update_or_create(
        workflow=workflow,
        defaults={"enabled": enabled, "delay_minutes": delay, "changeable_days": days},
    )


HOUR = timedelta(hours=1)
