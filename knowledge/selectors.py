"""Reads of the knowledge base: who sees which articles, versions, search, reports.

Visibility, in one place: requesters and anonymous readers see published public
articles only; agents and admins see internal ones too and, outside search, drafts,
articles in review and archived ones (they write them). Search and suggestions show
published articles only, to everyone.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
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

from knowledge import query as web_query
from knowledge import rendering
from knowledge.models import (
    SEARCH_CONFIG,
    KnowledgeArticle,
    KnowledgeArticleFeedback,
    KnowledgeArticleStatus,
    KnowledgeArticleTicketLink,
    KnowledgeArticleVersion,
    KnowledgeCategory,
    KnowledgeSearchHistory,
    KnowledgeTag,
    Visibility,
)
from nixflow.models import Ticket

# Typo tolerance steps in when full-text search finds fewer articles than this.
FEW_RESULTS = 3
# pg_trgm similarity a vocabulary word needs to replace a misspelt query word.
MIN_SIMILARITY = 0.4
# A prefix being typed is completed to at most this many vocabulary words.
MAX_COMPLETIONS = 12
# At most this many matching articles are ranked (see article_search).
RANK_WINDOW = 200
# Columns a result row shows; the body (and its rendering) stays in the table.
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


def _is_agent(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_agent", False))


# --- Articles -----------------------------------------------------------------------------
def article_visibility_filter(user: Any) -> Q:
    """What ``user`` (or an anonymous reader: None or AnonymousUser) may open."""
    if _is_agent(user):
        return Q()
    return Q(status=KnowledgeArticleStatus.PUBLISHED, visibility=Visibility.PUBLIC)


def searchable_filter(user: Any) -> Q:
    """What search and suggestions may show ``user``: published articles only."""
    published = Q(status=KnowledgeArticleStatus.PUBLISHED)
    if _is_agent(user):
        return published
    return published & Q(visibility=Visibility.PUBLIC)


def article_list(*, user: Any) -> QuerySet[KnowledgeArticle]:
    """Articles ``user`` may see, with what a list row shows, in a constant number of
    queries (category and author joined, tags prefetched), without the body."""
    return (
        KnowledgeArticle.objects.filter(article_visibility_filter(user))
        .only(*LIST_FIELDS, "category__name", "category__slug", "author__username")
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
    return article.visibility == Visibility.PUBLIC or _is_agent(user)


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


# --- Categories, tags, links, feedback -----------------------------------------------------
def category_list(*, user: Any) -> QuerySet[KnowledgeCategory]:
    """Every category, with the number of articles ``user`` may open in it (a
    correlated count, not a join: one query whatever the number of categories)."""
    visible = KnowledgeArticle.objects.filter(
        article_visibility_filter(user), category=OuterRef("pk")
    )
    counts = visible.order_by().values("category").annotate(n=Count("*")).values("n")
    return KnowledgeCategory.objects.annotate(
        article_count=Coalesce(Subquery(counts, output_field=IntegerField()), 0)
    ).order_by("position", "name")


def category_and_descendant_ids(category: KnowledgeCategory) -> list[int]:
    """The category and everything below it (one recursive query)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE tree(id) AS (
                SELECT %s::bigint
                UNION
                SELECT c.id FROM knowledge_knowledgecategory c JOIN tree ON c.parent_id = tree.id
            )
            SELECT id FROM tree
            """,
            [category.pk],
        )
        return [row[0] for row in cursor.fetchall()]


def tag_list(*, user: Any) -> QuerySet[KnowledgeTag]:
    visible = KnowledgeArticle.objects.filter(article_visibility_filter(user), tags=OuterRef("pk"))
    counts = visible.order_by().values("tags").annotate(n=Count("*")).values("n")
    return KnowledgeTag.objects.annotate(
        article_count=Coalesce(Subquery(counts, output_field=IntegerField()), 0)
    ).order_by("name")


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


def articles_linked_to_ticket(*, ticket: Ticket, user: Any) -> QuerySet[KnowledgeArticle]:
    linked = KnowledgeArticleTicketLink.objects.filter(ticket=ticket, article=OuterRef("pk"))
    return article_list(user=user).filter(Exists(linked))


# --- Search -------------------------------------------------------------------------------
@dataclass
class SearchHit:
    article: KnowledgeArticle  # the columns a result shows, with .category set
    tags: list[KnowledgeTag]
    rank: float
    title_html: str
    snippet_html: str


@dataclass
class SearchResults:
    query: str
    normalized_query: str
    count: int
    hits: list[SearchHit] = field(default_factory=list)
    corrected_query: str = ""  # set when typo tolerance changed what was searched
    count_capped: bool = False  # more articles match than RANK_WINDOW; count is that


# --- the tsquery, as SQL with parameters ---------------------------------------------------
# The configuration is a constant of the code, written into the SQL; everything the
# reader typed is a parameter, parsed by PostgreSQL's phraseto_tsquery. Only the prefix
# term is tsquery syntax, built from words checked to be word characters.
_CONFIG = f"'{SEARCH_CONFIG}'::regconfig"


def _quoted(word: str) -> str:
    return f"'{word}'"


def _term_sql(term: web_query.Term, completions: _Completions) -> tuple[str, list[str]]:
    if term.prefix:
        # Full-text search stems the document's words ("connection" is stored as
        # "connect"), so the prefix "connecti" matches no stored word by itself: the
        # vocabulary's words that start with it are searched, each stemmed by
        # to_tsquery ("connection" → 'connect'). Every word of every article is in the
        # vocabulary, so when all those words are listed they find exactly what a prefix
        # match (:*) would, through exact index lookups; a prefix match makes GIN merge
        # the posting lists of every lexeme that starts with it, which for a common word
        # costs ten times more. Only a short, ambiguous prefix keeps the :*.
        typed = term.text.lower()
        words = [w for w in completions.words if web_query.is_plain_word(w)]
        first = _quoted(typed) if completions.complete else f"{_quoted(typed)}:*"
        raw = " | ".join([first, *(_quoted(w) for w in words)])
        sql, params = f"to_tsquery({_CONFIG}, %s)", [raw]
    else:
        sql, params = f"phraseto_tsquery({_CONFIG}, %s)", [term.text]
    return (f"(!! {sql})" if term.negated else sql), params


def _tsquery_sql(parsed: web_query.ParsedQuery, completions: _Completions) -> tuple[str, list[str]]:
    """AND of the clauses, each the OR of its terms."""
    clauses, params = [], []
    for clause in parsed.clauses:
        parts = []
        for term in clause:
            sql, term_params = _term_sql(term, completions)
            parts.append(sql)
            params += term_params
        clauses.append("(" + " || ".join(parts) + ")")
    return "(" + " && ".join(clauses) + ")", params


@dataclass(frozen=True)
class _Completions:
    words: tuple[str, ...] = ()
    complete: bool = True  # every vocabulary word that starts with the prefix is listed


def _completions(prefix: str) -> _Completions:
    """Vocabulary words that start with ``prefix``, shortest first (the trigram index
    serves LIKE 'prefix%')."""
    if not web_query.is_plain_word(prefix):
        return _Completions()
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT word FROM knowledge_knowledgeword WHERE word LIKE %s AND word <> %s "
            "ORDER BY length(word), word LIMIT %s",
            [f"{escaped}%", prefix.lower(), MAX_COMPLETIONS + 1],
        )
        words = tuple(row[0] for row in cursor.fetchall())
    return _Completions(words[:MAX_COMPLETIONS], complete=len(words) <= MAX_COMPLETIONS)


def _corrections(words: Sequence[str]) -> dict[str, str]:
    """For each word the vocabulary does not know, its most similar vocabulary word by
    trigram similarity (pg_trgm), when one is similar enough. One query."""
    candidates = sorted({w for w in words if len(w) >= 4 and w.isalpha()})
    if not candidates:
        return {}
    with connection.cursor() as cursor:
        # set_limit: the threshold of the % operator, for this transaction only, so
        # that the trigram index prunes candidates below MIN_SIMILARITY.
        cursor.execute(
            """
            SELECT q.w, (
                SELECT v.word FROM knowledge_knowledgeword v
                WHERE v.word %% q.w AND similarity(v.word, q.w) >= %s
                ORDER BY similarity(v.word, q.w) DESC, length(v.word), v.word
                LIMIT 1
            )
            FROM unnest(%s::text[]) AS q(w)
            WHERE NOT EXISTS (SELECT 1 FROM knowledge_knowledgeword k WHERE k.word = q.w)
            """,
            [MIN_SIMILARITY, candidates],
        )
        return {word: fix for word, fix in cursor.fetchall() if fix and fix != word}


def _filters_sql(
    *,
    user: Any,
    category: KnowledgeCategory | None,
    tag: KnowledgeTag | None,
    kind: str | None,
) -> tuple[str, list[Any]]:
    """The WHERE conditions of what ``user`` may find (``searchable_filter``) and the
    reader's filters, on the article table aliased ``a``. A category includes its
    subcategories (the recursive CTE ``category_tree`` of the search query)."""
    conditions = ["a.status = %s"]
    params: list[Any] = [KnowledgeArticleStatus.PUBLISHED]
    if not _is_agent(user):
        conditions.append("a.visibility = %s")
        params.append(Visibility.PUBLIC)
    if category is not None:
        conditions.append("a.category_id IN (SELECT id FROM category_tree)")
    if tag is not None:
        conditions.append(
            "EXISTS (SELECT 1 FROM knowledge_knowledgearticle_tags at "
            "WHERE at.knowledgearticle_id = a.id AND at.knowledgetag_id = %s)"
        )
        params.append(tag.pk)
    if kind:
        conditions.append("a.kind = %s")
        params.append(kind)
    return " AND ".join(conditions), params


# One statement for a page of results. `matches` holds at most RANK_WINDOW matches plus
# at most RANK_WINDOW title matches, each found by a scan that stops there (no ORDER BY:
# sorting would visit every match), ranked where found; `counted` marks the first set,
# whose size is the (bounded) count. The page is cut from them, and only then are the
# page's rows joined for their columns, snippets (ts_headline re-parses the text, so it
# must not run on every candidate) and tags.
_SEARCH_SQL = """
WITH {recursive} matches AS (
    (SELECT a.id, ts_rank(a.search_vector, {q}) AS rank, a.title_vector @@ {q} AS in_title,
            a.published_at, 1 AS counted
     FROM knowledge_knowledgearticle a
     WHERE {filters} AND a.search_vector @@ {q}
     LIMIT {window})
    UNION ALL
    (SELECT a.id, ts_rank(a.search_vector, {q}), true, a.published_at, 0
     FROM knowledge_knowledgearticle a
     WHERE {filters} AND a.title_vector @@ {q}{exclusions}
     LIMIT {window})
), ranked AS (
    SELECT id, max(rank) AS rank, bool_or(in_title) AS in_title,
           max(published_at) AS published_at, sum(sum(counted)) OVER () AS total
    FROM matches GROUP BY id
), page AS (
    SELECT * FROM ranked
    ORDER BY in_title DESC, rank DESC, published_at DESC NULLS LAST, id DESC
    LIMIT %s OFFSET %s
)
SELECT p.total, p.rank, a.id, a.title, a.slug, a.summary, a.kind, a.status, a.visibility,
       a.category_id, a.published_at, a.view_count, c.name, c.slug,
       ts_headline({config}, a.title, {q}, %s),
       ts_headline({config}, a.body_text, {q}, %s),
       (SELECT coalesce(json_agg(json_build_array(t.id, t.name, t.slug) ORDER BY t.name), '[]')
        FROM knowledge_knowledgearticle_tags at
        JOIN knowledge_knowledgetag t ON t.id = at.knowledgetag_id
        WHERE at.knowledgearticle_id = a.id)
FROM page p
JOIN knowledge_knowledgearticle a ON a.id = p.id
LEFT JOIN knowledge_knowledgecategory c ON c.id = a.category_id
ORDER BY p.in_title DESC, p.rank DESC, p.published_at DESC NULLS LAST, p.id DESC
"""
_CATEGORY_TREE = """RECURSIVE category_tree(id) AS (
    SELECT %s::bigint
    UNION
    SELECT c.id FROM knowledge_knowledgecategory c
    JOIN category_tree ON c.parent_id = category_tree.id
),"""
_TITLE_MARKS = f"StartSel={rendering.MARK_START}, StopSel={rendering.MARK_END}, HighlightAll=true"
# One passage around the best match: the fragment-based algorithm (MaxFragments) costs
# almost twice as much per article.
_SNIPPET_MARKS = (
    f"StartSel={rendering.MARK_START}, StopSel={rendering.MARK_END}, MaxWords=35, MinWords=15"
)
_COUNT_SQL = """
WITH {recursive} matches AS (
    SELECT 1 FROM knowledge_knowledgearticle a WHERE {filters} AND a.search_vector @@ {q}
    LIMIT {window}
)
SELECT count(*) FROM matches
"""
_HIT_FIELDS = (
    "id", "title", "slug", "summary", "kind", "status", "visibility", "category_id",
    "published_at", "view_count",
)  # fmt: skip


def _prepare_scans() -> None:
    """The first N matches in physical order must be the same N on every page of
    results. PostgreSQL lets a sequential scan of a large table start where a concurrent
    one is (``synchronize_seqscans``), which would change them. Switched off once per
    database connection (a session setting, which affects nothing else: synchronized
    scans only save I/O for concurrent scans of tables bigger than the cache), or for
    the transaction when the search runs inside one (a rollback would undo a session
    setting made in it)."""
    connection.ensure_connection()
    raw = connection.connection
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronize_seqscans = off")
    elif getattr(connection, "_knowledge_stable_scans", None) is not raw:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronize_seqscans = off")
        connection._knowledge_stable_scans = connection.connection  # type: ignore[attr-defined]


def article_search(
    *,
    user: Any,
    query: str,
    category: KnowledgeCategory | None = None,
    tag: KnowledgeTag | None = None,
    kind: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> SearchResults:
    """Full-text search over the articles ``user`` may find, best first.

    Order: articles whose title or summary matches the whole query first, then the
    others; within each group by ``ts_rank`` over the weighted document (title A,
    summary B, body C); then newest first. So a title match always outranks a body
    match, and more occurrences, closer together, in weightier places rank higher.

    Ranking must read the vector of every article it ranks, and a broad query
    ("password" is in four articles of ten) matches tens of thousands: ranking them all
    takes a second. So the ranked set is bounded: the first ``RANK_WINDOW`` matches and
    the first ``RANK_WINDOW`` title matches (found through the small title index, so
    that title matches are never crowded out by body matches). A query with fewer
    matches than that is ranked exactly; a broader one lists its best ``RANK_WINDOW``
    candidates and says so (``count_capped``: refine the query).

    When the query finds fewer than ``FEW_RESULTS`` articles, words the vocabulary does
    not know are replaced by their nearest known words (pg_trgm) and articles matching
    either spelling are returned (``corrected_query``).

    Round trips: one statement for the page with its count, snippets and tags (see
    ``_SEARCH_SQL``); one vocabulary lookup when the last word is being typed; two more
    (corrections, and the page again) when there are few results.
    """
    parsed = web_query.parse(query)
    results = SearchResults(query=query, normalized_query=parsed.normalized(), count=0)
    if not parsed.has_positive_terms:
        return results  # nothing to look for ("-vpn" alone would scan everything)
    filters, filter_params = _filters_sql(user=user, category=category, tag=tag, kind=kind)
    tree = ([_CATEGORY_TREE], [category.pk]) if category is not None else ([""], [])
    prefix = parsed.prefix_term
    completions = _completions(prefix.text) if prefix else _Completions()
    _prepare_scans()

    # A title match is a match of the whole document too, unless the query excludes a
    # word ("vpn -mac") that only the body contains: only then are the excluded words
    # looked for in the whole document as well, as a filter on the title matches (as
    # another index condition it would make PostgreSQL read the whole document index).
    excluded = [term.text for term in parsed.terms if term.negated]
    exclusions = (
        " AND NOT (a.search_vector @@ ("
        + " || ".join(f"phraseto_tsquery({_CONFIG}, %s)" for _ in excluded)
        + "))"
        if excluded
        else ""
    )

    def page(q: str, q_params: list[str]) -> tuple[int, list[tuple[Any, ...]]]:
        sql = _SEARCH_SQL.format(
            recursive=tree[0][0],
            q=q,
            filters=filters,
            window=RANK_WINDOW,
            config=_CONFIG,
            exclusions=exclusions,
        )
        # Parameters in the order their placeholders appear in the SQL.
        params = [
            *tree[1],
            *q_params, *q_params, *filter_params, *q_params,  # first set
            *q_params, *filter_params, *q_params, *excluded,  # title matches
            limit, offset,
            *q_params, _TITLE_MARKS, *q_params, _SNIPPET_MARKS,
        ]  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if rows:
            return int(rows[0][0]), rows
        if offset == 0:
            return 0, []
        # Past the last page: the rows that carry the count were all cut off.
        count_sql = _COUNT_SQL.format(
            recursive=tree[0][0], q=q, filters=filters, window=RANK_WINDOW
        )
        with connection.cursor() as cursor:
            cursor.execute(count_sql, [*tree[1], *filter_params, *q_params])
            return int(cursor.fetchone()[0]), []

    q, q_params = _tsquery_sql(parsed, completions)
    count, rows = page(q, q_params)
    if count < FEW_RESULTS:
        words = [w for t in parsed.terms if not t.negated and not t.prefix for w in t.words]
        if prefix is not None and not completions.words:
            words += prefix.words
        fixes = _corrections(words)
        if fixes:
            corrected = parsed.with_words_replaced(fixes)
            fixed_q, fixed_params = _tsquery_sql(corrected, completions)
            either = (f"({q} || {fixed_q})", [*q_params, *fixed_params])
            corrected_count, corrected_rows = page(*either)
            if corrected_count > count:
                count, rows = corrected_count, corrected_rows
                results.corrected_query = corrected.normalized()
    results.count = count
    results.count_capped = count >= RANK_WINDOW
    results.hits = [_hit(row) for row in rows]
    return results


def _hit(row: tuple[Any, ...]) -> SearchHit:
    (_, rank, *values, name, slug, title_marked, snippet_marked, tags) = row
    article = KnowledgeArticle.from_db(None, _HIT_FIELDS, values)
    category_id = values[_HIT_FIELDS.index("category_id")]
    article.category = (
        KnowledgeCategory.from_db(None, ("id", "name", "slug"), (category_id, name, slug))
        if category_id is not None
        else None
    )
    if isinstance(tags, str):  # json_agg arrives decoded by psycopg; a string elsewhere
        tags = json.loads(tags)
    return SearchHit(
        article=article,
        tags=[KnowledgeTag.from_db(None, ("id", "name", "slug"), tag) for tag in tags],
        rank=round(float(rank), 6),
        title_html=rendering.highlight_html(title_marked),
        snippet_html=rendering.highlight_html(snippet_marked),
    )


# --- Suggestions for a ticket -------------------------------------------------------------
_SUGGESTION_WORDS = 10
_PAIR_WORDS = 6  # pairs of the first six words: fifteen pairs
_WORD = re.compile(r"[^\W\d_][\w'-]{2,39}")
# Words every ticket says; they would rank every article alike.
_TICKET_NOISE = frozenset(
    [
        "please", "help", "hello", "thanks", "thank", "regards", "since", "today",
        "yesterday", "morning", "cannot", "can't", "does", "doesn't", "don't", "not",
        "working", "work", "works", "issue", "problem", "again", "still", "anyone", "would",
        "could", "should", "need", "needs", "want", "like", "just", "also", "really", "some",
        "every", "time",
    ]
)  # fmt: skip


def suggestion_words(title: str, description: str) -> list[str]:
    """The words of a ticket that say what it is about: the title's first, then the
    description's, without stop words and desk noise, at most ten."""
    seen: list[str] = []
    for text in (title, description):
        for word in _WORD.findall(text.lower()):
            word = word.strip("'-")  # noqa: PLW2901 -- normalised in place
            if len(word) >= 3 and word not in _TICKET_NOISE and word not in seen:
                seen.append(word)
            if len(seen) == _SUGGESTION_WORDS:
                return seen
    return seen


def articles_suggested_for_ticket(
    *, ticket: Ticket, user: Any, limit: int = 5
) -> list[KnowledgeArticle]:
    """Published articles that may answer ``ticket``, best first, among those ``user``
    may see (requesters get public ones, agents internal ones too).

    Articles must share at least two of the ticket's salient words (one common word,
    "laptop", says little; two, "laptop" and "slow", say what it is about); when none
    does, one is enough. ``ts_rank`` with all the words orders them: more of the words,
    and words in the title, rank higher. Articles already linked to the ticket (they
    helped with it) come first, whatever their words. As in search, at most
    ``RANK_WINDOW`` candidates are ranked.
    """
    words = _distinct_stems(suggestion_words(ticket.title, ticket.description))
    if not words:
        return []
    any_word = _any_of([SearchQuery(w, search_type="plain", config=SEARCH_CONFIG) for w in words])
    strongest = words[:_PAIR_WORDS]
    attempts = [any_word]
    if len(strongest) > 1:  # one word ("VPN down": "down" is a stop word) makes no pair
        two_words = _any_of(
            [
                SearchQuery(a, search_type="plain", config=SEARCH_CONFIG)
                & SearchQuery(b, search_type="plain", config=SEARCH_CONFIG)
                for i, a in enumerate(strongest)
                for b in strongest[i + 1 :]
            ]
        )
        attempts.insert(0, two_words)
    articles = KnowledgeArticle.objects.filter(searchable_filter(user))
    linked = KnowledgeArticleTicketLink.objects.filter(ticket=ticket, article=OuterRef("pk"))
    linked_ids = KnowledgeArticleTicketLink.objects.filter(ticket=ticket).values("article_id")
    for required in attempts:
        # As in search: the first matches and title matches, without sorting them all.
        candidates = (
            articles.filter(search_vector=required)
            .order_by()
            .values("pk")[:RANK_WINDOW]
            .union(
                articles.filter(title_vector=required).order_by().values("pk")[:RANK_WINDOW],
                linked_ids,
            )
        )
        suggested: list[KnowledgeArticle] = list(
            articles.filter(pk__in=candidates)
            .only(*LIST_FIELDS)
            .annotate(rank=SearchRank(F("search_vector"), any_word), linked=Exists(linked))
            .order_by("-linked", "-rank", "-id")[:limit]
        )
        if suggested:
            return suggested
    return []


def _distinct_stems(words: Sequence[str]) -> list[str]:
    """``words`` without stop words and without a second word of the same stem
    ("disconnects" after "disconnecting"): a pair must be two different words. One
    query: PostgreSQL's own stemmer and stop word list decide, as for the articles."""
    if not words:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w, tsvector_to_array(to_tsvector(%s::regconfig, w)) "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS t(w, n) ORDER BY n",
            [SEARCH_CONFIG, list(words)],
        )
        rows = cursor.fetchall()
    kept, stems = [], set()
    for word, lexemes in rows:
        if len(lexemes) == 1 and lexemes[0] not in stems:
            stems.add(lexemes[0])
            kept.append(word)
    return kept


def _any_of(queries: Sequence[SearchQuery]) -> SearchQuery:
    combined = queries[0]
    for one in queries[1:]:
        combined = combined | one
    return combined


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
