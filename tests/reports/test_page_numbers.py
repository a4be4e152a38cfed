"""Figures on the report pages as Django's localization writes them in the agent's
language, grouped by thousands (1,234 in English, 1.234 in German), while the CSV and
the figures' data-value stay plain numbers, and the chart's coordinates stay numbers
an SVG reads whatever the language."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import cast

import pytest
from django.test import Client
from django.utils import translation

from knowledge.models import KnowledgeSearchHistory
from nixflow.models import User
from reports.charts import chart_geometry
from reports.figures import Chart, Series
from tests.factories import AgentFactory
from tests.reports.support import at, report_filters
from tests.reports.test_pages import page_tables

pytestmark = pytest.mark.django_db

SEARCHES = 1234
# An SVG attribute that holds one number.
COORDINATE = re.compile(r'\s(?:x|y|x1|x2|y1|y2|cx|cy|r|width|height)="([^"]*)"')


@pytest.fixture
def searched(berlin: object) -> date:
    """Today, when the help center ran 1,234 searches for "toner" that found nothing."""
    today = report_filters(range="7").end
    KnowledgeSearchHistory.objects.bulk_create(
        KnowledgeSearchHistory(
            query="Toner", normalized_query="toner", results_count=0, created=at(today, 10)
        )
        for _ in range(SEARCHES)
    )
    return today


def signed_in(client: Client, language: str) -> Client:
    client.force_login(cast(User, AgentFactory(username="ann", language=language)))
    return client


@pytest.mark.parametrize(
    ("language", "count", "rate"), [("en", "1,234", "100.0%"), ("de", "1.234", "100,0%")]
)
def test_figures_over_999_are_grouped_in_the_agents_language(
    client: Client, searched: date, language: str, count: str, rate: str
) -> None:
    response = signed_in(client, language).get("/admin/reports/selfservice/?range=7")
    content = response.content.decode()
    assert f'data-testid="figure-searches" data-value="{SEARCHES}">{count}<' in content
    assert f'data-testid="figure-no_result" data-value="{SEARCHES}">{count}<' in content
    assert f'data-testid="figure-no_result_rate" data-value="100.0">{rate}<' in content
    tables = page_tables(response.content)
    assert [searched.isoformat(), count, count, "0"] in tables["table-per_day"]
    assert tables["table-failed_queries"][1:] == [["toner", count]]


def test_the_csv_writes_the_figures_plainly_in_any_language(client: Client, searched: date) -> None:
    reader = signed_in(client, "de")
    rows = {}
    for table in ("per_day", "failed_queries"):
        response = reader.get(f"/admin/reports/selfservice/?range=7&format=csv&table={table}")
        rows[table] = list(csv.reader(io.StringIO(response.content.decode())))
    assert [searched.isoformat(), str(SEARCHES), str(SEARCHES), "0"] in rows["per_day"]
    assert rows["failed_queries"][1:] == [["toner", str(SEARCHES)]]


def test_the_chart_on_a_german_page_says_german_figures_at_plain_coordinates(
    client: Client, searched: date
) -> None:
    content = signed_in(client, "de").get("/admin/reports/selfservice/?range=7").content.decode()
    start = content.index('<svg data-testid="report-chart"')
    svg = content[start : content.index("</svg>", start)]
    assert "Suchen: 1.234 insgesamt, höchstens 1.234" in svg
    # The scale's top (2,000: the nice number above 1,234) in German.
    assert ">2.000</text>" in svg
    coordinates = COORDINATE.findall(svg)
    assert coordinates
    for value in coordinates:
        float(value)  # "154,0" would raise: a German decimal comma is no SVG number


def test_the_charts_dates_name_the_month_in_the_readers_language() -> None:
    chart = Chart(
        kind="lines",
        title="Created",
        unit="tickets",
        labels=[date(2026, 12, 3), date(2026, 12, 4)],
        series=[Series(key="created", label="Created", values=[1, 2])],
    )
    with translation.override("de"):
        german = [tick["text"] for tick in chart_geometry(chart)["ticks"]]
    with translation.override("en"):
        english = [tick["text"] for tick in chart_geometry(chart)["ticks"]]
    assert german == ["03 Dez", "04 Dez"]
    assert english == ["03 Dec", "04 Dec"]
