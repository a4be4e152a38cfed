"""What readers send from an article page: "Was this helpful?" (anonymous readers too,
once each), comments (anonymous ones stay feedback; a signed-in reader's may become a
request), and the files they download."""

from __future__ import annotations

import pytest
from django.test import Client

from knowledge.models import (
    FeedbackStatus,
    KnowledgeArticle,
    KnowledgeArticleFeedback,
    KnowledgeArticleRating,
)
from nixflow.models import Source, Ticket, User
from tests.helpcenter.conftest import INTERNAL_MARKER
from tests.knowledge.factories import AttachmentFactory

pytestmark = pytest.mark.django_db

ARTICLE = "/help/articles/connect-to-the-vpn/"


def _browser(address: str = "198.51.100.7", agent: str = "Firefox/140") -> Client:
    return Client(REMOTE_ADDR=address, HTTP_USER_AGENT=agent)


def test_an_anonymous_reader_answers_once_and_may_change_the_answer(
    public_article: KnowledgeArticle,
) -> None:
    reader = _browser()
    assert b"Was this article helpful?" in reader.get(ARTICLE).content
    first = reader.post(f"{ARTICLE}helpful/", {"helpful": "yes"})
    assert first.status_code == 302
    assert first["Location"] == f"{ARTICLE}?thanks=1#helpful"
    reader.post(f"{ARTICLE}helpful/", {"helpful": "yes"})
    reader.post(f"{ARTICLE}helpful/", {"helpful": "no"})

    rating = KnowledgeArticleRating.objects.get()
    assert (rating.user, rating.helpful) == (None, False)
    assert rating.reader_key.startswith("anon:")
    assert "198.51.100.7" not in rating.reader_key  # a hash, never the address
    public_article.refresh_from_db()
    assert (public_article.helpful_count, public_article.not_helpful_count) == (0, 1)
    page = reader.get(f"{ARTICLE}?thanks=1").content.decode()
    assert 'value="no" class="button" aria-pressed="true"' in page


def test_dropping_cookies_does_not_answer_twice_but_another_reader_counts(
    public_article: KnowledgeArticle,
) -> None:
    _browser().post(f"{ARTICLE}helpful/", {"helpful": "yes"})
    _browser().post(f"{ARTICLE}helpful/", {"helpful": "yes"})  # a fresh client: no cookies
    _browser(address="203.0.113.9").post(f"{ARTICLE}helpful/", {"helpful": "yes"})

    assert KnowledgeArticleRating.objects.count() == 2
    public_article.refresh_from_db()
    assert public_article.helpful_count == 2


def test_an_anonymous_answer_changes_the_etag_of_that_reader_only(
    public_article: KnowledgeArticle,
) -> None:
    reader, other = _browser(), _browser(address="203.0.113.9")
    etag = reader.get(ARTICLE)["ETag"]
    assert other.get(ARTICLE, HTTP_IF_NONE_MATCH=etag).status_code == 304
    reader.post(f"{ARTICLE}helpful/", {"helpful": "yes"})
    assert reader.get(ARTICLE, HTTP_IF_NONE_MATCH=etag).status_code == 200
    assert other.get(ARTICLE, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_an_anonymous_comment_stays_feedback_with_its_contact(
    public_article: KnowledgeArticle,
) -> None:
    reader = _browser()
    response = reader.post(
        f"{ARTICLE}feedback/",
        {"comment": "Step 2 is wrong.", "contact": "kim@example.com", "as_request": "1"},
    )
    assert response["Location"] == f"{ARTICLE}?thanks=2#helpful"
    feedback = KnowledgeArticleFeedback.objects.get()
    assert (feedback.author, feedback.contact, feedback.status) == (
        None,
        "kim@example.com",
        FeedbackStatus.OPEN,
    )
    assert not Ticket.objects.exists()
    assert b"the article's editors will read" in reader.get(f"{ARTICLE}?thanks=2").content


def test_a_signed_in_readers_comment_sent_as_a_request_opens_their_ticket(
    public_article: KnowledgeArticle, requester: User, requester_client: Client
) -> None:
    response = requester_client.post(
        f"{ARTICLE}feedback/", {"comment": "The client will not start.", "as_request": "1"}
    )
    ticket = Ticket.objects.get()
    assert response["Location"] == f"{ARTICLE}?thanks=3&ticket={ticket.pk}#helpful"
    assert (ticket.requester, ticket.source) == (requester, Source.WEB)
    assert "The client will not start." in ticket.description
    feedback = KnowledgeArticleFeedback.objects.get()
    assert (feedback.status, feedback.ticket) == (FeedbackStatus.TICKET, ticket)
    assert public_article.ticket_links.get().ticket == ticket
    page = requester_client.get(f"{ARTICLE}?thanks=3&ticket={ticket.pk}").content.decode()
    assert f"we opened your request {ticket.key}" in page


def test_another_readers_ticket_is_not_named_on_the_page(
    public_article: KnowledgeArticle, requester: User, other_requester: User
) -> None:
    mine = Client()
    mine.force_login(requester)
    mine.post(f"{ARTICLE}feedback/", {"comment": "Help.", "as_request": "1"})
    ticket = Ticket.objects.get()
    theirs = Client()
    theirs.force_login(other_requester)
    page = theirs.get(f"{ARTICLE}?thanks=3&ticket={ticket.pk}").content.decode()
    assert ticket.key not in page


def test_a_comment_without_the_box_ticked_stays_feedback(
    public_article: KnowledgeArticle, requester_client: Client
) -> None:
    requester_client.post(f"{ARTICLE}feedback/", {"comment": "Typo in step 1."})
    assert KnowledgeArticleFeedback.objects.get().status == FeedbackStatus.OPEN
    assert not Ticket.objects.exists()


def test_bad_comments_get_a_clear_message(public_article: KnowledgeArticle) -> None:
    reader = _browser()
    empty = reader.post(f"{ARTICLE}feedback/", {"comment": " "})
    assert empty.status_code == 400
    assert b"Tell us what is wrong or missing." in empty.content
    assert not KnowledgeArticleFeedback.objects.exists()


def test_nobody_rates_or_comments_on_an_article_they_may_not_see(
    scene: None, client: Client, requester_client: Client
) -> None:
    for reader in (client, requester_client):
        for slug in ("restart-the-vpn-concentrator", "vpn-draft"):
            rated = reader.post(f"/help/articles/{slug}/helpful/", {"helpful": "yes"})
            commented = reader.post(f"/help/articles/{slug}/feedback/", {"comment": "Hi"})
            assert (rated.status_code, commented.status_code) == (404, 404)
            assert INTERNAL_MARKER.encode() not in rated.content + commented.content
    assert not KnowledgeArticleRating.objects.exists()
    assert not KnowledgeArticleFeedback.objects.exists()


def test_files_of_internal_articles_are_for_agents_only(
    internal_article: KnowledgeArticle, agent: User, requester_client: Client
) -> None:
    file = AttachmentFactory(article=internal_article, filename="runbook.pdf")
    url = f"/api/knowledge/articles/{internal_article.pk}/attachments/{file.pk}/"
    assert Client().get(url).status_code == 404
    assert requester_client.get(url).status_code == 404
    staff = Client()
    staff.force_login(agent)
    page = staff.get(f"/help/articles/{internal_article.slug}/").content.decode()
    assert f'href="{url}"' in page
    assert staff.get(url).status_code == 200


def test_related_articles_share_the_category_first_then_a_tag(
    public_article: KnowledgeArticle, agent: User, client: Client
) -> None:
    from tests.knowledge.factories import ArticleFactory, CategoryFactory, TagFactory

    vpn = TagFactory(name="vpn", slug="vpn")
    public_article.tags.add(vpn)
    elsewhere = CategoryFactory(name="Phones", slug="phones")
    same = ArticleFactory(title="VPN logs", slug="vpn-logs", category=public_article.category)
    tagged = ArticleFactory(title="VPN on a phone", slug="vpn-phone", category=elsewhere)
    tagged.tags.add(vpn)
    hidden = ArticleFactory(
        title=f"VPN keys {INTERNAL_MARKER}",
        slug="vpn-keys",
        category=elsewhere,
        visibility="INTERNAL",
    )
    hidden.tags.add(vpn)
    ArticleFactory(title="Unrelated", slug="unrelated", category=elsewhere)

    page = client.get(ARTICLE).content.decode()
    related = page[page.index('id="related-title"') :]
    assert related.index(f'href="/help/articles/{same.slug}/"') < related.index(
        f'href="/help/articles/{tagged.slug}/"'
    )
    assert "unrelated" not in related
    assert INTERNAL_MARKER not in page
    staff = Client()
    staff.force_login(agent)
    assert 'href="/help/articles/vpn-keys/"' in staff.get(ARTICLE).content.decode()
