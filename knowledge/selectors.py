"""Reads of the knowledge base: who sees which articles, versions, categories, tags,
feedback, and the search reports.

Visibility, in one place: requesters and anonymous readers see published public
articles only; agents and admins see internal ones too and, outside search, drafts,
articles in review and archived ones (they write them). Search (``knowledge.search``)
and suggestions for a ticket (``knowledge.suggestions``) show published articles only,
to everyone (``searchable_filter``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from knowledge.models import (
    KnowledgeArticle,
    KnowledgeArticleFeedback,
    KnowledgeArticleRating,
    KnowledgeArticleStatus,
    KnowledgeArticleTicketLink,
    KnowledgeArticleVersion,
    KnowledgeCategory,
    KnowledgeSearchHistory,
    KnowledgeTag,
    Visibility,
)

# Columns a result row shows; the body (and its rendering) stays in the table.
# Alike the article serializer's fields, but database columns (category_id), not the API's names.
LIST_FIELDS = (
    "id",
    "title",
    "slug",
    "summary",
    "kind",
    "status",
    "visibility",
    "category_id",
    "author_id",
    "version",
    "created",
    "updated",
    "published_at",
    "view_count",
    "helpful_count",
    "not_helpful_count",
)


def is_agent(user: Any) -> bool:
    """Whether ``user`` (None and AnonymousUser included) is a signed-in agent."""
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_agent", False))


# --- Articles -----------------------------------------------------------------------------
def article_visibility_filter(user: Any) -> Q:
    """What ``user`` (or an anonymous reader: None or AnonymousUser) may open."""
    if is_agent(user):
        return Q()
    return Q(status=KnowledgeArticleStatus.PUBLISHED, visibility=Visibility.PUBLIC)


def searchable_filter(user: Any) -> Q:
    """What search and suggestions may show ``user``: published articles only."""
    published = Q(status=KnowledgeArticleStatus.PUBLISHED)
    if is_agent(user):
        return published
    return published & Q(visibility=Visibility.PUBLIC)


def article_list(
    *,
    user: Any,
    status: str | None = None,
    visibility: str | None = None,
    kind: str | None = None,
    category: KnowledgeCategory | None = None,
    tag: KnowledgeTag | None = None,
) -> QuerySet[KnowledgeArticle]:
    """Articles ``user`` may see (of the status, visibility, kind, category and tag
    given), with what a list row shows, in a constant number of queries (category and
    author joined, tags prefetched), without the body."""
    articles = KnowledgeArticle.objects.filter(article_visibility_filter(user))
    given = {"status": status, "visibility": visibility, "kind": kind, "category": category}
    articles = articles.filter(**{name: value for name, value in given.items() if value})
    if tag is not None:
        tagged = KnowledgeArticle.tags.through.objects.filter(
            knowledgearticle_id=OuterRef("pk"), knowledgetag_id=tag.pk
        )
        articles = articles.filter(Exists(tagged))
    return (
        articles.only(*LIST_FIELDS, "category__name", "category__slug", "author__username")
        .select_related("category", "author")
        .prefetch_related(Prefetch("tags", queryset=KnowledgeTag.objects.order_by("name")))
        .order_by(F("published_at").desc(nulls_last=True), "-id")
    )


def article_get(*, user: Any, pk: int) -> KnowledgeArticle | None:
    """The article with its body, if ``user`` may see it; None otherwise (the API
    answers 404 whether it does not exist or is not for this reader)."""
    return (
        KnowledgeArticle.objects.filter(article_visibility_filter(user), pk=pk)
        .defer("body_text", "search_vector", "title_vector")
        .select_related("category", "author")
        .prefetch_related("tags", "attachments")
        .first()
    )


def article_is_readable(*, user: Any, article: KnowledgeArticle) -> bool:
    """Published and visible to ``user``: what may be rated, commented on, counted."""
    if article.status != KnowledgeArticleStatus.PUBLISHED:
        return False
    return article.visibility == Visibility.PUBLIC or is_agent(user)


# --- Versions -----------------------------------------------------------------------------
def version_list(*, article: KnowledgeArticle) -> QuerySet[KnowledgeArticleVersion]:
    return (
        KnowledgeArticleVersion.objects.filter(article=article)
        .select_related("author")
        .order_by("-number")
    )


def version_get(*, article: KnowledgeArticle, number: int) -> KnowledgeArticleVersion | None:
    return version_list(article=article).filter(number=number).first()


@dataclass(frozen=True)
class FieldDiff:
    field: str
    changed: bool
    unified: str  # a unified diff, empty when unchanged
    html: str  # a side-by-side HTML table (difflib escapes the texts)


def version_diff(*, old: KnowledgeArticleVersion, new: KnowledgeArticleVersion) -> list[FieldDiff]:
    """Line diffs of title, summary and body between two versions."""
    diffs = []
    html_differ = difflib.HtmlDiff(wrapcolumn=80)
    for name in ("title", "summary", "body"):
        a = getattr(old, name).splitlines()
        b = getattr(new, name).splitlines()
        unified = "\n".join(
            difflib.unified_diff(
                a, b, f"version {old.number}", f"version {new.number}", lineterm="", n=2
            )
        )
        table = (
            html_differ.make_table(
                a, b, f"Version {old.number}", f"Version {new.number}", context=True, numlines=2
            )
            if a != b
            else ""
        )
        diffs.append(FieldDiff(field=name, changed=a != b, unified=unified, html=table))
    return diffs


# --- Categories, tags, ratings, feedback, links ----------------------------------------
def _with_article_counts(queryset: QuerySet[Any], *, user: Any, through: str) -> QuerySet[Any]:
    """``queryset`` (categories or tags) annotated with ``article_count``: the articles
    ``user`` may open that reach each row through the article field ``through`` (a
    correlated count, not a join: one query whatever the number of rows)."""
    visible = KnowledgeArticle.objects.filter(
        article_visibility_filter(user), **{through: OuterRef("pk")}
    )
    counts = visible.order_by().values(through).annotate(n=Count("*")).values("n")
    return queryset.annotate(
        article_count=Coalesce(Subquery(counts, output_field=IntegerField()), 0)
    )


def category_list(*, user: Any) -> QuerySet[KnowledgeCategory]:
    """Every category, with the number of articles ``user`` may open in it."""
    categories = KnowledgeCategory.objects.order_by("position", "name")
    return _with_article_counts(categories, user=user, through="category")


def tag_list(*, user: Any) -> QuerySet[KnowledgeTag]:
    """Every tag, with the number of articles ``user`` may open that have it."""
    return _with_article_counts(KnowledgeTag.objects.order_by("name"), user=user, through="tags")


def rating_summary(*, article: KnowledgeArticle, user: Any) -> dict[str, Any]:
    """``user``'s answer to "Was this helpful?" (``helpful``, None when not rated) and the
    article's current figures (``helpful_count``, ``not_helpful_count``)."""
    mine = None
    if getattr(user, "is_authenticated", False):
        mine = (
            KnowledgeArticleRating.objects.filter(article=article, user=user)
            .values_list("helpful", flat=True)
            .first()
        )
    figures = KnowledgeArticle.objects.filter(pk=article.pk).values(
        "helpful_count", "not_helpful_count"
    )[0]
    return {"helpful": mine, **figures}


def feedback_list(*, article: KnowledgeArticle | None = None) -> QuerySet[KnowledgeArticleFeedback]:
    feedback = KnowledgeArticleFeedback.objects.select_related(
        "article", "author", "resolved_by", "ticket"
    ).order_by("-created", "-id")
    return feedback if article is None else feedback.filter(article=article)


def ticket_links_of_article(*, article: KnowledgeArticle) -> QuerySet[KnowledgeArticleTicketLink]:
    return (
        KnowledgeArticleTicketLink.objects.filter(article=article)
        .select_related("ticket", "linked_by")
        .order_by("-created", "-id")
    )


# --- Reports ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchReport:
    since: datetime
    searches: int
    zero_result_searches: int
    clicked_searches: int
    top_queries: list[dict[str, Any]]
    zero_result_queries: list[dict[str, Any]]

    @property
    def click_through_rate(self) -> float:
        return self.clicked_searches / self.searches if self.searches else 0.0

    @property
    def zero_result_rate(self) -> float:
        return self.zero_result_searches / self.searches if self.searches else 0.0


def search_report(*, since: datetime, limit: int = 25) -> SearchReport:
    """What readers searched for since ``since``: totals, the most frequent queries
    (with their results and click-through) and the queries that found nothing.
    Three grouped queries over the time range (index ``kb_search_created``)."""
    history = KnowledgeSearchHistory.objects.filter(created__gte=since)
    totals = history.aggregate(
        searches=Count("pk"),
        zero=Count("pk", filter=Q(results_count=0)),
        clicked=Count("pk", filter=Q(clicked_article__isnull=False)),
    )
    top = list(
        history.values("normalized_query")
        .annotate(
            searches=Count("pk"),
            clicks=Count("pk", filter=Q(clicked_article__isnull=False)),
            average_results=Avg("results_count", output_field=FloatField()),
            users=Count("user", distinct=True),
        )
        .order_by("-searches", "normalized_query")[:limit]
    )
    for row in top:
        row["click_through_rate"] = row["clicks"] / row["searches"]
    zero = list(
        history.filter(results_count=0)
        .values("normalized_query")
        .annotate(searches=Count("pk"), last_searched=Max("created"))
        .order_by("-searches", "normalized_query")[:limit]
    )
    return SearchReport(
        since=since,
        searches=totals["searches"],
        zero_result_searches=totals["zero"],
        clicked_searches=totals["clicked"],
        top_queries=top,
        zero_result_queries=zero,
    )
