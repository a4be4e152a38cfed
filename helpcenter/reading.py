"""What the help center reads from the knowledge base, on the KB's own visibility rule.

The help center shows published articles only, to everyone: what
``knowledge.selectors.searchable_filter`` allows (public ones to anonymous readers and
requesters, internal ones too to signed-in agents). Drafts, articles in review and
archived ones are for the admin, never for these pages, whoever reads them. Every read
here starts from that filter, so no page can show more than search would find.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from knowledge import selectors
from knowledge.models import (
    KnowledgeArticle,
    KnowledgeArticleRating,
    KnowledgeArticleStatus,
    KnowledgeCategory,
    Visibility,
)

HOME_LIST_SIZE = 8
RELATED_SIZE = 5


def published_articles(*, user: Any) -> QuerySet[KnowledgeArticle]:
    """The list rows (no body) of the articles this reader may find, newest first."""
    return selectors.article_list(user=user, status=KnowledgeArticleStatus.PUBLISHED).filter(
        selectors.searchable_filter(user)
    )


def public_article_addresses() -> QuerySet[KnowledgeArticle]:
    """Slug and last change of every article anonymous readers may find (the sitemap)."""
    anonymous = selectors.searchable_filter(None)
    return KnowledgeArticle.objects.filter(anonymous).order_by("pk").only("slug", "updated")


def most_viewed(*, user: Any) -> list[KnowledgeArticle]:
    return list(published_articles(user=user).order_by("-view_count", "-id")[:HOME_LIST_SIZE])


def recently_updated(*, user: Any) -> list[KnowledgeArticle]:
    return list(published_articles(user=user).order_by("-updated", "-id")[:HOME_LIST_SIZE])


def categories(*, user: Any) -> list[KnowledgeCategory]:
    """Categories with at least one article this reader may find, with ``article_count``.

    The KB's count (``selectors.category_list``) counts what a reader may *open*, which
    for agents includes drafts; the help center counts what it lists, so the count is
    made here on the same filter as the lists.
    """
    return list(_categories_counted(user).order_by("position", "name"))


def _categories_counted(user: Any) -> QuerySet[KnowledgeCategory]:
    """Categories with ``article_count`` articles this reader may find, empty ones left out."""
    shown = Q(articles__status=KnowledgeArticleStatus.PUBLISHED)
    if not selectors.is_agent(user):
        shown &= Q(articles__visibility=Visibility.PUBLIC)
    return KnowledgeCategory.objects.annotate(article_count=Count("articles", filter=shown)).filter(
        article_count__gt=0
    )


def category_by_slug(*, user: Any, slug: str) -> KnowledgeCategory | None:
    """The category, if it holds an article this reader may find (an empty category, or
    one of internal articles only, is not a page anonymous readers can discover)."""
    return _categories_counted(user).filter(slug=slug).first()


def article_by_slug(*, user: Any, slug: str) -> KnowledgeArticle | None:
    """The article with its rendered body and attachments, if this reader may find it;
    None whether it does not exist or is not for them (both are the same 404)."""
    return (
        KnowledgeArticle.objects.filter(selectors.searchable_filter(user), slug=slug)
        .defer("body", "body_text", "search_vector", "title_vector")
        .select_related("category")
        .prefetch_related("attachments")
        .first()
    )


def article_freshness(*, user: Any, slug: str) -> tuple[str, Any] | None:
    """What the article page's ``ETag`` and ``Last-Modified`` are made of, in one small
    query: the article's id, version and last change, its files and category name, and
    the reader's own rating (the page shows it). None when the reader may not find the article."""
    row = (
        KnowledgeArticle.objects.filter(selectors.searchable_filter(user), slug=slug)
        .annotate(files=Count("attachments"), last_file=Max("attachments__created"))
        .values("pk", "version", "updated", "files", "last_file", "category__name")
        .first()
    )
    if row is None:
        return None
    rating = _rating_row(user=user, article_id=row["pk"])
    changes = [row["updated"], row["last_file"], rating and rating["updated"]]
    last = max(change for change in changes if change is not None)
    who = f"user{user.pk}" if getattr(user, "is_authenticated", False) else "anon"
    helpful = "-" if rating is None else str(rating["helpful"])
    # The attachments and the category's name are on the page but change without
    # touching the article's ``updated``: they are in the tag, hashed with the rest.
    facts = [row[name] for name in ("pk", "version", "updated", "files", "last_file")]
    facts += [row["category__name"], who, helpful]
    tag = hashlib.sha256(repr(facts).encode()).hexdigest()[:32]
    return tag, last


def _rating_row(*, user: Any, article_id: int) -> Mapping[str, Any] | None:
    if not getattr(user, "is_authenticated", False):
        return None
    ratings = KnowledgeArticleRating.objects.filter(article_id=article_id, user=user)
    return ratings.values("helpful", "updated").first()


def related_articles(*, user: Any, article: KnowledgeArticle) -> list[KnowledgeArticle]:
    """Other articles of the same category, most read first. The KB has no notion of
    related articles; its category is the nearest thing it keeps."""
    if article.category_id is None:
        return []
    others = published_articles(user=user).filter(category_id=article.category_id)
    others = others.exclude(pk=article.pk).prefetch_related(None)  # a link shows no tags
    return list(others.order_by("-view_count", "-id")[:RELATED_SIZE])


def my_rating(*, user: Any, article: KnowledgeArticle) -> bool | None:
    """The reader's own answer to "Was this helpful?" (None: not given, or anonymous)."""
    row = _rating_row(user=user, article_id=article.pk)
    return None if row is None else bool(row["helpful"])


def is_internal(article: KnowledgeArticle) -> bool:
    return article.visibility == Visibility.INTERNAL
