"""Full-text search of the articles a reader may find: ``article_search``.

What a search may show is ``selectors.searchable_filter``'s rule, written here as SQL
(``_filters_sql``): published articles only, internal ones for agents too. Queries are
parsed by ``knowledge.query`` (web-style syntax, into a tsquery with named parameters);
the vocabulary (``KnowledgeWord``) completes the word being typed and corrects typos.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from knowledge import query as web_query
from knowledge import rendering
from knowledge.models import (
    KnowledgeArticle,
    KnowledgeArticleStatus,
    KnowledgeCategory,
    KnowledgeTag,
    Visibility,
)
from knowledge.selectors import is_agent

# Typo tolerance steps in when full-text search finds fewer articles than this.
FEW_RESULTS = 3
# pg_trgm similarity a vocabulary word needs to replace a misspelt query word.
MIN_SIMILARITY = 0.4
# A prefix being typed is completed to at most this many vocabulary words.
MAX_COMPLETIONS = 12
# At most this many matching articles are ranked (see article_search).
RANK_WINDOW = 200


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
    statement = _Statement.build(
        parsed, user=user, category=category, tag=tag, kind=kind, offset=offset, limit=limit
    )
    prefix = parsed.prefix_term
    completions = _completions(prefix.text) if prefix else web_query.Completions()
    _prepare_scans()
    q, q_params = web_query.tsquery_sql(parsed, completions, name="q")
    count, rows = statement.page(q, q_params)
    if count < FEW_RESULTS:
        corrected = _search_corrected(parsed, completions, statement, q, q_params)
        if corrected is not None and corrected[0] > count:
            count, rows, results.corrected_query = corrected
    results.count = count
    results.count_capped = count >= RANK_WINDOW
    results.hits = [_hit(row) for row in rows]
    return results


def _search_corrected(
    parsed: web_query.ParsedQuery,
    completions: web_query.Completions,
    statement: _Statement,
    q: str,
    q_params: dict[str, str],
) -> tuple[int, list[tuple[Any, ...]], str] | None:
    """The page for the query as typed or with its typos corrected, and the corrected
    query; None when no word needs a correction."""
    words = [w for t in parsed.terms if not t.negated and not t.prefix for w in t.words]
    prefix = parsed.prefix_term
    if prefix is not None and not completions.words:
        words += prefix.words
    fixes = _corrections(words)
    if not fixes:
        return None
    corrected = parsed.with_words_replaced(fixes)
    fixed_q, fixed_params = web_query.tsquery_sql(corrected, completions, name="fix")
    count, rows = statement.page(f"({q} || {fixed_q})", {**q_params, **fixed_params})
    return count, rows, corrected.normalized()


# --- the statement ------------------------------------------------------------------------
# One statement for a page of results. `matches` holds at most RANK_WINDOW matches plus
# at most RANK_WINDOW title matches, each found by a scan that stops there (no ORDER BY:
# sorting would visit every match), ranked where found; `counted` marks the first set,
# whose size is the (bounded) count. The page is cut from them, and only then are the
# page's rows joined for their columns, snippets (ts_headline re-parses the text, so it
# must not run on every candidate) and tags. Parameters are named, so {q} (the tsquery)
# may appear as often as it is needed with one set of values.
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
    LIMIT %(limit)s OFFSET %(offset)s
)
SELECT p.total, p.rank, a.id, a.title, a.slug, a.summary, a.kind, a.status, a.visibility,
       a.category_id, a.published_at, a.view_count, c.name, c.slug,
       ts_headline({config}, a.title, {q}, %(title_marks)s),
       ts_headline({config}, a.body_text, {q}, %(snippet_marks)s),
       (SELECT coalesce(json_agg(json_build_array(t.id, t.name, t.slug) ORDER BY t.name), '[]')
        FROM knowledge_knowledgearticle_tags at
        JOIN knowledge_knowledgetag t ON t.id = at.knowledgetag_id
        WHERE at.knowledgearticle_id = a.id)
FROM page p
JOIN knowledge_knowledgearticle a ON a.id = p.id
LEFT JOIN knowledge_knowledgecategory c ON c.id = a.category_id
ORDER BY p.in_title DESC, p.rank DESC, p.published_at DESC NULLS LAST, p.id DESC
"""
_TITLE_MARKS = f"StartSel={rendering.MARK_START}, StopSel={rendering.MARK_END}, HighlightAll=true"
# One passage around the best match: the fragment-based algorithm (MaxFragments) costs
# almost twice as much per article.
_SNIPPET_MARKS = (
    f"StartSel={rendering.MARK_START}, StopSel={rendering.MARK_END}, MaxWords=35, MinWords=15"
)
# The count alone, for a page past the last one (whose rows would have carried it).
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


@dataclass(frozen=True)
class _Statement:
    """What a search's statements share whatever the tsquery: the reader's filters, the
    exclusions, the page wanted, and their parameters."""

    recursive: str
    filters: str
    exclusions: str
    params: dict[str, Any]

    @classmethod
    def build(
        cls,
        parsed: web_query.ParsedQuery,
        *,
        user: Any,
        category: KnowledgeCategory | None,
        tag: KnowledgeTag | None,
        kind: str | None,
        offset: int,
        limit: int,
    ) -> _Statement:
        filters, params = _filters_sql(user=user, category=category, tag=tag, kind=kind)
        # A title match is a match of the whole document too, unless the query excludes
        # a word ("vpn -mac") that only the body contains: only then are the excluded
        # words looked for in the whole document as well, as a filter on the title
        # matches (as another index condition it would make PostgreSQL read the whole
        # document index).
        excluded = {
            f"excluded_{n}": term.text
            for n, term in enumerate(t for t in parsed.terms if t.negated)
        }
        exclusions = (
            " AND NOT (a.search_vector @@ ("
            + " || ".join(f"phraseto_tsquery({web_query.CONFIG_SQL}, %({k})s)" for k in excluded)
            + "))"
            if excluded
            else ""
        )
        params.update(excluded)
        params.update(
            limit=limit, offset=offset, title_marks=_TITLE_MARKS, snippet_marks=_SNIPPET_MARKS
        )
        return cls(recursive="", filters=filters, exclusions=exclusions, params=params)

    def page(self, q: str, q_params: dict[str, str]) -> tuple[int, list[tuple[Any, ...]]]:
        """The count and the page's rows for the tsquery ``q``."""
        params = {**self.params, **q_params}
        sql = _SEARCH_SQL.format(
            recursive=self.recursive,
            q=q,
            filters=self.filters,
            window=RANK_WINDOW,
            config=web_query.CONFIG_SQL,
            exclusions=self.exclusions,
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if rows:
            return int(rows[0][0]), rows
        if self.params["offset"] == 0:
            return 0, []
        # Past the last page: the rows that carry the count were all cut off.
        count_sql = _COUNT_SQL.format(
            recursive=self.recursive, q=q, filters=self.filters, window=RANK_WINDOW
        )
        with connection.cursor() as cursor:
            cursor.execute(count_sql, params)
            return int(cursor.fetchone()[0]), []


def _filters_sql(
    *,
    user: Any,
    category: KnowledgeCategory | None,
    tag: KnowledgeTag | None,
    kind: str | None,
) -> tuple[str, dict[str, Any]]:
    """The WHERE conditions of what ``user`` may find (``searchable_filter``) and the
    reader's filters, on the article table aliased ``a``. A category includes its
    subcategories, listed here by their ids: a list the planner can weigh against the
    column's statistics. (A recursive CTE in the statement was estimated at 51 rows
    whatever the category, so the planner scanned the table for matches in a small
    category: half a second at 100,000 articles.)"""
    conditions = ["a.status = %(status)s"]
    params: dict[str, Any] = {"status": KnowledgeArticleStatus.PUBLISHED}
    if not is_agent(user):
        conditions.append("a.visibility = %(visibility)s")
        params["visibility"] = Visibility.PUBLIC
    if category is not None:
        conditions.append("a.category_id = ANY(%(categories)s)")
        params["categories"] = _category_and_below(category)
    if tag is not None:
        conditions.append(
            "EXISTS (SELECT 1 FROM knowledge_knowledgearticle_tags at "
            "WHERE at.knowledgearticle_id = a.id AND at.knowledgetag_id = %(tag)s)"
        )
        params["tag"] = tag.pk
    if kind:
        conditions.append("a.kind = %(kind)s")
        params["kind"] = kind
    return " AND ".join(conditions), params


def _category_and_below(category: KnowledgeCategory) -> list[int]:
    """The ids of ``category`` and of every category under it (the tree is small: one
    query for all of it, walked here)."""
    children: dict[int | None, list[int]] = {}
    for pk, parent in KnowledgeCategory.objects.values_list("pk", "parent_id"):
        children.setdefault(parent, []).append(pk)
    found, pending = [], [category.pk]
    while pending:
        pk = pending.pop()
        if pk in found:
            continue  # a cycle the model refuses, but never loop on one
        found.append(pk)
        pending += children.get(pk, [])
    return found


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


# --- the vocabulary: completions and corrections ------------------------------------------
def _completions(prefix: str) -> web_query.Completions:
    """Vocabulary words that start with ``prefix``, shortest first (the trigram index
    serves LIKE 'prefix%')."""
    if not web_query.is_plain_word(prefix):
        return web_query.Completions()
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT word FROM knowledge_knowledgeword WHERE word LIKE %s AND word <> %s "
            "ORDER BY length(word), word LIMIT %s",
            [f"{escaped}%", prefix.lower(), MAX_COMPLETIONS + 1],
        )
        words = tuple(row[0] for row in cursor.fetchall())
    return web_query.Completions(words[:MAX_COMPLETIONS], complete=len(words) <= MAX_COMPLETIONS)


def _corrections(words: Sequence[str]) -> dict[str, str]:
    """For each word the vocabulary does not know, its most similar vocabulary word by
    trigram similarity (pg_trgm), when one is similar enough. One query."""
    candidates = sorted({w for w in words if len(w) >= 4 and w.isalpha()})
    if not candidates:
        return {}
    with connection.cursor() as cursor:
        # The % operator's threshold is pg_trgm's default (0.3), low enough for the
        # trigram index to find every candidate; MIN_SIMILARITY then keeps the close ones.
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
