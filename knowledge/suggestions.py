"""Articles that may answer a ticket, from its title and description: shown on the
ticket's page to agents and to its requester (who gets public articles only).

Like search, suggestions show published articles only and rank a bounded set of
candidates (``knowledge.search.RANK_WINDOW``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Exists, F, OuterRef

from knowledge import search
from knowledge.models import SEARCH_CONFIG, KnowledgeArticle, KnowledgeArticleTicketLink
from knowledge.selectors import LIST_FIELDS, searchable_filter
from nixflow.models import Ticket

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
            .values("pk")[: search.RANK_WINDOW]
            .union(
                articles.filter(title_vector=required)
                .order_by()
                .values("pk")[: search.RANK_WINDOW],
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
