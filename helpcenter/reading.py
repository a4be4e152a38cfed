"""What the help center reads from the knowledge base, on the KB's own visibility rule.

The help center shows published articles only, to everyone: what
``knowledge.selectors.searchable_filter`` allows (public ones to anonymous readers and
requesters, internal ones too to signed-in agents). Drafts, articles in review and
archived ones are for the admin, never for these pages, whoever reads them. Every read
here starts from that filter, so no page can show more than search would find.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from knowledge import selectors
from knowledge.models import (
    KnowledgeArticle,
    KnowledgeArticleAttachment,
    KnowledgeArticleFormerSlug,
    KnowledgeArticleStatus,
    KnowledgeCategory,
    KnowledgeCategoryFormerSlug,
    KnowledgeTag,
    Visibility,
)

HOME_LIST_SIZE = 8
RELATED_SIZE = 5
RELATED_TAG_WINDOW = 200
# The search page's filter lists and the home page's categories change when articles
# move or are published: a minute late is fine.
FILTER_LISTS_SECONDS = 60


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
    """Read in order of views from an index (``kb_article_popular``), stopped at eight."""
    return list(published_articles(user=user).order_by("-view_count", "-id")[:HOME_LIST_SIZE])


def recently_updated(*, user: Any) -> list[KnowledgeArticle]:
    return list(published_articles(user=user).order_by("-updated", "-id")[:HOME_LIST_SIZE])


def categories(*, user: Any) -> list[KnowledgeCategory]:
    """Categories with at least one article this reader may find, with ``article_count``.

    The KB's count (``selectors.category_list``) counts what a reader may *open*, which
    for agents includes drafts; the help center counts what it lists, so the count is
    made here on the same filter as the lists. Counting every article takes a third of
    a second at 100,000, so the list is kept a minute in the cache per audience (the
    home page's counts may be a minute late).
    """
    key = f"helpcenter:categories:{_audience(user)}"
    found: list[KnowledgeCategory] | None = cache.get(key)
    if found is None:
        found = list(_categories_counted(user).order_by("position", "name"))
        cache.set(key, found, FILTER_LISTS_SECONDS)
    return found


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


def category_moved_to(*, user: Any, slug: str) -> str | None:
    """The current slug of the category that had ``slug`` before, if this reader may
    find it there (else None: the same 404 as a category that never existed)."""
    former = KnowledgeCategoryFormerSlug.objects.filter(slug=slug).values("category__slug")
    current = former.first()
    if current is None or category_by_slug(user=user, slug=current["category__slug"]) is None:
        return None
    return str(current["category__slug"])


def filter_categories(*, user: Any) -> list[KnowledgeCategory]:
    """The categories the search page offers as a filter: those holding an article this
    reader may find. Kept a minute in the cache, per audience (anonymous readers and
    requesters see one list, agents another): made on every search, the EXISTS per
    category costs little, but the tags' below do not."""
    key = f"helpcenter:filter-categories:{_audience(user)}"
    found: list[KnowledgeCategory] | None = cache.get(key)
    if found is None:
        shown = KnowledgeArticle.objects.filter(selectors.searchable_filter(user))
        found = list(
            KnowledgeCategory.objects.filter(Exists(shown.filter(category=OuterRef("pk"))))
            .only("name", "slug")
            .order_by("position", "name")
        )
        cache.set(key, found, FILTER_LISTS_SECONDS)
    return found


def filter_tags(*, user: Any) -> list[KnowledgeTag]:
    """The tags the search page offers as a filter (those of an article this reader may
    find, as ``filter_categories``). Finding them joins the tags' links with the articles
    (a fifth of a second at 100,000 articles): hence the cache."""
    key = f"helpcenter:filter-tags:{_audience(user)}"
    found: list[KnowledgeTag] | None = cache.get(key)
    if found is None:
        shown = KnowledgeArticle.objects.filter(selectors.searchable_filter(user))
        found = list(
            KnowledgeTag.objects.filter(Exists(shown.filter(tags=OuterRef("pk")))).order_by("name")
        )
        cache.set(key, found, FILTER_LISTS_SECONDS)
    return found


def _audience(user: Any) -> str:
    """Who a list made on ``searchable_filter`` is for: the rule has two answers."""
    return "agents" if selectors.is_agent(user) else "public"


def article_by_slug(*, user: Any, slug: str) -> KnowledgeArticle | None:
    """The article, if this reader may find it, for what is sent about it (a rating, a
    comment, a search's click); None whether it does not exist or is not for them (both
    are the same 404). The page reads its article with ``article_freshness``, its files
    with ``attachments_of`` (asked only when it has some)."""
    return (
        KnowledgeArticle.objects.filter(selectors.searchable_filter(user), slug=slug)
        .defer("body", "body_html", "body_text", "search_vector", "title_vector")
        .first()
    )


def attachments_of(article: KnowledgeArticle) -> list[KnowledgeArticleAttachment]:
    return list(
        KnowledgeArticleAttachment.objects.filter(article=article).order_by("created", "id")
    )


def article_moved_to(*, user: Any, slug: str) -> str | None:
    """The current slug of the article that had ``slug`` before, if this reader may find
    it (else None: an old address of an article withdrawn, or not for this reader, is
    the same 404 as one that never existed). One query."""
    former = KnowledgeArticleFormerSlug.objects.filter(
        slug=slug, article__in=KnowledgeArticle.objects.filter(selectors.searchable_filter(user))
    )
    current = former.values_list("article__slug", flat=True).first()
    return None if current is None else str(current)


@dataclass(frozen=True)
class Freshness:
    """What the article page's conditional GET is answered from, and the page itself:
    the article as the page shows it (with its category set and its tags), whether it
    has files, and the reader's own rating."""

    etag: str
    last_modified: datetime
    article: KnowledgeArticle
    tags: list[KnowledgeTag]
    files: int
    helpful: bool | None  # the reader's own answer; None: not given


# The article's columns the page shows (the body as rendered on save, not its Markdown).
_PAGE_FIELDS = (
    "id", "title", "slug", "summary", "body_html", "kind", "status", "visibility",
    "category_id", "version", "updated", "published_at",
)  # fmt: skip


def article_freshness(*, user: Any, slug: str, reader_key: str = "") -> Freshness | None:
    """The article this reader may find at ``slug``, with what its page's ``ETag`` and
    ``Last-Modified`` are made of: its id, version and last change, its files, its
    category's name, and the reader's own rating (the page shows it; an anonymous
    reader's is found by ``reader_key``). None when the reader may not find it.

    One SQL statement, with ``searchable_filter``'s rule as ``knowledge.search`` writes
    it: every article page asks it first, a 304 asks nothing else, and a full page takes
    the article from it too (the ORM's three queries for the article, its category and
    tags cost more CPU than the rest of the page's reads). A 304 carries the rendered
    body from the database for nothing: a few kilobytes on a local socket."""
    params: dict[str, Any] = {"slug": slug, "published": KnowledgeArticleStatus.PUBLISHED}
    visible = ""
    if not selectors.is_agent(user):
        visible = "AND a.visibility = %(public)s"
        params["public"] = Visibility.PUBLIC
    if getattr(user, "is_authenticated", False):
        mine, params["user"] = "r.user_id = %(user)s", user.pk
    elif reader_key:
        mine, params["key"] = "r.user_id IS NULL AND r.reader_key = %(key)s", reader_key
    else:
        mine = "false"
    columns = ", ".join(f"a.{name}" for name in _PAGE_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(_FRESHNESS_SQL.format(columns=columns, visible=visible, mine=mine), params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = row[: len(_PAGE_FIELDS)]
    category_name, category_slug, files, last_file, helpful, rated, tags = row[len(values) :]
    article = KnowledgeArticle.from_db(None, _PAGE_FIELDS, values)
    article.category = (
        KnowledgeCategory.from_db(
            None, ("id", "name", "slug"), (article.category_id, category_name, category_slug)
        )
        if article.category_id is not None
        else None
    )
    if isinstance(tags, str):  # json_agg arrives decoded by psycopg; a string elsewhere
        tags = json.loads(tags)
    changes = [article.updated, last_file, rated]
    last = max(change for change in changes if change is not None)
    who = f"user{user.pk}" if getattr(user, "is_authenticated", False) else "anon"
    # The attachments, category's name and tags are on the page but change without
    # touching the article's ``updated``: they are in the tag, hashed with the rest.
    facts = [article.pk, article.version, article.updated, files, last_file, category_name]
    facts += [tags, who, "-" if helpful is None else str(helpful)]
    return Freshness(
        etag=hashlib.sha256(repr(facts).encode()).hexdigest()[:32],
        last_modified=last,
        article=article,
        tags=[KnowledgeTag.from_db(None, ("id", "name", "slug"), tag) for tag in tags],
        files=files,
        helpful=helpful,
    )


_FRESHNESS_SQL = """
SELECT {columns}, c.name, c.slug,
       (SELECT count(*) FROM knowledge_knowledgearticleattachment f WHERE f.article_id = a.id),
       (SELECT max(f.created) FROM knowledge_knowledgearticleattachment f
        WHERE f.article_id = a.id),
       mine.helpful, mine.updated,
       (SELECT coalesce(json_agg(json_build_array(t.id, t.name, t.slug) ORDER BY t.name), '[]')
        FROM knowledge_knowledgearticle_tags at
        JOIN knowledge_knowledgetag t ON t.id = at.knowledgetag_id
        WHERE at.knowledgearticle_id = a.id)
FROM knowledge_knowledgearticle a
LEFT JOIN knowledge_knowledgecategory c ON c.id = a.category_id
LEFT JOIN LATERAL (
    SELECT r.helpful, r.updated FROM knowledge_knowledgearticlerating r
    WHERE r.article_id = a.id AND {mine} LIMIT 1
) mine ON true
WHERE a.slug = %(slug)s AND a.status = %(published)s {visible}
"""


def related_articles(
    *, user: Any, article: KnowledgeArticle, tags: list[KnowledgeTag]
) -> list[KnowledgeArticle]:
    """Up to ``RELATED_SIZE`` other articles this reader may find: the most read of the
    article's category, then, when that leaves room, the most read of a window of
    articles sharing one of its tags. The KB keeps no relation of its own; category and
    tags are the nearest things it has (``tags``: the article's).

    The category's list is read from an index in order of views
    (``kb_article_category_popular``) and stops at the first few. Tags are shared by
    thousands of articles and no index orders them by views, so the second list ranks
    only the first ``RELATED_TAG_WINDOW`` of them it finds, the way search bounds its
    ranking."""
    related: list[KnowledgeArticle] = []
    # A link and its summary: the few columns the list shows, no joins to build.
    shown = (
        KnowledgeArticle.objects.filter(selectors.searchable_filter(user))
        .exclude(pk=article.pk)
        .only("id", "title", "slug", "summary", "visibility")
    )
    if article.category_id is not None:
        same = shown.filter(category_id=article.category_id)
        related = list(same.order_by("-view_count", "-id")[:RELATED_SIZE])
    tag_ids = [tag.pk for tag in tags]
    if len(related) < RELATED_SIZE and tag_ids:
        through = KnowledgeArticle.tags.through.objects
        window = (
            through.filter(knowledgetag_id__in=tag_ids)
            .exclude(knowledgearticle_id=article.pk)
            .values("knowledgearticle_id")[:RELATED_TAG_WINDOW]
        )
        tagged = shown.filter(pk__in=window).exclude(pk__in=[a.pk for a in related])
        related += list(tagged.order_by("-view_count", "-id")[: RELATED_SIZE - len(related)])
    return related


def is_internal(article: KnowledgeArticle) -> bool:
    return article.visibility == Visibility.INTERNAL
