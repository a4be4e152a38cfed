"""The help center's pages: who sees what, caching, 404s, search analytics, the
sitemap, and "Was this helpful?" through the KB's services."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.test import Client

from knowledge import services
from knowledge.models import (
    KnowledgeArticle,
    KnowledgeArticleFeedback,
    KnowledgeArticleRating,
    KnowledgeSearchHistory,
)
from nixflow.models import User
from nixflow.security import UserThrottle
from tests.helpcenter.conftest import DRAFT_MARKER, INTERNAL_MARKER
from tests.knowledge.factories import ArticleFactory, AttachmentFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "/help/",
    "/help/network/",
    "/help/articles/connect-to-the-vpn/",
    "/help/search/?q=vpn",
    "/help/sitemap.xml",
    "/help/sitemap-articles.xml",
    "/help/sitemap-categories.xml",
]


def _title(content: bytes) -> str:
    found = re.search(rb"<title>(.*?)</title>", content, re.S)
    assert found is not None
    return found.group(1).decode().strip()


# --- visibility ----------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_anonymous_and_requesters_never_get_internal_or_draft_bytes(
    scene: None, client: Client, requester_client: Client, page: str
) -> None:
    for reader in (client, requester_client):
        response = reader.get(page)
        assert response.status_code == 200
        assert INTERNAL_MARKER.encode() not in response.content
        assert DRAFT_MARKER.encode() not in response.content
        assert b"Runbooks" not in response.content  # a category of internal articles only


def test_internal_and_draft_articles_are_the_same_404_as_no_article(
    scene: None, client: Client, requester_client: Client
) -> None:
    for reader in (client, requester_client):
        for slug in ("restart-the-vpn-concentrator", "vpn-draft", "no-such-article"):
            response = reader.get(f"/help/articles/{slug}/")
            assert response.status_code == 404
            assert b"find that page" in response.content
            assert INTERNAL_MARKER.encode() not in response.content
        assert reader.get("/help/runbooks/").status_code == 404
        assert reader.get("/help/nope/").status_code == 404


def test_agents_also_read_internal_articles_marked_internal_but_never_drafts(
    scene: None, agent_client: Client
) -> None:
    article = agent_client.get("/help/articles/restart-the-vpn-concentrator/")
    assert article.status_code == 200
    assert INTERNAL_MARKER.encode() in article.content
    assert b'<span class="badge">Internal</span>' in article.content
    assert b'<meta name="robots" content="noindex">' in article.content
    home = agent_client.get("/help/")
    assert b"Runbooks" in home.content
    search = agent_client.get("/help/search/?q=concentrator")
    assert INTERNAL_MARKER.encode() in search.content
    assert agent_client.get("/help/articles/vpn-draft/").status_code == 404
    # The sitemap is the anonymous one, whoever fetches it.
    for sitemap in ("/help/sitemap-articles.xml", "/help/sitemap-categories.xml"):
        assert INTERNAL_MARKER.encode() not in agent_client.get(sitemap).content
        assert b"runbooks" not in agent_client.get(sitemap).content


def test_home_lists_categories_with_counts_and_articles(scene: None, client: Client) -> None:
    response = client.get("/help/")
    text = response.content.decode()
    assert _title(response.content) == "Help center · NixFlow"
    network = r'href="/help/network/">Network</a></h3>\s*<p class="muted">1 article<'
    assert re.search(network, text)
    assert (
        text.count('href="/help/articles/connect-to-the-vpn/"') == 2
    )  # most viewed, recently updated
    assert '<html lang="en">' in text
    assert 'class="skip-link" href="#main"' in text


def test_the_article_page_shows_the_sanitized_body_as_the_api_does(
    public_article: KnowledgeArticle, client: Client
) -> None:
    response = client.get("/help/articles/connect-to-the-vpn/")
    text = response.content.decode()
    assert _title(response.content) == "Connect to the VPN · NixFlow"
    assert '<meta name="description" content="Install the client and sign in.">' in text
    assert public_article.body_html in text
    assert "<strong>VPN client</strong>" in text
    assert "<script>alert(1)</script>" not in text
    assert "<script" not in text  # no script at all: CSP-clean, works without JavaScript
    assert 'href="/help/network/"' in text  # breadcrumb
    api = client.get(f"/api/knowledge/articles/{public_article.pk}/").json()
    assert api["body_html"] in text


def test_attachments_link_to_the_kbs_download_and_related_articles_show(
    public_article: KnowledgeArticle, client: Client
) -> None:
    file = AttachmentFactory(article=public_article, filename="vpn-setup.pdf")
    ArticleFactory(title="VPN on a phone", slug="vpn-on-a-phone", category=public_article.category)
    text = client.get("/help/articles/connect-to-the-vpn/").content.decode()
    url = f"/api/knowledge/articles/{public_article.pk}/attachments/{file.pk}/"
    assert f'href="{url}"' in text
    assert client.get(url).status_code == 200  # served to anonymous readers
    assert 'href="/help/articles/vpn-on-a-phone/"' in text


def test_the_article_page_reads_in_a_constant_number_of_queries(
    public_article: KnowledgeArticle,
    agent_client: Client,
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(6):
        made = ArticleFactory(title=f"VPN {n}", slug=f"vpn-{n}", category=public_article.category)
        AttachmentFactory(article=made, filename=f"file-{n}.pdf")
    AttachmentFactory(article=public_article, filename="one.pdf")
    AttachmentFactory(article=public_article, filename="two.pdf", content=b"two")
    agent_client.get("/help/articles/connect-to-the-vpn/")  # the first read writes the view
    # Session, user, the article with its freshness (one statement), its files, the view
    # check, related articles.
    with django_assert_max_num_queries(6):
        response = agent_client.get("/help/articles/connect-to-the-vpn/")
    assert response.content.count(b'href="/help/articles/vpn-') == 5


def test_reading_the_page_counts_a_view_once(
    public_article: KnowledgeArticle, client: Client
) -> None:
    client.get("/help/articles/connect-to-the-vpn/")
    client.get("/help/articles/connect-to-the-vpn/")
    public_article.refresh_from_db()
    assert public_article.view_count == 1


# --- conditional GETs ------------------------------------------------------------------
def test_a_current_copy_is_answered_304_and_a_change_makes_a_new_etag(
    public_article: KnowledgeArticle, client: Client, agent: User
) -> None:
    first = client.get("/help/articles/connect-to-the-vpn/")
    etag, modified = first["ETag"], first["Last-Modified"]
    assert (
        client.get("/help/articles/connect-to-the-vpn/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    )
    since = client.get("/help/articles/connect-to-the-vpn/", HTTP_IF_MODIFIED_SINCE=modified)
    assert since.status_code == 304

    services.article_update(
        article=public_article, actor=agent, data={"body": "New steps."}, note="rewrite"
    )
    again = client.get("/help/articles/connect-to-the-vpn/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200
    assert again["ETag"] != etag
    assert b"New steps." in again.content


def test_a_new_attachment_makes_a_new_etag(
    public_article: KnowledgeArticle, client: Client
) -> None:
    etag = client.get("/help/articles/connect-to-the-vpn/")["ETag"]
    AttachmentFactory(article=public_article, filename="vpn-setup.pdf")
    again = client.get("/help/articles/connect-to-the-vpn/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200
    assert b"vpn-setup.pdf" in again.content


def test_a_rating_makes_a_new_etag_for_its_reader(
    public_article: KnowledgeArticle, requester_client: Client
) -> None:
    etag = requester_client.get("/help/articles/connect-to-the-vpn/")["ETag"]
    requester_client.post("/help/articles/connect-to-the-vpn/helpful/", {"helpful": "yes"})
    again = requester_client.get("/help/articles/connect-to-the-vpn/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200


def test_another_reader_does_not_share_an_etag(
    public_article: KnowledgeArticle, client: Client, requester_client: Client
) -> None:
    etag = client.get("/help/articles/connect-to-the-vpn/")["ETag"]
    mine = requester_client.get("/help/articles/connect-to-the-vpn/", HTTP_IF_NONE_MATCH=etag)
    assert mine.status_code == 200


# --- search ----------------------------------------------------------------------------
def test_search_shows_snippets_and_records_the_search_and_its_click(
    scene: None, client: Client, public_article: KnowledgeArticle
) -> None:
    response = client.get("/help/search/?q=vpn client")
    text = response.content.decode()
    assert "<mark>" in text
    row = KnowledgeSearchHistory.objects.get()
    assert (row.query, row.results_count, row.user) == ("vpn client", 1, None)
    link = f"/help/search/{row.token}/articles/connect-to-the-vpn/"
    assert f'href="{link}"' in text
    followed = client.get(link)
    assert followed.status_code == 302
    assert followed["Location"] == "/help/articles/connect-to-the-vpn/"
    row.refresh_from_db()
    assert row.clicked_article == public_article


def test_a_click_on_an_article_the_reader_may_not_see_records_nothing(
    scene: None, client: Client
) -> None:
    client.get("/help/search/?q=vpn")
    row = KnowledgeSearchHistory.objects.get()
    link = f"/help/search/{row.token}/articles/restart-the-vpn-concentrator/"
    assert client.get(link).status_code == 404
    row.refresh_from_db()
    assert row.clicked_article is None


def test_search_pages_and_bad_input(scene: None, client: Client, agent: User) -> None:
    for n in range(12):
        ArticleFactory(title=f"Printer {n} jams", slug=f"printer-{n}", author=agent)
    first = client.get("/help/search/?q=printer").content.decode()
    assert "12 articles found" in first
    assert 'rel="next"' in first
    second = client.get("/help/search/?q=printer&page=2").content.decode()
    assert second.count('href="/help/articles/printer-') == 2  # 12 results, 10 a page
    assert 'rel="prev"' in second
    assert KnowledgeSearchHistory.objects.count() == 1  # later pages are the same search
    assert client.get("/help/search/?q=" + "x" * 301).status_code == 400
    assert client.get("/help/search/?q=%00").status_code == 200
    assert client.get("/help/search/?q=printer&page=abc").status_code == 200
    assert client.get("/help/search/").status_code == 200


# --- sitemap ---------------------------------------------------------------------------
def test_the_sitemap_lists_public_articles_and_categories_only(scene: None, client: Client) -> None:
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    index = client.get("/help/sitemap.xml")
    assert index["Content-Type"].startswith("application/xml")
    root = ET.fromstring(index.content)  # noqa: S314 (our own page)
    sections = [loc.text or "" for loc in root.findall("s:sitemap/s:loc", ns)]
    assert sections == [
        "http://testserver/help/sitemap-articles.xml",
        "http://testserver/help/sitemap-categories.xml",
    ]
    locations = set()
    for section in sections:
        page = client.get(section.removeprefix("http://testserver"))
        assert page.status_code == 200
        root = ET.fromstring(page.content)  # noqa: S314 (our own page)
        locations |= {loc.text for loc in root.findall("s:url/s:loc", ns)}
    assert locations == {
        "http://testserver/help/articles/connect-to-the-vpn/",
        "http://testserver/help/network/",
    }
    assert client.get("/help/sitemap-nothing.xml").status_code == 404


def test_the_articles_sitemap_pages_by_ten_thousand(
    public_article: KnowledgeArticle, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpcenter.sitemaps import ArticleSitemap

    monkeypatch.setattr(ArticleSitemap, "limit", 2)
    for n in range(3):
        ArticleFactory(title=f"Printer {n}", slug=f"printer-{n}")
    index = client.get("/help/sitemap.xml").content.decode()
    assert "/help/sitemap-articles.xml?p=2</loc>" in index
    second = client.get("/help/sitemap-articles.xml?p=2").content.decode()
    assert second.count("<url>") == 2
    assert client.get("/help/sitemap-articles.xml?p=3").status_code == 404


# --- "Was this helpful?" -------------------------------------------------------------
def test_a_signed_in_reader_rates_and_comments_without_javascript(
    public_article: KnowledgeArticle, requester: User
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(requester)
    page = client.get("/help/articles/connect-to-the-vpn/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    refused = client.post("/help/articles/connect-to-the-vpn/helpful/", {"helpful": "no"})
    assert refused.status_code == 403  # no CSRF token
    response = client.post(
        "/help/articles/connect-to-the-vpn/helpful/",
        {"helpful": "no", "csrfmiddlewaretoken": token.group(1)},
    )
    assert response.status_code == 302
    assert response["Location"] == "/help/articles/connect-to-the-vpn/?thanks=1#helpful"
    assert KnowledgeArticleRating.objects.get(user=requester).helpful is False
    public_article.refresh_from_db()
    assert public_article.not_helpful_count == 1
    after = client.get("/help/articles/connect-to-the-vpn/?thanks=1").content.decode()
    assert 'value="no" class="button" aria-pressed="true"' in after

    client.post(
        "/help/articles/connect-to-the-vpn/feedback/",
        {"comment": "Step 2 is out of date.", "csrfmiddlewaretoken": token.group(1)},
    )
    feedback = KnowledgeArticleFeedback.objects.get()
    assert (feedback.author, feedback.comment) == (requester, "Step 2 is out of date.")


def test_rating_needs_a_visible_article_and_an_answer(
    scene: None, client: Client, requester_client: Client
) -> None:
    hidden = requester_client.post(
        "/help/articles/restart-the-vpn-concentrator/helpful/", {"helpful": "yes"}
    )
    assert hidden.status_code == 404
    bad = requester_client.post("/help/articles/connect-to-the-vpn/helpful/", {"helpful": "maybe"})
    assert bad.status_code == 400
    empty = requester_client.post("/help/articles/connect-to-the-vpn/feedback/", {"comment": "  "})
    assert empty.status_code == 400
    assert b"Tell us what is wrong or missing." in empty.content
    assert not KnowledgeArticleRating.objects.exists()
    assert not KnowledgeArticleFeedback.objects.exists()


def test_ratings_are_limited_as_the_apis_are(
    public_article: KnowledgeArticle, requester_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(UserThrottle, "rate", "1/hour", raising=False)
    ok = requester_client.post("/help/articles/connect-to-the-vpn/helpful/", {"helpful": "yes"})
    assert ok.status_code == 302
    limited = requester_client.post("/help/articles/connect-to-the-vpn/helpful/", {"helpful": "no"})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert KnowledgeArticleRating.objects.get().helpful is True


def test_pages_answer_head_requests(public_article: KnowledgeArticle, client: Client) -> None:
    for page in ("/help/", "/help/articles/connect-to-the-vpn/", "/help/search/?q=vpn"):
        assert client.head(page).status_code == 200
    assert client.post("/help/").status_code == 405


def test_get_is_refused_on_the_write_addresses(
    public_article: KnowledgeArticle, requester_client: Client
) -> None:
    assert requester_client.get("/help/articles/connect-to-the-vpn/helpful/").status_code == 405


def test_a_german_reader_reads_the_help_center_in_german(scene: None, client: Client) -> None:
    home = client.get("/help/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="de">' in home
    assert "Wie können wir helfen?" in home
    assert "1 Artikel" in home
    article = client.get(
        "/help/articles/connect-to-the-vpn/", HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert "War dieser Artikel hilfreich?" in article
    assert "Anleitung" in article  # the kind of article
    search = client.get("/help/search/?q=vpn", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "1 Artikel gefunden" in search
    missing = client.get("/help/nothing/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Diese Seite finden wir nicht" in missing


def test_a_new_tag_makes_a_new_etag(public_article: KnowledgeArticle, client: Client) -> None:
    from tests.knowledge.factories import TagFactory

    etag = client.get("/help/articles/connect-to-the-vpn/")["ETag"]
    public_article.tags.add(TagFactory(name="remote work", slug="remote-work"))
    again = client.get("/help/articles/connect-to-the-vpn/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200
    assert b"<li>remote work</li>" in again.content
