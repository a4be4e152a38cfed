"""Self-service: what the help center answered before it became a ticket.

- searches: knowledge-base searches run in the range (``KnowledgeSearchHistory``);
- with no result: those that found no article;
- article views: counted reads (``KnowledgeArticleView``: a reader once per article per
  window) in the range;
- deflected requests: portal "new request" visits where a suggested article was opened
  in the range and no ticket followed within the deflection window
  (``portal.selectors.deflected_attempts``);
- top articles: the most viewed in the range; top failed queries: the searches most
  often run without a result, by their normalised text.

Searches and views are summed from ``SearchDayTally`` and ``ArticleViewDayTally``
(kept by triggers, cut in the tallies' zone) when that zone is the report's, else
counted from the rows; both give the same figures (tests/reports/test_helpcenter_tally.py).
Requests started with suggestions are summed from ``AttemptDayTally`` likewise.
Deflected requests are summed from ``DeflectionDayTally`` for the days whose windows are
all over, when it was counted in the report's zone with the portal's window now, and
counted from the attempts for the days after (tests/reports/test_deflection_tally.py).

The ticket filters do not apply: none of these rows belongs to a ticket.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.apps import apps
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reports.figures import (
    Chart,
    Column,
    Figure,
    Report,
    Series,
    Table,
    bucket_of,
    buckets,
    percent,
)
from reports.figures.volume import tally_in_zone
from reports.filters import ReportFilters, day_start
from reports.models import (
    ArticleViewDayTally,
    AttemptDayTally,
    DeflectionDayTally,
    SearchDayTally,
    TallyZone,
)
from reports.services import deflection_minutes

TOP = 10


Per = dict[datetime.date, dict[str, int]]
Rows = list[dict[str, Any]]


def _from_tallies(filters: ReportFilters, per: Per) -> tuple[Rows, Rows]:
    """Searches and views per day into ``per``; the top articles and failed queries.
    Summed from ``SearchDayTally`` and ``ArticleViewDayTally`` (a few rows per day)."""
    from knowledge.models import KnowledgeArticle

    in_range = {"day__gte": filters.start, "day__lte": filters.end}
    searches = SearchDayTally.objects.filter(**in_range).order_by()
    for day, n, none in (
        searches.values("day")
        .annotate(n=Sum("searches"), none=Sum("no_result"))
        .values_list("day", "n", "none")
    ):
        bucket = per[bucket_of(day, filters)]
        bucket["searches"] += n
        bucket["no_result"] += none
    views = ArticleViewDayTally.objects.filter(**in_range).order_by()
    for day, n in views.values("day").annotate(n=Sum("views")).values_list("day", "n"):
        per[bucket_of(day, filters)]["views"] += n
    per_article = dict(
        views.values("article_id")
        .annotate(n=Sum("views"))
        .filter(n__gt=0)
        .values_list("article_id", "n")
    )
    titles = dict(
        KnowledgeArticle.objects.filter(pk__in=list(per_article)).values_list("pk", "title")
    )
    # Ordered as the rows' query orders: most viewed first, then by title.
    top_articles = sorted(
        ({"article": titles[pk], "views": n} for pk, n in per_article.items() if pk in titles),
        key=lambda r: (-r["views"], r["article"]),
    )[:TOP]
    failed = [
        {"query": query, "searches": n}
        for query, n in searches.values("normalized_query")
        .annotate(n=Sum("no_result"))
        .filter(n__gt=0)
        .order_by("-n", "normalized_query")
        .values_list("normalized_query", "n")[:TOP]
    ]
    return top_articles, failed


def _from_rows(filters: ReportFilters, per: Per) -> tuple[Rows, Rows]:
    """As ``_from_tallies``, counted from the searches and views themselves (the
    tallies are cut in another zone)."""
    from knowledge.models import KnowledgeArticleView, KnowledgeSearchHistory

    searches = KnowledgeSearchHistory.objects.filter(
        created__gte=filters.since, created__lt=filters.until
    ).order_by()
    for row in (
        searches.annotate(day=TruncDate("created", tzinfo=filters.zone))
        .values("day")
        .annotate(n=Count("id"), none=Count("id", filter=Q(results_count=0)))
    ):
        bucket = per[bucket_of(row["day"], filters)]
        bucket["searches"] += row["n"]
        bucket["no_result"] += row["none"]
    views = KnowledgeArticleView.objects.filter(
        viewed_at__gte=filters.since, viewed_at__lt=filters.until
    ).order_by()
    for row in (
        views.annotate(day=TruncDate("viewed_at", tzinfo=filters.zone))
        .values("day")
        .annotate(n=Count("id"))
    ):
        per[bucket_of(row["day"], filters)]["views"] += row["n"]
    top_articles = [
        {"article": row["article__title"], "views": row["n"]}
        for row in views.values("article_id", "article__title")
        .annotate(n=Count("id"))
        .order_by("-n", "article__title")[:TOP]
    ]
    failed = [
        {"query": row["normalized_query"], "searches": row["n"]}
        for row in searches.filter(results_count=0)
        .values("normalized_query")
        .annotate(n=Count("id"))
        .order_by("-n", "normalized_query")[:TOP]
    ]
    return top_articles, failed


def _deflected(filters: ReportFilters) -> int:
    """Attempts deflected with their first opening in the range: ``DeflectionDayTally``
    summed over the range's days whose attempts' windows are all over (days before the
    one holding now less the window), and the rest counted from the attempts
    (``portal.selectors.deflection_count``); all counted from the attempts when the
    tally was cut in another zone or counted with another window."""
    from portal.selectors import deflection_count, deflection_window

    now = timezone.now()
    kept = TallyZone.objects.filter(pk=1).values_list("time_zone", "deflection_window").first()
    if kept != (filters.zone.key, deflection_minutes()):
        return deflection_count(since=filters.since, until=filters.until, now=now)
    over = (now - deflection_window()).astimezone(filters.zone).date()
    last = min(filters.end, over - datetime.timedelta(days=1))
    deflected = 0
    if last >= filters.start:
        summed = DeflectionDayTally.objects.filter(day__gte=filters.start, day__lte=last)
        deflected = summed.aggregate(n=Sum("deflected"))["n"] or 0
    rest = max(filters.start, last + datetime.timedelta(days=1))
    if rest <= filters.end:
        deflected += deflection_count(
            since=day_start(rest, filters.zone), until=filters.until, now=now
        )
    return deflected


def selfservice_report(filters: ReportFilters) -> Report:
    keys: list[datetime.date] = buckets(filters)
    per: Per = {k: {"searches": 0, "no_result": 0, "views": 0} for k in keys}
    top_articles: Rows = []
    failed: Rows = []
    attempts = deflected = 0
    if apps.is_installed("knowledge"):
        counted = _from_tallies if tally_in_zone(filters) else _from_rows
        top_articles, failed = counted(filters, per)
    if apps.is_installed("portal"):
        from portal.models import DeflectionAttempt

        if tally_in_zone(filters):
            summed = AttemptDayTally.objects.filter(day__gte=filters.start, day__lte=filters.end)
            attempts = summed.aggregate(n=Sum("attempts"))["n"] or 0
        else:
            attempts = DeflectionAttempt.objects.filter(
                created__gte=filters.since, created__lt=filters.until
            ).count()
        deflected = _deflected(filters)
    total = {
        name: sum(b[name] for b in per.values()) for name in ("searches", "no_result", "views")
    }
    return Report(
        name="selfservice",
        title=_("Self-service"),
        filters=filters,
        ticket_filters=False,
        figures=[
            Figure("searches", _("Searches"), total["searches"]),
            Figure("no_result", _("Searches with no result"), total["no_result"]),
            Figure(
                "no_result_rate",
                _("No-result rate"),
                percent(total["no_result"], total["searches"]),
                "percent",
            ),
            Figure("views", _("Article views"), total["views"]),
            Figure("attempts", _("Requests started with suggestions"), attempts),
            Figure("deflected", _("Deflected requests"), deflected),
        ],
        chart=Chart(
            kind="lines",
            title=_("Searches and article views"),
            unit="count",
            labels=list(keys),
            series=[
                Series("searches", _("Searches"), [per[k]["searches"] for k in keys]),
                Series("no_result", _("No result"), [per[k]["no_result"] for k in keys]),
                Series("views", _("Article views"), [per[k]["views"] for k in keys]),
            ],
        ),
        tables=[
            Table(
                key="per_day" if filters.interval == "day" else "per_week",
                title=_("Per day") if filters.interval == "day" else _("Per week"),
                columns=[
                    Column("date", _("Day") if filters.interval == "day" else _("Week of"), "date"),
                    Column("searches", _("Searches"), "count"),
                    Column("no_result", _("No result"), "count"),
                    Column("views", _("Article views"), "count"),
                ],
                rows=[{"date": k, **per[k]} for k in keys],
            ),
            Table(
                "top_articles",
                _("Top articles"),
                [Column("article", _("Article")), Column("views", _("Views"), "count")],
                top_articles,
            ),
            Table(
                "failed_queries",
                _("Top failed queries"),
                [Column("query", _("Query")), Column("searches", _("Searches"), "count")],
                failed,
            ),
        ],
    )
