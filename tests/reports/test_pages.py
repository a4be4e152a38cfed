"""The reports in the admin: who may see them, what each page shows, and that each
table's CSV holds exactly the cells of the table on the page (its figures plain, where
the page writes them in the agent's language)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any, cast

import pytest
from django.test import Client
from django.utils.formats import number_format

from nixflow.models import Role, Team, User
from reports.selectors import REPORTS, report_build
from tests.factories import AgentFactory, CommentFactory, TeamFactory, UserFactory
from tests.reports.support import at, rating_for, report_filters, ticket_at

pytestmark = pytest.mark.django_db


class Tables(HTMLParser):
    """Every table of a page by its data-testid: its rows of cell texts, header first."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.cell: list[str] | None = None
        self.in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.current = dict(attrs).get("data-testid") or ""
            self.tables[self.current] = []
        elif tag == "tr" and self.current is not None:
            self.tables[self.current].append([])
        elif tag in ("td", "th") and self.current is not None:
            self.cell = []
        elif tag == "caption":
            self.in_caption = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.current = None
        elif tag in ("td", "th") and self.current is not None and self.cell is not None:
            self.tables[self.current][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "caption":
            self.in_caption = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None and not self.in_caption:
            self.cell.append(data)


def page_tables(content: bytes) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(content.decode())
    return parser.tables


def as_shown(cell: str, unit: str) -> str:
    """A CSV cell as the page writes it: counts and percentages localized by Django
    (grouped by thousands in any case), everything else as it is."""
    if cell == "—":
        return cell
    if unit == "count":
        return number_format(int(cell), force_grouping=True)
    if unit == "percent":
        return f"{number_format(float(cell.removesuffix('%')), 1, force_grouping=True)}%"
    return cell


@pytest.fixture
def desk(berlin: object) -> dict[str, Any]:
    agent = cast(User, AgentFactory(username="ann"))
    team = cast(Team, TeamFactory(name="Hardware"))
    today = at(report_filters(range="7").end, 10)
    for days in range(6):
        created = today - timedelta(days=days)
        ticket = ticket_at(created, created + timedelta(hours=3), assignee=agent, team=team)
        CommentFactory(ticket=ticket, author=agent, created=created + timedelta(minutes=5))
        rating_for(ticket, rating="good" if days % 2 else "bad", when=created, comment=f"c{days}")
    ticket_at(today, None)
    return {"agent": agent, "team": team}


@pytest.fixture
def agent_client(client: Client, desk: dict[str, Any]) -> Client:
    client.force_login(desk["agent"])
    return client


def test_anonymous_visitors_are_sent_to_the_login(client: Client, db: None) -> None:
    for url in ("/admin/reports/", "/admin/reports/volume/", "/admin/reports/volume.csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_a_requester_made_staff_is_refused(client: Client, db: None) -> None:
    client.force_login(
        cast(User, UserFactory(username="mistake", role=Role.REQUESTER, is_staff=True))
    )
    for url in ("/admin/reports/", "/admin/reports/people/", "/admin/reports/people.csv"):
        assert client.get(url).status_code == 403


def test_the_desk_links_the_reports_for_agents(agent_client: Client) -> None:
    assert b'data-testid="reports-link"' in agent_client.get("/admin/").content
    index = agent_client.get("/admin/reports/")
    assert index.status_code == 200
    for name in REPORTS:
        assert f'data-testid="report-link-{name}"'.encode() in index.content


@pytest.mark.parametrize("name", list(REPORTS))
def test_each_page_shows_the_reports_figures_and_every_tables_csv(
    agent_client: Client, name: str
) -> None:
    response = agent_client.get(f"/admin/reports/{name}/?range=7")
    assert response.status_code == 200
    content = response.content.decode()
    report = report_build(name=name, filters=report_filters(range="7"))
    for figure in report.figures:
        assert f'data-testid="figure-{figure.key}"' in content
    assert 'data-testid="report-chart"' in content or "Nothing to draw." in content
    assert "<title" in content
    assert "<desc" in content
    tables = page_tables(response.content)
    for table in report.tables:
        shown = tables[f"table-{table.key}"]
        csv_response = agent_client.get(
            f"/admin/reports/{name}/?range=7&format=csv&table={table.key}"
        )
        assert csv_response.status_code == 200
        assert csv_response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(csv_response.content.decode())))
        assert rows[0] == shown[0]  # the headers
        body = shown[1:] if table.rows else []
        units = [column.unit for column in table.columns]
        assert [
            [as_shown(cell, unit) for cell, unit in zip(row, units, strict=True)]
            for row in rows[1:]
        ] == body
        assert len(rows) - 1 == len(table.rows)
    # The .csv address gives the first table.
    first = agent_client.get(f"/admin/reports/{name}.csv?range=7")
    assert (
        first.content
        == agent_client.get(
            f"/admin/reports/{name}/?range=7&format=csv&table={report.tables[0].key}"
        ).content
    )


def test_the_page_shows_the_figures_of_the_data(agent_client: Client) -> None:
    content = agent_client.get("/admin/reports/volume/?range=7").content.decode()
    assert 'data-testid="figure-created" data-value="7"' in content
    assert 'data-testid="figure-resolved" data-value="6"' in content
    satisfaction = agent_client.get("/admin/reports/satisfaction/?range=7").content.decode()
    assert 'data-testid="figure-score" data-value="50.0">50.0%<' in satisfaction


def test_filters_narrow_the_page_and_its_csv(agent_client: Client, desk: dict[str, Any]) -> None:
    url = f"/admin/reports/volume/?range=7&team={desk['team'].pk}"
    assert 'data-testid="figure-created" data-value="6"' in agent_client.get(url).content.decode()
    rows = list(
        csv.reader(
            io.StringIO(agent_client.get(url + "&format=csv&table=by_team").content.decode())
        )
    )
    assert rows == [["Team", "Created", "Resolved", "Reopened"], ["Hardware", "6", "6", "0"]]


def test_bad_filters_are_said_and_the_last_30_days_shown(agent_client: Client) -> None:
    response = agent_client.get("/admin/reports/volume/?from=2026-02-30&team=99999")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Enter a valid date." in content
    assert "No team has this id." in content
    assert "Showing the last 30 days instead." in content


def test_unknown_reports_and_tables_are_not_found(agent_client: Client) -> None:
    assert agent_client.get("/admin/reports/nonsense/").status_code == 404
    assert agent_client.get("/admin/reports/volume/?format=csv&table=nonsense").status_code == 404
