"""The help center's search page: filters (category, tag, kind), pages that keep them,
"did you mean", and every search and click in the KB's search history."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from knowledge.models import KBCategory, KnowledgeArticle, KnowledgeSearchHistory, Visibility
from nixflow.models import User
from tests.helpcenter.conftest import INTERNAL_MARKER
from tests.knowledge.factories import ArticleFactory, CategoryFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def printers(agent: User) -> None:
    """25 printer articles: 15 in Hardware (tagged "office", 5 of them FAQs), 10 elsewhere,
    and an internal one in a category of its own."""
    hardware = CategoryFactory(name="Hardware", slug="hardware")
    software = CategoryFactory(name="Software", slug="software")
    office = TagFactory(name="office", slug="office")
    for n in range(15):
        article = ArticleFactory(
            title=f"Printer {n} jams",
            slug=f"hw-printer-{n}",
            category=hardware,
            kind=KBCategory.FAQ if n < 5 else KBCategory.HOW_TO,
            author=agent,
        )
        article.tags.add(office)
    for n in range(10):
        ArticleFactory(
            title=f"Printer driver {n}", slug=f"sw-printer-{n}", category=software, author=agent
        )
    secret = CategoryFactory(name="Secret printers", slug="secret-printers")
    internal = ArticleFactory(
        title=f"Printer backdoor {INTERNAL_MARKER}",
        slug="printer-backdoor",
        category=secret,
        visibility=Visibility.INTERNAL,
        author=agent,
    )
    internal.tags.add(TagFactory(name="internal-only", slug="internal-only"))


def _results(text: str) -> list[str]:
    return re.findall(r'href="/help/search/[0-9a-f-]{36}/articles/([\w-]+)/"', text)


def test_a_category_filter_narrows_the_results_and_the_pages_keep_it(
    printers: None, client: Client
) -> None:
    first = client.get("/help/search/?q=printer&category=hardware").content.decode()
    assert "15 articles found" in first
    assert all(slug.startswith("hw-") for slug in _results(first))
    assert '<option value="hardware" selected>Hardware</option>' in first
    following = re.search(r'href="([^"]+)" rel="next"', first)
    assert following is not None
    link = following.group(1).replace("&amp;", "&")
    assert "category=hardware" in link
    second = client.get(link).content.decode()
    assert len(_results(second)) == 5
    assert all(slug.startswith("hw-") for slug in _results(second))
    assert KnowledgeSearchHistory.objects.count() == 1  # page 2 is the same search


def test_tag_and_kind_filters(printers: None, client: Client) -> None:
    tagged = client.get("/help/search/?q=printer&tag=office").content.decode()
    assert "15 articles found" in tagged
    faqs = client.get("/help/search/?q=printer&tag=office&kind=FAQ").content.decode()
    assert "5 articles found" in faqs
    assert '<option value="FAQ" selected>FAQ</option>' in faqs


def test_filters_a_reader_may_not_choose_are_dropped_and_said(
    printers: None, client: Client
) -> None:
    response = client.get("/help/search/?q=printer&category=secret-printers&kind=NOPE")
    assert response.status_code == 200
    text = response.content.decode()
    assert "so the search does not use them: Category, Kind of article." in text
    assert "25 articles found" in text  # searched without them
    assert "Secret printers" not in text  # not offered either
    assert "internal-only" not in text
    assert INTERNAL_MARKER not in text


def test_agents_may_filter_by_what_only_they_see(printers: None, agent_client: Client) -> None:
    text = agent_client.get("/help/search/?q=printer&category=secret-printers").content.decode()
    assert "1 article found" in text
    assert INTERNAL_MARKER in text
    assert '<span class="badge">Internal</span>' in text


def test_a_typo_is_corrected_with_a_did_you_mean_link(
    public_article: KnowledgeArticle, client: Client
) -> None:
    text = client.get("/help/search/?q=connecct").content.decode()
    assert "Did you mean “connect”?" in text
    assert 'href="/help/search/?q=connect"' in text
    assert "connect-to-the-vpn" in text
    row = KnowledgeSearchHistory.objects.get()
    assert (row.query, row.corrected_query, row.results_count) == ("connecct", "connect", 1)


def test_each_search_and_its_first_click_are_recorded(
    public_article: KnowledgeArticle, requester: User, requester_client: Client
) -> None:
    requester_client.get("/help/search/?q=vpn")
    requester_client.get("/help/search/?q=client")
    first, second = KnowledgeSearchHistory.objects.order_by("id")
    assert (first.query, first.user, second.query) == ("vpn", requester, "client")
    for _ in range(2):
        followed = requester_client.get(f"/help/search/{first.token}/articles/connect-to-the-vpn/")
        assert followed["Location"] == "/help/articles/connect-to-the-vpn/"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.clicked_article == public_article
    assert second.clicked_article is None


def test_page_numbers_out_of_range_are_bounded(printers: None, client: Client) -> None:
    assert client.get("/help/search/?q=printer&page=0").status_code == 200
    last = client.get("/help/search/?q=printer&page=500").content.decode()
    assert "Page 100" in last
    assert "No article matches" in last


def test_a_full_page_of_results_takes_no_more_queries_than_one_result(
    printers: None, client: Client
) -> None:
    client.get("/help/search/?q=printer")  # the filter lists, kept a minute, are made
    with CaptureQueriesContext(connection) as one:
        client.get("/help/search/?q=backdoor+printer+driver+9")
    with CaptureQueriesContext(connection) as full:
        page = client.get("/help/search/?q=printer&tag=office").content.decode()
    assert len(_results(page)) == 10
    assert len(full) <= len(one)


def test_a_category_page_of_twenty_takes_no_more_queries_than_one(
    client: Client, agent: User
) -> None:
    small, big = (
        CategoryFactory(name="Small", slug="small"),
        CategoryFactory(name="Big", slug="big"),
    )
    ArticleFactory(title="Alone", slug="alone", category=small, author=agent)
    for n in range(25):
        ArticleFactory(title=f"Many {n}", slug=f"many-{n}", category=big, author=agent)
    with CaptureQueriesContext(connection) as one:
        client.get("/help/small/")
    with CaptureQueriesContext(connection) as full:
        page = client.get("/help/big/").content.decode()
    assert page.count('href="/help/articles/many-') == 20
    assert len(full) <= len(one)
