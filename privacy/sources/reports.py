"""Report tallies: counts by day, but the search tally is keyed by the query's text."""

from __future__ import annotations

from django.db import connection

from privacy import registry
from privacy.person import Erasure, Person
from privacy.registry import Export
from reports.models import SearchDayTally

# The tally is kept by triggers as signed deltas (a deleted search adds a -1 row), so
# the text of a deleted query stays in rows that sum to zero: those groups go.
_ZERO_GROUPS_SQL = """
DELETE FROM reports_searchdaytally t
USING (
    SELECT day, normalized_query FROM reports_searchdaytally
    GROUP BY day, normalized_query HAVING sum(searches) = 0 AND sum(no_result) = 0
) z
WHERE t.day = z.day AND t.normalized_query = z.normalized_query
"""


def export(person: Person) -> Export:
    # Counts per query, not per person: nothing in them is the person's.
    return Export(data={})


def erase(person: Person, erasure: Erasure) -> int:
    # A query that names the person is personal whoever ran it.
    changed = SearchDayTally.objects.filter(person.mentions("normalized_query")).delete()[0]
    with connection.cursor() as cursor:
        cursor.execute(_ZERO_GROUPS_SQL)
        changed += cursor.rowcount
    return changed


registry.register(
    "reports",
    models=[SearchDayTally],
    exporter=export,
    eraser=erase,
    order=60,  # after the help center deleted the searches
    description="The search tally's queries that name the person or only they ran.",
)
