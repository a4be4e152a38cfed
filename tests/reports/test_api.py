"""``GET /api/reports/`` and ``/api/reports/{name}/``: agents and admins read the
figures the pages show, requesters get 403, anonymous callers 401, and every bad
parameter a 400 that names it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from rest_framework.test import APIClient

from nixflow.models import User
from reports.selectors import REPORTS, report_build
from tests.factories import AdminFactory, AgentFactory, RequesterFactory, TeamFactory
from tests.helpers import as_user
from tests.reports.support import at, rating_for, report_filters, ticket_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(berlin: object) -> User:
    ann = cast(User, AgentFactory(username="ann"))
    team = TeamFactory(name="Hardware")
    today = at(report_filters(range="7").end, 10)
    for days in range(4):
        created = today - timedelta(days=days)
        ticket = ticket_at(created, created + timedelta(hours=1), assignee=ann, team=team)
        rating_for(ticket, rating="good", when=created, comment="Fine")
    return ann


@pytest.mark.parametrize("url", ["/api/reports/", "/api/reports/volume/"])
def test_anonymous_callers_must_authenticate(api_client: APIClient, url: str) -> None:
    assert api_client.get(url).status_code == 401


@pytest.mark.parametrize("url", ["/api/reports/", "/api/reports/people/"])
def test_requesters_are_refused(api_client: APIClient, url: str) -> None:
    response = as_user(api_client, cast(User, RequesterFactory())).get(url)
    assert response.status_code == 403
    assert response.json() == {"detail": "Only agents and admins can read reports."}


def test_the_list_names_every_report(api_client: APIClient, agent: User) -> None:
    response = as_user(api_client, agent).get("/api/reports/")
    assert response.status_code == 200
    assert [item["name"] for item in response.json()] == list(REPORTS)


@pytest.mark.parametrize("name", list(REPORTS))
def test_agents_and_admins_read_the_figures(api_client: APIClient, agent: User, name: str) -> None:
    for user in (agent, cast(User, AdminFactory())):
        response = as_user(api_client, user).get(f"/api/reports/{name}/?range=7")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        report = report_build(name=name, filters=report_filters(range="7"))
        assert body["name"] == name
        assert body["filters"]["time_zone"] == "Europe/Berlin"
        assert body["filters"]["from"] == report.filters.start.isoformat()
        assert {f["key"]: f["value"] for f in body["figures"]} == {
            f.key: f.value for f in report.figures
        }
        assert [t["key"] for t in body["tables"]] == [t.key for t in report.tables]
        assert len(body["chart"]["labels"]) == len(report.chart.labels)


def test_rows_carry_dates_as_iso_and_numbers_as_numbers(api_client: APIClient, agent: User) -> None:
    body = as_user(api_client, agent).get("/api/reports/volume/?range=7").json()
    per_day = next(t for t in body["tables"] if t["key"] == "per_day")
    assert per_day["columns"][0] == {"key": "date", "label": "Day", "unit": "date"}
    assert per_day["rows"][-1]["date"] == report_filters(range="7").end.isoformat()
    assert per_day["rows"][-1]["created"] == 1
    assert {f["key"]: f["value"] for f in body["figures"]}["created"] == 4


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("from=yesterday", {"from": ["Enter a valid date."]}),
        ("from=2026-02-30", {"from": ["Enter a valid date."]}),
        ("to=0001-01-01", {"to": ["Give a date between 1970 and 2999."]}),
        (
            "from=2026-05-02&to=2026-05-01",
            {"to": ["The last day (to) must not be before the first (from)."]},
        ),
        ("from=2024-01-01&to=2026-01-01", {"to": ["A report covers at most 366 days."]}),
        ("team=99999999", {"team": ["No team has this id."]}),
        ("workflow=abc", {"workflow": ["No workflow has this id."]}),
        ("tag=-1", {"tag": ["No tag has this id."]}),
        ("range=custom", {"from": ["A custom range needs a first day (from)."]}),
        ("range=12", {"range": ["Select a valid choice. 12 is not one of the available choices."]}),
        (
            "channel=PIGEON",
            {"channel": ["Select a valid choice. PIGEON is not one of the available choices."]},
        ),
    ],
)
def test_bad_parameters_get_400_naming_them(
    api_client: APIClient, agent: User, query: str, errors: dict[str, list[str]]
) -> None:
    response = as_user(api_client, agent).get(f"/api/reports/volume/?{query}")
    assert response.status_code == 400
    assert response.json() == errors


def test_an_unknown_report_is_404(api_client: APIClient, agent: User) -> None:
    response = as_user(api_client, agent).get("/api/reports/nonsense/")
    assert response.status_code == 404
    assert "There is no report 'nonsense'" in response.json()["detail"]


def test_the_schema_documents_the_reports(api_client: APIClient, agent: User) -> None:
    schema = as_user(api_client, agent).get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/reports/{name}/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {
        "name",
        "from",
        "to",
        "range",
        "workflow",
        "team",
        "channel",
        "priority",
        "tag",
    } <= names
    assert "/api/reports/" in schema["paths"]
