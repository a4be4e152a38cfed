"""The requester's ticket page in the portal offers the survey once it was mailed, and
shows the answer given; followers and surveys not yet mailed show nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from csat.models import Survey
from nixflow import services as core
from nixflow.models import Ticket, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def portal_page(user: User, ticket: Ticket) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/portal/tickets/{ticket.key}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_requester_answers_from_the_portal_and_then_sees_the_answer(
    requester: User, mailed_survey: Survey
) -> None:
    ticket = mailed_survey.ticket
    page = portal_page(requester, ticket)
    assert 'data-panel="your-opinion"' in page
    assert "How did we do with your request?" in page
    good = page.split('class="csat-choices"', 1)[1].split('href="', 1)[1].split('"', 1)[0]
    assert good.startswith("/satisfaction/")
    assert good.endswith("/good/")

    client = Client()
    assert client.get(good).status_code == 200  # the survey's own page, preselected
    client.post(good, {"rating": "good", "comment": ""})

    answered = portal_page(requester, ticket)
    assert "Your answer: <strong>Good</strong>" in answered
    assert "Change your answer" in answered
    assert "How did we do with your request?" not in answered


def test_followers_and_unmailed_surveys_show_no_panel(
    requester: User,
    agent: User,
    worked_ticket: Ticket,
    move: Callable[[Ticket, str], Ticket],
) -> None:
    assert 'data-panel="your-opinion"' not in portal_page(requester, worked_ticket)
    move(worked_ticket, "Resolved")  # armed, not mailed yet (the outbox has not run)
    assert 'data-panel="your-opinion"' not in portal_page(requester, worked_ticket)

    follower = UserFactory(username="follower")
    core.ticket_watch(ticket=worked_ticket, user=follower, actor=agent)
    assert 'data-panel="your-opinion"' not in portal_page(follower, worked_ticket)
