"""GET /api/csat/: agents and admins read the ratings, filtered and cursor-paged;
requesters get 403, anonymous clients 401."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from csat.models import Rating, Survey, SurveyStatus
from nixflow.models import Team, User
from tests.factories import AgentFactory, TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

URL = "/api/csat/"


def make_rating(
    *,
    rating: str = "good",
    agent: User | None = None,
    team: Team | None = None,
    created: datetime | None = None,
    comment: str = "",
) -> Rating:
    ticket = TicketFactory(assignee=agent, team=team)
    moment = created or timezone.now()
    survey = Survey.objects.create(
        ticket=ticket,
        status=SurveyStatus.SENT,
        agent=agent,
        team=team,
        resolved_at=moment,
        due_at=moment,
        sent_at=moment,
        closes_at=moment + timedelta(days=7),
        requester=ticket.requester,
    )
    return Rating.objects.create(
        ticket=ticket,
        survey=survey,
        rating=rating,
        comment=comment,
        agent=agent,
        team=team,
        created=moment,
        updated=moment,
    )


def keys(response: object) -> list[str]:
    return [row["ticket"] for row in response.data["results"]]  # type: ignore[attr-defined]


def test_requesters_get_403_and_anonymous_clients_401(
    requester_api: APIClient, api_client: APIClient
) -> None:
    make_rating()
    response = requester_api.get(URL)
    assert response.status_code == 403
    assert response.data["detail"] == "Only agents and admins can read satisfaction ratings."
    assert api_client.get(URL).status_code in {401, 403}


def test_agents_and_admins_read_the_ratings_newest_first(
    agent_api: APIClient, admin_api: APIClient, agent: User
) -> None:
    team = TeamFactory(name="Printers")
    old = make_rating(rating="bad", created=timezone.now() - timedelta(days=2), comment="Slow")
    new = make_rating(rating="good", agent=agent, team=team)
    for client in (agent_api, admin_api):
        response = client.get(URL)
        assert response.status_code == 200
        assert keys(response) == [new.ticket.key, old.ticket.key]
    row = agent_api.get(URL).data["results"][0]
    assert row["rating"] == "good"
    assert row["agent"] == agent.pk
    assert row["agent_username"] == "agent"
    assert row["team"] == team.pk
    assert row["team_name"] == "Printers"
    assert set(row) == {
        "id",
        "ticket",
        "rating",
        "comment",
        "agent",
        "agent_username",
        "team",
        "team_name",
        "created",
        "updated",
    }


def test_filters_by_agent_team_rating_and_dates(agent_api: APIClient, agent: User) -> None:
    other = AgentFactory()
    team = TeamFactory()
    now = timezone.now()
    a = make_rating(rating="good", agent=agent, created=now - timedelta(days=3))
    b = make_rating(rating="bad", agent=agent, team=team, created=now - timedelta(days=1))
    c = make_rating(rating="bad", agent=other, created=now)

    assert keys(agent_api.get(URL, {"agent": agent.pk})) == [b.ticket.key, a.ticket.key]
    assert keys(agent_api.get(URL, {"team": team.pk})) == [b.ticket.key]
    assert keys(agent_api.get(URL, {"rating": "bad"})) == [c.ticket.key, b.ticket.key]
    since = (now - timedelta(days=2)).isoformat()
    until = (now - timedelta(hours=1)).isoformat()
    assert keys(agent_api.get(URL, {"from": since})) == [c.ticket.key, b.ticket.key]
    assert keys(agent_api.get(URL, {"from": since, "to": until})) == [b.ticket.key]
    assert keys(agent_api.get(URL, {"rating": "bad", "agent": agent.pk})) == [b.ticket.key]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"rating": "great"}, "rating"),
        ({"agent": "abc"}, "agent"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"cursor": "nonsense"}, None),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(
    agent_api: APIClient, params: dict[str, str], field: str | None
) -> None:
    response = agent_api.get(URL, params)
    assert response.status_code == 400
    if field:
        assert field in response.data


def test_cursor_pages_walk_every_rating_once(agent_api: APIClient) -> None:
    now = timezone.now()
    made = [make_rating(created=now - timedelta(minutes=i)) for i in range(5)]
    seen: list[str] = []
    response = agent_api.get(URL, {"page_size": 2})
    while True:
        seen += keys(response)
        if not response.data["next"]:
            break
        response = agent_api.get(response.data["next"])
    assert seen == [r.ticket.key for r in made]
    assert "count" not in response.data


def test_the_query_count_does_not_grow_with_the_page(agent_api: APIClient) -> None:
    for _ in range(6):
        make_rating(agent=AgentFactory(), team=TeamFactory())

    def queries(size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert agent_api.get(URL, {"page_size": size}).status_code == 200
        return len(captured)

    assert queries(1) == queries(6)


def test_the_schema_describes_the_list(agent_api: APIClient) -> None:
    response = agent_api.get("/api/schema/", {"format": "json"})
    if response.status_code != 200:
        pytest.skip("no schema endpoint")
    operation = response.json()["paths"]["/api/csat/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"from", "to", "agent", "team", "rating", "cursor", "page_size"} <= names
