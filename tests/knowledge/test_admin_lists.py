"""The search history at any size: keyset pages and words found inside the queries."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from knowledge.admin import KnowledgeSearchHistoryAdmin
from knowledge.models import KnowledgeSearchHistory
from tests.knowledge.factories import SearchHistoryFactory
from tests.list_pages import rows, small_pages, walk

URL = reverse("admin:knowledge_knowledgesearchhistory_changelist")


def test_the_search_history_pages_by_keys_newest_first(
    agent_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch, KnowledgeSearchHistoryAdmin, per_page=3, numbered=2)
    SearchHistoryFactory.create_batch(8)

    seen, offsets = walk(agent_client, URL)

    assert seen == list(KnowledgeSearchHistory.objects.order_by("-created", "-id"))
    assert max(offsets) <= 3


def test_the_search_history_is_searched_by_words_inside_the_queries(
    agent_client: Client,
) -> None:
    reset = SearchHistoryFactory(query="How to RESET my password")
    SearchHistoryFactory(query="printer driver")
    zero = SearchHistoryFactory(query="password expired", results_count=0)

    def search(q: str, **params: str) -> set[KnowledgeSearchHistory]:
        return set(rows(agent_client.get(URL, {"q": q, **params})))

    assert search("Password") == {reset, zero}
    assert search("password reset") == {reset}
    assert search("password", results="none") == {zero}
    assert search("my") == set()  # a short word alone has no index to use
