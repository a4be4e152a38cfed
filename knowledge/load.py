"""``load_data --extras knowledge``: a search history as long as the desk's.

``SEARCHES_PER_TICKET`` searches per loaded ticket (people look before they ask), each a
little before its ticket was created, by its requester mostly, sometimes by an agent or
anonymously, over ``QUERIES`` (common and rare words, two-word queries, typos with their
correction). ``normalized_query`` is what the search itself stores
(``knowledge.query.parse(...).normalized()``). About one search in twelve finds
nothing; a third of the others opened an article, when published articles exist
(``knowledge_load`` writes some); otherwise no clicks. Articles are not generated here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus
from knowledge.query import parse
from nixflow.toolkit.loading import LoadBatch, LoadRun, copy_rows

SEARCHES_PER_TICKET = 1
ZERO_RESULTS_SHARE = 1 / 12
CLICK_SHARE = 1 / 3
# query -> its correction ("" when none); common words repeat so that they dominate.
QUERIES = {
    "vpn": "",
    "VPN": "",
    "reset password": "",
    "password": "",
    "printer": "",
    "outlook calendar": "",
    "wifi": "",
    "mfa": "",
    "laptop": "",
    "expenses": "",
    "zoom audio": "",
    "yubikey": "",
    "onboarding": "",
    "shared mailbox": "",
    "vpn mac": "",
    "docking station": "",
    "pasword": "password",
    "outlok": "outlook",
    "printr": "printer",
    "badge reader": "",
    "sso okta": "",
    "new hire access": "",
    "license renewal": "",
    "teams call quality": "",
}
COLUMNS = (
    "query",
    "normalized_query",
    "user_id",
    "results_count",
    "corrected_query",
    "clicked_article_id",
    "clicked_at",
    "token",
    "created",
)


class SearchHistoryLoader:
    tables = ("knowledge_knowledgesearchhistory",)

    def __init__(self, run: LoadRun) -> None:
        self.run = run
        self.queries = [(q, parse(q).normalized(), fix) for q, fix in QUERIES.items()]
        self.articles = list(
            KnowledgeArticle.objects.filter(status=KnowledgeArticleStatus.PUBLISHED)
            .order_by("pk")
            .values_list("pk", flat=True)[:1000]
        )

    def load(self, batch: LoadBatch) -> Mapping[str, int]:
        written = copy_rows("knowledge_knowledgesearchhistory", COLUMNS, self.rows(batch))
        return {"KB searches": written}

    def rows(self, batch: LoadBatch) -> Iterator[tuple[Any, ...]]:
        rng, agents = self.run.rng, self.run.agents
        for ticket in batch.tickets:
            for _ in range(SEARCHES_PER_TICKET):
                query, normalized, correction = self.queries[
                    int(rng.random() ** 2 * len(self.queries))  # the first ones most
                ]
                who = rng.random()
                user = ticket.requester_id if who < 0.7 else rng.choice(agents)
                # Before the ticket, so a click a minute later is still in the past.
                at = ticket.created - timedelta(seconds=60 + rng.random() * 600)
                found = 0 if rng.random() < ZERO_RESULTS_SHARE else rng.randint(1, 40)
                clicked = None
                if found and self.articles and rng.random() < CLICK_SHARE:
                    clicked = rng.choice(self.articles)
                yield (
                    query,
                    normalized,
                    None if who > 0.9 else user,
                    found,
                    correction,
                    clicked,
                    None if clicked is None else at + timedelta(seconds=5 + rng.random() * 50),
                    uuid.uuid4(),  # a secret of the searcher: not from the seeded generator
                    at,
                )

    def finish(self) -> None:
        pass


def loader(run: LoadRun) -> SearchHistoryLoader:
    return SearchHistoryLoader(run)
