"""Full-text search over tickets and their whole conversation (docs/search.md).

Each ticket carries two search documents (``tsvector`` columns with GIN indexes): the
agents' (title, description, every comment) and the requesters' (title, description,
public comments only), so an internal note can never match a requester's search, by
construction rather than by a filter someone could forget. Title words weigh A,
description B, comments C.

The documents are rewritten from the rows, in the transaction of the write that changed
the text: when a ticket or a comment row is saved (``post_save``), and on the
``ticket_event``s that change text without saving a new row (``ticket.updated``: the
title or description; ``ticket.merged``: the source's comments moved to the target,
both rewritten). Both run synchronously inside the writer's transaction, so a
rolled-back reply leaves the documents as they were, and a committed one is searchable
at once.

Searching (``search_filter``) bounds the work of a common word: see ``WINDOW``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.postgres.search import SearchVectorField
from django.db import connection
from django.db.models import BooleanField, Expression, F, Func, IntegerField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_save
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from nixflow.events import TICKET_MERGED, TICKET_UPDATED
from nixflow.models import Comment, Ticket, User
from nixflow.toolkit import search_query

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

    from nixflow.events import TicketEvent

CONFIG = "english"
# A search lists at most the newest WINDOW matches (after the list's filters), ranked.
# Ranking must read the document of every ticket it ranks; a common word ("password")
# matches hundreds of thousands of tickets at a million, and ranking them all takes
# seconds. The newest WINDOW are found along the created index (common words) or from
# the GIN index (rare ones), and only those are ranked. A rarer query is ranked exactly.
WINDOW = 500
# Text kept in a document: a tsvector holds at most 1 MB, and a pasted log in one reply
# must not make every later reply on that ticket fail. Past these, text is not searchable.
MAX_DESCRIPTION_CHARS = 50_000
MAX_PUBLIC_COMMENT_CHARS = 100_000
MAX_INTERNAL_COMMENT_CHARS = 50_000
# The events after which a ticket's text may have changed without a new row: an edited
# title or description, comments moved by a merge (an UPDATE of many rows, no save()).
# New tickets and comments are caught when their row is saved (``on_row_saved``).
REINDEXING_EVENTS = {TICKET_UPDATED, TICKET_MERGED}
MARK_START, MARK_END = "\x02", "\x03"  # ts_headline's marks, made <mark> after escaping

_REFRESH_SQL = f"""
UPDATE nixflow_ticket t
SET search_public = d.public_doc, search_agent = d.public_doc || d.internal_doc
FROM (
    SELECT t2.id,
           setweight(to_tsvector('{CONFIG}', t2.title), 'A')
           || setweight(to_tsvector('{CONFIG}', left(t2.description, {MAX_DESCRIPTION_CHARS})), 'B')
           || setweight(to_tsvector('{CONFIG}',
                        left(coalesce(c.public_text, ''), {MAX_PUBLIC_COMMENT_CHARS})), 'C')
               AS public_doc,
           setweight(to_tsvector('{CONFIG}',
                     left(coalesce(c.internal_text, ''), {MAX_INTERNAL_COMMENT_CHARS})), 'C')
               AS internal_doc
    FROM nixflow_ticket t2
    LEFT JOIN LATERAL (
        SELECT string_agg(body, E'\\n' ORDER BY created, id) FILTER (WHERE NOT is_internal)
                   AS public_text,
               string_agg(body, E'\\n' ORDER BY created, id) FILTER (WHERE is_internal)
                   AS internal_text
        FROM nixflow_comment WHERE ticket_id = t2.id
    ) c ON true
    WHERE t2.id = ANY(%s)
) d
WHERE t.id = d.id
"""  # noqa: S608 -- constants of the code only; values are parameters


def refresh_documents(ticket_ids: Iterable[int]) -> int:
    """Rewrite the search documents of these tickets from their rows, in the caller's
    transaction; how many tickets were written. One statement, whatever the number."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_REFRESH_SQL, [ids])
        return cursor.rowcount


def on_ticket_event(sender: Any, event: TicketEvent, **kwargs: Any) -> None:
    """Keep the documents of the tickets whose text the event changed."""
    if event.type not in REINDEXING_EVENTS:
        return
    ids = [event.ticket.pk]
    into = event.payload.get("into_id")
    if event.type == TICKET_MERGED and isinstance(into, int):
        ids.append(into)
    refresh_documents(ids)


def on_row_saved(sender: Any, instance: Ticket | Comment, created: bool, **kwargs: Any) -> None:
    """A new ticket, or a comment written: its ticket's documents, in the same
    transaction. Caught at the row rather than by ``ticket.created`` and
    ``ticket.commented`` so that every writer is covered (services, the admin, mail,
    fixtures and test factories), each once."""
    if isinstance(instance, Comment):
        refresh_documents([instance.ticket_id])
    elif created:
        refresh_documents([instance.pk])


def register() -> None:
    """Connect what keeps the search documents current, and the list's snippet column."""
    from nixflow.events import ticket_event
    from nixflow.toolkit.ticket_columns import register_ticket_column

    ticket_event.connect(on_ticket_event, dispatch_uid="nixflow.search")
    post_save.connect(on_row_saved, sender=Ticket, dispatch_uid="nixflow.search.ticket")
    post_save.connect(on_row_saved, sender=Comment, dispatch_uid="nixflow.search.comment")
    register_ticket_column("search", _("Found"), admin_cells, order=10, shown=searching)


# --- searching ----------------------------------------------------------------------------
class _Template(Func):
    """SQL over a ticket's document ``{v}`` (a column, relabelled like any other when the
    query becomes a sub-query) and a tsquery ``{q}``, each placeholder any number of
    times, with parameters in the order they appear."""

    def __init__(self, template: str, vector: str, query: Expression, output_field: Any) -> None:
        super().__init__(F(vector), query, output_field=output_field)
        self.sql_template = template

    def as_sql(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, list[Any]]:
        vector, query = self.get_source_expressions()
        compiled = {"{v}": compiler.compile(vector), "{q}": compiler.compile(query)}
        sql: list[str] = []
        params: list[Any] = []
        for part in re.split(r"(\{v\}|\{q\})", self.sql_template):
            if part in compiled:
                sql.append(compiled[part][0])
                params.extend(compiled[part][1])
            else:
                sql.append(part)
        return "".join(sql), params


# The rank as an integer (cursor pages carry it exactly): a title match first, then a
# description match, then the rest (comments, or words spread over several places);
# within each tier, ts_rank over the weighted document (normalised into [0, 1)).
_RANK_SQL = (
    "((CASE WHEN ts_filter({v}, '{a}') @@ {q} THEN 2"
    " WHEN ts_filter({v}, '{b}') @@ {q} THEN 1 ELSE 0 END) * 1000000"
    " + floor(ts_rank({v}, {q}, 32) * 999999))::integer"
)


@dataclass(frozen=True)
class TicketSearch:
    """A parsed search for a reader: agents search the whole conversation."""

    text: str
    parsed: search_query.ParsedQuery
    internal: bool

    @classmethod
    def build(cls, text: str, *, internal: bool) -> TicketSearch:
        return cls(text=text, parsed=search_query.parse(text), internal=internal)

    @property
    def vector(self) -> str:
        return "search_agent" if self.internal else "search_public"

    def tsquery(self, parsed: search_query.ParsedQuery | None = None) -> RawSQL:
        sql, params = search_query.tsquery_sql(parsed or self.parsed, CONFIG)
        return RawSQL(sql, params)  # noqa: S611 -- what was typed is a parameter

    def match(self, parsed: search_query.ParsedQuery | None = None) -> Q:
        """The document matches the query (or a part of it)."""
        return Q(_Template("({v} @@ {q})", self.vector, self.tsquery(parsed), BooleanField()))

    def rank(self) -> _Template:
        return _Template(_RANK_SQL, self.vector, self.tsquery(), IntegerField())

    def condition(self, people: Mapping[str, Q]) -> Q:
        """The query's condition, where each word of ``people`` may instead name the
        ticket's requester (an e-mail address that is someone's names them only)."""
        rest = search_query.ParsedQuery(
            tuple(c for c in self.parsed.clauses if len(c) > 1 or c[0].text not in people)
        )
        condition = self.match(rest) if rest.clauses else Q()
        for word, who in people.items():
            if "@" in word:
                condition &= who
            else:
                alone = search_query.ParsedQuery(((search_query.Term(text=word),),))
                condition &= self.match(alone) | who
        return condition


def search_filter(
    queryset: QuerySet[Ticket], search: TicketSearch, *, people: Mapping[str, Q] | None = None
) -> QuerySet[Ticket]:
    """The newest ``WINDOW`` tickets of ``queryset`` that match ``search`` (each word of
    ``people`` may name the requester instead), annotated with ``search_rank`` (higher
    is better).

    The window is a sub-query (``id IN (... ORDER BY created DESC, id DESC LIMIT n)``):
    PostgreSQL walks nf_ticket_created testing each row's document for a common word,
    and reads the GIN index then sorts the few matches for a rare one. Only the window's
    rows are ranked, and the caller's ordering and paging apply to them.
    """
    if not search.parsed.has_positive_terms:
        # Nothing to look for ("-vpn" alone would match nearly every ticket).
        return unranked(queryset.none())
    walked = None if people else _walked_window(queryset, search)
    if walked is not None:
        return queryset.filter(pk__in=walked).annotate(search_rank=search.rank())
    condition = search.condition(people or {})
    window = queryset.filter(condition).order_by("-created", "-id").values("pk")[:WINDOW]
    return queryset.filter(pk__in=window).annotate(search_rank=search.rank())


# A word in at least this share of the documents is common (the column's statistics).
COMMON_SHARE = 0.01
# A query of common words walks at most this many of the newest tickets of the list.
WALK_LIMIT = 20_000
_COMMON_SQL = """
SELECT coalesce(bool_and(coalesce(s.freqs[array_position(s.elems, w.lexeme)], 0) >= %s),
                false)
FROM unnest(tsvector_to_array(to_tsvector(%s::regconfig, %s))) AS w(lexeme)
CROSS JOIN (
    SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs
    FROM pg_stats
    WHERE schemaname = current_schema() AND tablename = 'nixflow_ticket' AND attname = %s
) s
"""


def _all_words_common(search: TicketSearch) -> bool:
    """Every word the query requires is in at least ``COMMON_SHARE`` of the documents,
    by the column's statistics (ANALYZE's most common elements). PostgreSQL estimates a
    phrase or several words as if they were independent, so for common words that go
    together ("pickup rollers") it expects few matches and reads them all from the GIN
    index, then sorts them: a hundred thousand rows. Walking the newest tickets finds
    the window's first matches after a few thousand."""
    words = [t.text for t in search.parsed.terms if not t.negated and not t.prefix and t.words]
    if not words:
        return False
    with connection.cursor() as cursor:
        cursor.execute(_COMMON_SQL, [COMMON_SHARE, CONFIG, " ".join(words), search.vector])
        return bool(cursor.fetchone()[0])


def _walked_window(queryset: QuerySet[Ticket], search: TicketSearch) -> list[int] | None:
    """The window, found by walking at most ``WALK_LIMIT`` of the newest tickets of
    ``queryset`` (along its ordering's index), when every word is common and the walk
    finds a full window; else None (the planner's choice then: the GIN index)."""
    if not _all_words_common(search):
        return None
    newest = queryset.order_by("-created", "-id").annotate(
        doc=Func(F(search.vector), template="%(expressions)s", output_field=SearchVectorField())
    )
    walked = newest.values("id", "created", "doc")[:WALK_LIMIT]
    inner_sql, inner_params = walked.query.sql_with_params()
    q_sql, q_params = search_query.tsquery_sql(search.parsed, CONFIG)
    sql = (
        f"SELECT w.id FROM ({inner_sql}) w WHERE w.doc @@ {q_sql} "  # noqa: S608 -- built SQL
        "ORDER BY w.created DESC, w.id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*inner_params, *q_params, WINDOW])
        ids = [row[0] for row in cursor.fetchall()]
    return ids if len(ids) == WINDOW else None


def unranked(queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """``queryset`` with the ``search_rank`` a search annotates, all equal (a key)."""
    return queryset.annotate(search_rank=RawSQL("0", [], output_field=IntegerField()))


# --- snippets -----------------------------------------------------------------------------
_SNIPPET_SQL = f"""
SELECT t.id, ts_headline('{CONFIG}',
    concat_ws(E'\\n', t.title, left(t.description, {MAX_DESCRIPTION_CHARS}), c.text),
    {{q}}, %s)
FROM nixflow_ticket t
LEFT JOIN LATERAL (
    SELECT left(string_agg(body, E'\\n' ORDER BY created, id), {MAX_PUBLIC_COMMENT_CHARS})
        AS text
    FROM nixflow_comment WHERE ticket_id = t.id AND (%s OR NOT is_internal)
) c ON true
WHERE t.id = ANY(%s)
"""  # noqa: S608 -- constants of the code only; values are parameters
_SNIPPET_OPTIONS = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=18, MinWords=8, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def snippets(ticket_ids: Sequence[int], search: TicketSearch) -> dict[int, SafeString]:
    """Highlighted passages of the text that matched (title, description, comments),
    for a page's tickets (one query, ts_headline on those rows only: it re-parses the
    text). A requester's snippet is cut from public text only."""
    if not ticket_ids or not search.parsed.has_positive_terms:
        return {}
    q_sql, q_params = search_query.tsquery_sql(search.parsed, CONFIG)
    sql = _SNIPPET_SQL.replace("{q}", q_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*q_params, _SNIPPET_OPTIONS, search.internal, list(ticket_ids)])
        rows = cursor.fetchall()
    return {pk: highlight_html(text) for pk, text in rows if text and MARK_START in text}


def highlight_html(marked: str) -> SafeString:
    """ts_headline's output as HTML: the text escaped, the matches in ``<mark>``, in a
    ``span.nf-found`` (for the list's stylesheet)."""
    escaped = html.escape(marked).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    return mark_safe(f'<span class="nf-found">{escaped}</span>')  # noqa: S308 -- escaped


def attach_snippets(tickets: Sequence[Ticket], text: str, *, internal: bool) -> None:
    """Set ``search_snippet`` (HTML, or "") on each of a page's tickets."""
    found = snippets([t.pk for t in tickets], TicketSearch.build(text, internal=internal))
    for ticket in tickets:
        ticket.search_snippet = found.get(ticket.pk, "")  # type: ignore[attr-defined]


def searching(request: HttpRequest) -> bool:
    """Whether the admin's ticket list is showing a search (its "Found" column)."""
    return bool(request.GET.get("q", "").strip())


def admin_cells(request: HttpRequest, tickets: Sequence[Ticket]) -> dict[int, SafeString]:
    """The admin list's "Found" column: where the search words are, while searching."""
    text = request.GET.get("q", "").strip()
    if not text:
        return {}
    return snippets([t.pk for t in tickets], TicketSearch.build(text, internal=True))


# --- the search box: keys, requesters, text -------------------------------------------
# More people than this for a name (a common first name among millions of users) go in
# as a sub-query rather than a literal list of ids.
MAX_LISTED_PEOPLE = 1000


def people_matching(word: str) -> Q:
    """Users whose username, e-mail address, first or last name is ``word`` (any case):
    one query on four UPPER(...) indexes (nixflow 0005 and 0006)."""
    return (
        Q(username__iexact=word)
        | Q(email__iexact=word)
        | Q(first_name__iexact=word)
        | Q(last_name__iexact=word)
    )


def requester_condition(words: list[str]) -> Q | None:
    """Tickets whose requester each of ``words`` names ("ada", "ada lovelace",
    "ada@example.com"); None when nobody is."""
    if not words:
        return None
    people = User.objects.order_by()
    for word in words:
        people = people.filter(people_matching(word))
    ids = list(people.values_list("pk", flat=True)[: MAX_LISTED_PEOPLE + 1])
    if not ids:
        return None
    if len(ids) > MAX_LISTED_PEOPLE:
        return Q(requester__in=people.values("pk"))
    return Q(requester_id__in=ids)


def search_tickets(
    queryset: QuerySet[Ticket], term: str, *, internal: bool = True
) -> QuerySet[Ticket]:
    """A key (NF-12) finds its ticket; otherwise the full-text search of the
    conversation (internal comments only when ``internal``: agents), where a plain word
    that is someone's username, e-mail address, first or last name may instead name the
    ticket's requester ("vpn carol": Carol's tickets about the VPN, and tickets that
    mention both). Annotated with ``search_rank`` (higher is better;
    order by it for relevance), limited to the newest ``nixflow.search.WINDOW`` matches.
    """
    term = term.strip()
    if not term:
        return queryset
    number = Ticket.number_from_key(term)
    if number is not None:
        return unranked(queryset.filter(pk=number))
    search = TicketSearch.build(term, internal=internal)
    people = {}
    for word in search.parsed.plain_words or ():
        who = requester_condition([word])
        if who is not None:
            people[word] = who
    return search_filter(queryset, search, people=people)
