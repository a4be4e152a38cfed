"""Every search is recorded; the reports show top and zero-result queries and clicks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from knowledge import selectors
from knowledge.models import KnowledgeSearchHistory
from nixflow.models import User
from tests.knowledge.conftest import client_for
from tests.knowledge.factories import ArticleFactory, SearchHistoryFactory

pytestmark = pytest.mark.django_db


def _search(user: User | None, q: str) -> dict:
    response = client_for(user).get("/api/knowledge/search/", {"q": q})
    assert response.status_code == 200
    return response.json()


def test_each_search_is_recorded_with_its_normalized_query_user_and_count(reader: User) -> None:
    ArticleFactory(title="Printer jams", body="x")

    _search(reader, "  Printer   JAMS ")
    _search(None, "monitor")

    rows = list(
        KnowledgeSearchHistory.objects.order_by("id").values_list(
            "query", "normalized_query", "user", "results_count"
        )
    )
    assert rows == [
        ("Printer   JAMS", "printer jams", reader.pk, 1),
        ("monitor", "monitor", None, 0),
    ]


def test_a_corrected_search_records_the_correction() -> None:
    ArticleFactory(title="Printer jams", body="x")

    body = _search(None, "priner ")

    assert body["corrected_query"] == "printer"
    assert KnowledgeSearchHistory.objects.get().corrected_query == "printer"


def test_the_first_click_of_a_search_is_recorded(reader: User) -> None:
    first = ArticleFactory(title="Printer jams", body="x")
    second = ArticleFactory(title="Printer toner", body="x")
    search_id = _search(reader, "printer")["search_id"]
    url = f"/api/knowledge/search/{search_id}/click/"

    assert client_for(reader).post(url, {"article": first.pk}, format="json").status_code == 204
    assert client_for(reader).post(url, {"article": second.pk}, format="json").status_code == 204

    row = KnowledgeSearchHistory.objects.get()
    assert row.clicked_article == first
    assert row.clicked_at is not None


def test_clicks_on_unknown_searches_are_harmless_and_hidden_articles_are_refused(
    reader: User,
) -> None:
    public = ArticleFactory(title="Printer jams")
    internal = ArticleFactory(title="Internal", visibility="INTERNAL")
    search_id = _search(reader, "printer")["search_id"]

    unknown = client_for(reader).post(
        "/api/knowledge/search/00000000-0000-0000-0000-000000000000/click/",
        {"article": public.pk},
        format="json",
    )
    hidden = client_for(reader).post(
        f"/api/knowledge/search/{search_id}/click/", {"article": internal.pk}, format="json"
    )
    bad = client_for(reader).post(
        f"/api/knowledge/search/{search_id}/click/", {"article": "x"}, format="json"
    )

    assert unknown.status_code == 204
    assert hidden.status_code == 400
    assert bad.status_code == 400
    assert KnowledgeSearchHistory.objects.get().clicked_article is None


def test_report_shows_top_and_zero_result_queries_and_click_through(reader: User) -> None:
    article = ArticleFactory(title="Printer jams", body="x")
    for _ in range(3):
        search_id = _search(reader, "printer")["search_id"]
    client_for(reader).post(
        f"/api/knowledge/search/{search_id}/click/", {"article": article.pk}, format="json"
    )
    _search(None, "PRINTER")
    _search(None, "holiday calendar")
    _search(reader, "holiday calendar")
    SearchHistoryFactory(
        query="ancient", results_count=0, created=timezone.now() - timedelta(days=40)
    )

    report = selectors.search_report(since=timezone.now() - timedelta(days=30))

    assert (report.searches, report.zero_result_searches, report.clicked_searches) == (6, 2, 1)
    top = {row["normalized_query"]: row for row in report.top_queries}
    assert list(top) == ["printer", "holiday calendar"]
    assert (top["printer"]["searches"], top["printer"]["clicks"]) == (4, 1)
    assert top["printer"]["click_through_rate"] == 0.25
    assert [(r["normalized_query"], r["searches"]) for r in report.zero_result_queries] == [
        ("holiday calendar", 2)
    ]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_history_row_is_written_in_one_statement(
    reader: User,
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from knowledge import services

    with CaptureQueriesContext(connection) as context:
        row = services.search_record(
            query="VPN", normalized_query="vpn", user=reader, results_count=7
        )

    assert len(context) == 1
    stored = KnowledgeSearchHistory.objects.get(pk=row.pk)
    assert (stored.query, stored.user, stored.results_count, stored.token) == (
        "VPN",
        reader,
        7,
        row.token,
    )
