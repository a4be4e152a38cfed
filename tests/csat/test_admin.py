"""Satisfaction in the admin: the ticket's panel, the ratings list with its summary per
agent and team, and the policy per workflow (admins change it, agents read it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from csat.models import Survey, SurveyPolicy
from eventlog.models import EventLog
from nixflow.models import Ticket, User, Workflow
from tests.csat.conftest import set_policy
from tests.csat.test_api import make_rating
from tests.factories import AdminFactory, AgentFactory, TeamFactory

pytestmark = pytest.mark.django_db

Links = Callable[[], dict[str, str]]


def ticket_page(client: Client, ticket: Ticket) -> str:
    response = client.get(f"/admin/nixflow/ticket/{ticket.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_ticket_page_shows_the_rating_and_comment(
    agent_client: Client, mailed_survey: Survey, survey_links: Links
) -> None:
    token = survey_links()["bad"].split("/")[2]
    Client().post(f"/satisfaction/{token}/", {"rating": "bad", "comment": "Took <i>ages</i>"})
    html = ticket_page(agent_client, mailed_survey.ticket)
    assert "Satisfaction" in html
    assert '<p class="nf-csat nf-csat-bad"><strong>Bad</strong>' in html
    assert "credited to agent, Service desk" in html
    assert "Took &lt;i&gt;ages&lt;/i&gt;" in html


def test_the_ticket_page_says_where_the_survey_stands_without_a_rating(
    agent_client: Client, worked_ticket: Ticket, move: Callable[[Ticket, str], Ticket]
) -> None:
    assert "No satisfaction survey for this ticket." in ticket_page(agent_client, worked_ticket)
    set_policy(worked_ticket.workflow, delay=60)
    move(worked_ticket, "Resolved")
    assert "Survey due " in ticket_page(agent_client, worked_ticket)


def test_the_ratings_list_sums_up_per_agent_and_team(agent_client: Client, agent: User) -> None:
    other = AgentFactory(username="bea")
    team = TeamFactory(name="Printers")
    make_rating(rating="good", agent=agent, team=team)
    make_rating(rating="bad", agent=agent, team=team)
    make_rating(rating="good", agent=other)
    make_rating(rating="good", agent=other, created=timezone.now() - timedelta(days=40))

    response = agent_client.get("/admin/csat/rating/")
    assert response.status_code == 200
    summary = response.context["csat_summary"]
    assert (summary["total"].count, summary["total"].good_percent) == (4, 75)
    agents = {row.label: (row.count, row.good, row.good_percent) for row in summary["agents"]}
    assert agents == {"agent": (2, 1, 50), "bea": (2, 2, 100)}
    teams = {row.label: (row.count, row.good) for row in summary["teams"]}
    assert teams == {"Printers": (2, 1), "": (2, 2)}
    html = response.content.decode()
    assert "4 ratings, 75% good" in html
    assert "(no team)" in html

    # The summary follows the list's filters.
    filtered = agent_client.get("/admin/csat/rating/", {"rating__exact": "bad"})
    assert filtered.context["csat_summary"]["total"].count == 1
    by_agent = agent_client.get("/admin/csat/rating/", {"agent__id__exact": other.pk})
    assert by_agent.context["csat_summary"]["total"].count == 2
    recent = agent_client.get(
        "/admin/csat/rating/", {"created__gte": (timezone.now() - timedelta(days=7)).isoformat()}
    )
    assert recent.context["csat_summary"]["total"].count == 3


def test_agents_read_policies_and_admins_change_them_with_an_event(
    client: Client, workflow: Workflow
) -> None:
    set_policy(workflow, delay=15)
    policy = SurveyPolicy.objects.get()
    url = f"/admin/csat/surveypolicy/{policy.pk}/change/"
    client.force_login(AgentFactory())
    assert client.get("/admin/csat/surveypolicy/").status_code == 200
    assert (
        client.post(
            url, {"workflow": workflow.pk, "enabled": "", "delay_minutes": 0, "changeable_days": 7}
        ).status_code
        == 403
    )

    client.force_login(AdminFactory())
    response = client.post(
        url, {"workflow": workflow.pk, "delay_minutes": 1440, "changeable_days": 400}
    )
    assert response.status_code == 200  # the form again: 400 days is too long
    assert "less than or equal to 365" in response.content.decode()
    response = client.post(
        url, {"workflow": workflow.pk, "delay_minutes": 1440, "changeable_days": 14}
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.enabled, policy.delay_minutes, policy.changeable_days) == (False, 1440, 14)
    assert EventLog.objects.filter(type="admin.changed", subject_app="csat").exists()


def test_requesters_get_no_satisfaction_admin(client: Client, requester: User) -> None:
    client.force_login(requester)
    for url in ("/admin/csat/rating/", "/admin/csat/surveypolicy/", "/admin/csat/survey/"):
        assert client.get(url).status_code in {302, 403}
