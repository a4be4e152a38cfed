"""The search history behind the search reports: what was asked, what was opened.

Searches are analytics, not changes: they record no events.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils import timezone

from knowledge.models import KnowledgeArticle, KnowledgeSearchHistory
from nixflow.models import User


def search_record(
    *,
    query: str,
    normalized_query: str,
    user: User | None,
    results_count: int,
    corrected_query: str = "",
) -> KnowledgeSearchHistory:
    """Record a search (one INSERT, no event: searches are analytics, not changes).

    On its own, the INSERT commits without waiting for the WAL to reach the disk
    (``synchronous_commit = off`` for that transaction only): every search writes a
    row, and a flush per search would cost more than the search. A crash may lose the
    last fraction of a second of search history, never anything else. Inside a caller's
    transaction nothing is changed, so the caller's own writes keep their durability.
    """
    row = KnowledgeSearchHistory(
        query=query[:300],
        normalized_query=normalized_query[:300],
        user=user if getattr(user, "is_authenticated", False) else None,
        results_count=results_count,
        corrected_query=corrected_query[:300],
    )
    if connection.in_atomic_block:
        row.save()
        return row
    # One statement, so one round trip: in autocommit it is its own transaction, and
    # set_config(..., true) in it lasts until that transaction's commit, which is where
    # synchronous_commit is read.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
            INSERT INTO knowledge_knowledgesearchhistory
                (query, normalized_query, user_id, results_count, corrected_query, token,
                 created)
            SELECT %s, %s, %s, %s, %s, %s, %s FROM relaxed
            RETURNING id
            """,
            [
                row.query,
                row.normalized_query,
                row.user_id,
                row.results_count,
                row.corrected_query,
                row.token,
                row.created,
            ],
        )
        row.pk = cursor.fetchone()[0]
    row._state.adding = False
    row._state.db = connection.alias
    return row


def search_click(*, token: Any, article: KnowledgeArticle) -> bool:
    """Record the article opened from a search's results; only the first click counts
    (a conditional UPDATE, so that two clicks at once cannot both count)."""
    updated = KnowledgeSearchHistory.objects.filter(
        token=token, clicked_article__isnull=True
    ).update(clicked_article=article, clicked_at=timezone.now())
    return bool(updated)
