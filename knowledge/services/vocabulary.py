"""The vocabulary behind typo tolerance and prefix completion (``KnowledgeWord``).

Lower-cased words of three to forty letters from every article's title, summary and
text, as the 'simple' text search configuration splits them (it neither stems nor drops
stop words): numbers, codes and URLs are not typo-corrected.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction

_VOCABULARY_SQL = """
    INSERT INTO knowledge_knowledgeword (word)
    SELECT DISTINCT w
    FROM unnest(%s::text[]) AS t(text),
         unnest(tsvector_to_array(to_tsvector('simple', t.text))) AS w
    WHERE w ~ '^[[:alpha:]]{3,40}$'
    -- In order: two writers adding the same new words wait for each other on the
    -- first one instead of each holding a word the other needs (a deadlock).
    ORDER BY w
    ON CONFLICT (word) DO NOTHING
"""


def vocabulary_add(*, texts: Sequence[str]) -> None:
    """Add the words of ``texts`` to the vocabulary behind typo tolerance."""
    texts = [text for text in texts if text]
    if not texts:
        return
    with connection.cursor() as cursor:
        cursor.execute(_VOCABULARY_SQL, [texts])


def vocabulary_rebuild() -> int:
    """The vocabulary recomputed from every article (words of deleted articles go)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM knowledge_knowledgeword")
        cursor.execute(
            """
            INSERT INTO knowledge_knowledgeword (word)
            SELECT word FROM ts_stat(
                'SELECT to_tsvector(''simple'', title || '' '' || summary || '' '' || body_text)
                 FROM knowledge_knowledgearticle'
            )
            WHERE word ~ '^[[:alpha:]]{3,40}$'
            """
        )
        return cursor.rowcount
