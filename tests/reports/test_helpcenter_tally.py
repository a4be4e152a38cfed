"""The help-center tallies (ArticleViewDayTally, SearchDayTally, kept by triggers of
migration reports 0010) always equal counting the views and searches by desk day,
however they are written, compacted or rebuilt; and the Self-service report read from
them equals the report counted from the rows."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from knowledge.models import KnowledgeArticleView, KnowledgeSearchHistory
from reports.figures import Report
from reports.models import ArticleViewDayTally, SearchDayTally, TallyZone
from reports.selectors import report_build
from reports.services import tally_compact, tally_rebuild
from tests.knowledge.factories import ArticleFactory, SearchHistoryFactory, ViewFactory
from tests.reports.support import AUTUMN, BERLIN, SPRING, at, report_filters

pytestmark = pytest.mark.django_db


def tallied() -> Counter:
    counts: Counter = Counter()
    for v in ArticleViewDayTally.objects.all():
        counts[("view", v.day, v.article_id)] += v.views
    for s in SearchDayTally.objects.all():
        counts[("search", s.day, s.normalized_query)] += s.searches
        counts[("none", s.day, s.normalized_query)] += s.no_result
    return +counts


def counted() -> Counter:
    counts: Counter = Counter()
    for view in KnowledgeArticleView.objects.all():
        counts[("view", view.viewed_at.astimezone(BERLIN).date(), view.article_id)] += 1
    for search in KnowledgeSearchHistory.objects.all():
        key = (search.created.astimezone(BERLIN).date(), search.normalized_query)
        counts[("search", *key)] += 1
        counts[("none", *key)] += search.results_count == 0
    return +counts


def traffic() -> tuple[Any, Any]:
    printer, vpn = ArticleFactory(title="Printer jams"), ArticleFactory(title="VPN")
    for day in (SPRING, AUTUMN):
        for hour, article in [(0, printer), (1, printer), (2, vpn), (23, printer)]:
            ViewFactory(article=article, viewed_at=at(day, hour, 30))
        for hour, query, found in [(0, "printer", 2), (1, "toner", 0), (23, "fax", 0)]:
            SearchHistoryFactory(query=query, results_count=found, created=at(day, hour, 45))
    return printer, vpn


def test_helpcenter_tallies_equal_the_rows_through_every_kind_of_write(berlin: object) -> None:
    printer, vpn = traffic()
    assert tallied() == counted()
    assert sum(v for k, v in tallied().items() if k[0] == "view") == 8
    # Changes of counted columns in bulk; a click (no counted column) changes nothing.
    KnowledgeArticleView.objects.filter(article=vpn).update(viewed_at=at(SPRING, 23, 59))
    KnowledgeSearchHistory.objects.filter(normalized_query="toner").update(results_count=3)
    KnowledgeSearchHistory.objects.filter(normalized_query="fax").update(
        normalized_query="facsimile", created=at(AUTUMN + timedelta(days=1), 1)
    )
    KnowledgeSearchHistory.objects.update(clicked_at=at(AUTUMN, 12))
    assert tallied() == counted()
    KnowledgeArticleView.objects.bulk_create(
        [
            KnowledgeArticleView(article=vpn, viewer_key=f"k{n}", viewed_at=at(AUTUMN, n))
            for n in (1, 2)
        ]
    )
    assert tallied() == counted()
    # Deleting: a purge of old searches, an article with its views.
    KnowledgeSearchHistory.objects.filter(created__lt=at(AUTUMN, 0)).delete()
    printer_id = printer.pk
    printer.delete()
    assert tallied() == counted()
    assert ArticleViewDayTally.objects.filter(article_id=printer_id).exists()  # netted...
    assert not any(k[2] == printer_id for k in tallied() if k[0] == "view")  # ...to zero


def test_helpcenter_tallies_compact_and_rebuild_to_the_same_counts(berlin: object) -> None:
    traffic()
    KnowledgeArticleView.objects.update(viewed_at=at(SPRING, 12))
    before, rows = tallied(), ArticleViewDayTally.objects.count()
    assert tally_compact().folded > 0
    assert ArticleViewDayTally.objects.count() < rows
    assert tallied() == before == counted()
    tally_rebuild(zone=BERLIN)
    assert tallied() == before


def _content(report: Report) -> tuple[Any, ...]:
    return (
        [(f.key, f.value) for f in report.figures],
        [(s.key, s.values) for s in report.chart.series] if report.chart else None,
        [(t.key, t.rows) for t in report.tables],
    )


def test_selfservice_from_the_tallies_equals_the_report_from_the_rows(berlin: object) -> None:
    traffic()
    ViewFactory(article=ArticleFactory(title="Another"), viewed_at=at(AUTUMN, 5))
    for params in (
        {"from": "2026-03-01", "to": "2026-11-30", "interval": "week"},
        {"from": "2026-03-29", "to": "2026-03-29"},
        {"from": "2026-10-24", "to": "2026-10-26"},
    ):
        from_tallies = report_build(name="selfservice", filters=report_filters(**params))
        TallyZone.objects.update(time_zone="UTC")  # the tallies no longer answer
        from_rows = report_build(name="selfservice", filters=report_filters(**params))
        TallyZone.objects.update(time_zone="Europe/Berlin")
        assert _content(from_tallies) == _content(from_rows), params
    whole = report_build(
        name="selfservice", filters=report_filters(**{"from": "2026-03-01", "to": "2026-11-30"})
    )
    figures = {f.key: f.value for f in whole.figures}
    assert (figures["searches"], figures["no_result"], figures["views"]) == (6, 4, 9)
    top = next(t for t in whole.tables if t.key == "top_articles").rows
    assert top[0] == {"article": "Printer jams", "views": 6}
