"""Full-text search: ranking, phrases, exclusions, prefixes, typos, filters, snippets."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge import search
from knowledge.models import KBCategory
from nixflow.models import User
from tests.knowledge.conftest import client_for
from tests.knowledge.factories import ArticleFactory, CategoryFactory, TagFactory

pytestmark = pytest.mark.django_db
ANONYMOUS = AnonymousUser()


def _titles(query: str, user: Any = ANONYMOUS, **filters: Any) -> list[str]:
    return [
        hit.article.title for hit in search.article_search(user=user, query=query, **filters).hits
    ]


def test_a_title_match_outranks_a_body_match() -> None:
    ArticleFactory(
        title="Laptop performance",
        body="Printer problems? The printer driver, the printer queue and the printer tray.",
    )
    ArticleFactory(title="Printer jams", body="Open the tray.")
    ArticleFactory(title="Badge access", summary="Printer badge readers and doors.", body="Doors.")

    assert _titles("printer ") == ["Printer jams", "Badge access", "Laptop performance"]


def test_all_words_are_required() -> None:
    ArticleFactory(title="VPN on macOS", body="Install the client.")
    ArticleFactory(title="VPN on Windows", body="Install the client.")

    assert _titles("vpn macos ") == ["VPN on macOS"]


def test_a_phrase_matches_only_adjacent_words_in_order() -> None:
    ArticleFactory(title="Password reset", body="To reset your password open the portal.")
    ArticleFactory(title="Password policy", body="Your password must be long. Reset it yearly.")

    assert _titles('"reset your password"') == ["Password reset"]
    assert set(_titles("reset password ")) == {"Password reset", "Password policy"}


def test_exclusions_remove_articles() -> None:
    ArticleFactory(title="VPN on macOS", body="Mac steps.")
    ArticleFactory(title="VPN on Windows", body="Windows steps.")
    ArticleFactory(title="VPN on an old laptop", body="Old client.")

    # The excluded word is in the body only: the title match does not bring it back.
    assert set(_titles("vpn -mac")) == {"VPN on an old laptop", "VPN on Windows"}
    assert set(_titles('vpn -"old client"')) == {"VPN on macOS", "VPN on Windows"}


def test_or_accepts_either_word() -> None:
    ArticleFactory(title="Printer jams", body="x")
    ArticleFactory(title="Scanner settings", body="x")
    ArticleFactory(title="Monitor flickers", body="x")

    assert set(_titles("printer or scanner ")) == {"Printer jams", "Scanner settings"}


def test_the_word_being_typed_is_completed() -> None:
    ArticleFactory(title="VPN connection drops", body="Reconnect.")
    ArticleFactory(title="Configure the VPN client", body="Settings.")

    # "connecti" is no stem of any stored word ("connection" is stored as "connect"):
    # the vocabulary completes it.
    assert _titles("vpn connecti") == ["VPN connection drops"]
    assert set(_titles("vpn con")) == {"VPN connection drops", "Configure the VPN client"}
    assert _titles("vpn con ") == []  # a finished word is not a prefix


def test_typos_are_corrected_when_full_text_finds_little() -> None:
    ArticleFactory(title="Reset your password", body="Use the self-service portal.")
    ArticleFactory(title="Outlook keeps asking for a password", body="Clear the credentials.")

    results = search.article_search(user=ANONYMOUS, query="pasword reset ")

    assert results.corrected_query == "password reset"
    assert [hit.article.title for hit in results.hits] == ["Reset your password"]
    assert search.article_search(user=ANONYMOUS, query="outlok ").hits[0].article.title == (
        "Outlook keeps asking for a password"
    )


def test_correct_spellings_are_not_corrected() -> None:
    ArticleFactory(title="Reset your password", body="x")

    results = search.article_search(user=ANONYMOUS, query="password ")

    assert results.corrected_query == ""
    assert results.count == 1


def test_typo_tolerance_does_not_reveal_words_of_hidden_articles() -> None:
    ArticleFactory(title="Reorganisation plans", body="Confidential.", visibility="INTERNAL")

    results = search.article_search(user=ANONYMOUS, query="reorganisaton ")

    assert (results.count, results.corrected_query) == (0, "")


def test_filters_by_category_with_subcategories_tag_and_kind(editor: User) -> None:
    network = CategoryFactory(name="Network")
    wifi = CategoryFactory(name="Wi-Fi", parent=network)
    devices = CategoryFactory(name="Devices")
    remote = TagFactory(name="remote-work")
    ArticleFactory(title="Guide one", category=network, kind=KBCategory.HOW_TO, tags=[remote])
    ArticleFactory(title="Guide two", category=wifi, kind=KBCategory.FAQ)
    ArticleFactory(title="Guide three", category=devices, kind=KBCategory.FAQ)

    assert set(_titles("guide ", category=network)) == {"Guide one", "Guide two"}
    assert _titles("guide ", tag=remote) == ["Guide one"]
    assert set(_titles("guide ", kind=KBCategory.FAQ)) == {"Guide two", "Guide three"}


def test_titles_and_snippets_are_highlighted_and_escaped() -> None:
    ArticleFactory(
        title="Printer <script>alert(1)</script> guide",
        body="Some intro.\n\nThe printer in room `<b>` jams; call the printer vendor.",
    )

    hit = search.article_search(user=ANONYMOUS, query="printer ").hits[0]

    assert "<mark>Printer</mark>" in hit.title_html
    assert "&lt;script&gt;" in hit.title_html
    assert "<script>" not in hit.title_html
    assert "<mark>printer</mark>" in hit.snippet_html
    # PostgreSQL's parser takes "<b>" in the text for a tag and leaves it out.
    assert "<b>" not in hit.snippet_html


def test_broad_queries_rank_a_bounded_window_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "RANK_WINDOW", 3)
    for n in range(5):
        ArticleFactory(title=f"Guide {n}", body="All about the printer.")
    ArticleFactory(title="Printer jams", body="Tray.")

    results = search.article_search(user=ANONYMOUS, query="printer ")

    assert (results.count, results.count_capped) == (3, True)
    assert results.hits[0].article.title == "Printer jams"  # the title match is never lost


def test_api_search_response_and_pagination() -> None:
    for n in range(3):
        ArticleFactory(title=f"Printer guide {n}", body="Printer steps.")

    first = client_for(None).get("/api/knowledge/search/", {"q": "printer", "page_size": 2})
    second = client_for(None).get(first.json()["next"])

    body = first.json()
    assert first.status_code == 200
    assert (body["count"], body["count_capped"], body["corrected_query"]) == (3, False, None)
    assert body["previous"] is None
    assert body["search_id"]
    assert set(body["results"][0]) >= {"id", "url", "title", "title_html", "snippet_html", "rank"}
    assert len(second.json()["results"]) == 1
    assert second.json()["next"] is None
    assert second.json()["search_id"] is None  # the same search, not a new one


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 301}, "q"),
        ({"q": "vpn", "category": "no-such"}, "category"),
        ({"q": "vpn", "tag": "no-such"}, "tag"),
        ({"q": "vpn", "kind": "BLOG"}, "kind"),
        ({"q": "vpn", "page": "0"}, "page"),
        ({"q": "vpn", "page": "x"}, "page"),
        ({"q": "vpn", "page_size": "500"}, "page_size"),
    ],
)
def test_api_search_bad_input_is_400_naming_the_field(params: dict, field: str) -> None:
    response = client_for(None).get("/api/knowledge/search/", params)

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("query", ["-vpn", '""', "!!! &&& ::: ()", "' OR 1=1 --", "a:*|b"])
def test_odd_queries_find_nothing_or_something_but_never_fail(query: str) -> None:
    ArticleFactory(title="VPN", body="x")

    response = client_for(None).get("/api/knowledge/search/", {"q": query})

    assert response.status_code == 200


def test_search_query_count_does_not_grow_with_the_page() -> None:
    for n in range(12):
        ArticleFactory(title=f"Printer guide {n}", body="Printer steps.")

    def queries(page_size: int) -> int:
        with CaptureQueriesContext(connection) as context:
            response = client_for(None).get(
                "/api/knowledge/search/", {"q": "printer ", "page_size": page_size}
            )
        assert len(response.json()["results"]) == page_size
        return len(context)

    assert queries(2) == queries(10)


def test_a_short_ambiguous_prefix_still_matches_every_word_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search, "MAX_COMPLETIONS", 1)  # the list of completions is cut
    ArticleFactory(title="VPN connection drops", body="x")
    ArticleFactory(title="VPN connector cable", body="x")
    ArticleFactory(title="VPN configuration", body="x")

    assert set(_titles("vpn conn")) == {"VPN connection drops", "VPN connector cable"}
