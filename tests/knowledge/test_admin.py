"""The editors' admin: saving through the services, status actions, versions, reports."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from eventlog.models import EventLog
from knowledge import services
from knowledge.models import (
    FeedbackStatus,
    KnowledgeArticle,
    KnowledgeArticleStatus,
)
from nixflow.models import Role, User
from tests.factories import UserFactory
from tests.knowledge.conftest import messages_of
from tests.knowledge.factories import ArticleFactory, FeedbackFactory, SearchHistoryFactory

pytestmark = pytest.mark.django_db


def test_adding_an_article_goes_through_the_service(browser: Client, editor: User) -> None:
    response = browser.post(
        reverse("admin:knowledge_knowledgearticle_add"),
        {
            "title": "Connect a printer",
            "slug": "",
            "summary": "",
            "body": "Hello <script>x()</script>",
            "note": "First version.",
            "kind": "HOW_TO",
            "visibility": "PUBLIC",
            "category": "",
            "tags": [],
        },
    )

    assert response.status_code == 302
    article = KnowledgeArticle.objects.get()
    assert (article.slug, article.author, article.body_html) == (
        "connect-a-printer",
        editor,
        "<p>Hello </p>",
    )
    assert article.versions.get().note == "First version."
    assert EventLog.objects.filter(type="knowledge.article.created").count() == 1


def test_changing_the_body_makes_a_version_with_the_note(browser: Client) -> None:
    article = ArticleFactory(title="Printer", body="Old.")
    url = reverse("admin:knowledge_knowledgearticle_change", args=[article.pk])
    page = browser.get(url)
    assert page.status_code == 200
    assert "Versions, diff and restore" in page.content.decode()

    response = browser.post(
        url,
        {
            "title": "Printer",
            "slug": article.slug,
            "summary": "",
            "body": "New.",
            "note": "Tray 2 steps.",
            "kind": "HOW_TO",
            "visibility": "PUBLIC",
            "category": "",
            "tags": [],
            **_empty_inlines(),
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    article.refresh_from_db()
    assert (article.version, article.body) == (2, "New.")
    assert article.versions.get(number=2).note == "Tray 2 steps."


def _empty_inlines() -> dict[str, str]:
    data = {}
    for prefix in ("attachments", "ticket_links", "feedback"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return data


def test_status_actions_call_the_service_and_report_refusals(browser: Client) -> None:
    draft = ArticleFactory(title="Draft", status=KnowledgeArticleStatus.DRAFT)
    review = ArticleFactory(title="Review", status=KnowledgeArticleStatus.IN_REVIEW)
    changelist = reverse("admin:knowledge_knowledgearticle_changelist")

    response = browser.post(
        changelist,
        {"action": "publish", "_selected_action": [draft.pk, review.pk]},
        follow=True,
    )

    draft.refresh_from_db()
    review.refresh_from_db()
    assert (draft.status, review.status) == ("DRAFT", "PUBLISHED")
    shown = " ".join(messages_of(response))
    assert "Published 1 article." in shown
    assert "“Draft”: A draft article cannot become published" in shown


def test_versions_diff_and_restore_pages(browser: Client, editor: User) -> None:
    article = ArticleFactory(title="Wi-Fi", body="Original <b>text</b>.")
    services.article_update(article=article, actor=editor, data={"body": "Changed."})

    versions = browser.get(reverse("admin:knowledge_knowledgearticle_versions", args=[article.pk]))
    diff = browser.get(
        reverse("admin:knowledge_knowledgearticle_diff", args=[article.pk]), {"from": 1, "to": 2}
    )
    restored = browser.post(
        reverse("admin:knowledge_knowledgearticle_restore", args=[article.pk, 1]), follow=True
    )

    assert versions.status_code == 200
    assert "Compare the chosen versions" in versions.content.decode()
    assert diff.status_code == 200
    assert "Original&nbsp;&lt;b&gt;text&lt;/b&gt;." in diff.content.decode()
    assert "Restored version 1 as version 3." in messages_of(restored)
    article.refresh_from_db()
    assert article.body == "Original <b>text</b>."


def test_restore_needs_a_post(browser: Client) -> None:
    article = ArticleFactory()

    response = browser.get(
        reverse("admin:knowledge_knowledgearticle_restore", args=[article.pk, 1])
    )

    assert response.status_code == 403


def test_changelist_search_is_full_text_and_its_queries_do_not_grow(
    browser: Client, reader: User
) -> None:
    for n in range(6):
        article = ArticleFactory(title=f"Printer guide {n}")
        FeedbackFactory(article=article, author=reader)
    ArticleFactory(title="Monitor guide")
    url = reverse("admin:knowledge_knowledgearticle_changelist")

    found = browser.get(url, {"q": "printers"})
    assert found.status_code == 200
    assert found.context["cl"].result_count == 6

    def queries(per_page: int) -> int:
        from knowledge.admin import KnowledgeArticleAdmin

        KnowledgeArticleAdmin.list_per_page = per_page
        try:
            with CaptureQueriesContext(connection) as context:
                assert browser.get(url).status_code == 200
        finally:
            KnowledgeArticleAdmin.list_per_page = 100
        return len(context)

    assert queries(2) == queries(7)


def test_feedback_actions(browser: Client, reader: User) -> None:
    article = ArticleFactory()
    one, two = FeedbackFactory.create_batch(2, article=article, author=reader)
    changelist = reverse("admin:knowledge_knowledgearticlefeedback_changelist")

    browser.post(changelist, {"action": "resolve", "_selected_action": [one.pk]})
    browser.post(changelist, {"action": "turn_into_ticket", "_selected_action": [two.pk]})

    one.refresh_from_db()
    two.refresh_from_db()
    assert one.status == FeedbackStatus.RESOLVED
    assert two.status == FeedbackStatus.TICKET
    assert two.ticket is not None


def test_search_report_page(browser: Client) -> None:
    SearchHistoryFactory(query="vpn", results_count=3)
    SearchHistoryFactory(query="holiday", results_count=0)

    changelist = browser.get(reverse("admin:knowledge_knowledgesearchhistory_changelist"))
    report = browser.get(reverse("admin:knowledge_knowledgesearchhistory_report"), {"days": "7"})

    assert "Search report" in changelist.content.decode()
    assert report.status_code == 200
    page = report.content.decode()
    assert '<td data-testid="searches">2</td>' in page
    assert "holiday" in page


def test_requesters_made_staff_get_nothing() -> None:
    article = ArticleFactory()
    intruder = UserFactory(username="intruder", role=Role.REQUESTER, is_staff=True)
    client = Client()
    client.force_login(intruder)

    assert client.get(reverse("admin:knowledge_knowledgearticle_changelist")).status_code == 403
    assert (
        client.get(
            reverse("admin:knowledge_knowledgearticle_versions", args=[article.pk])
        ).status_code
        == 403
    )
    assert client.get(reverse("admin:knowledge_knowledgesearchhistory_report")).status_code == 403


def test_the_ticket_page_panel_lists_suggested_articles_escaped(editor: User, reader: User) -> None:
    from django.test import RequestFactory

    from knowledge.admin import ticket_suggestions_panel
    from nixflow import services as ticket_services

    ArticleFactory(title="VPN <b>drops</b> at home", body="Restart the router.")
    ticket = ticket_services.ticket_create(
        requester=reader, title="VPN drops", description="At home, every hour.", actor=reader
    )
    request = RequestFactory().get("/")
    request.user = editor

    html = ticket_suggestions_panel(request, ticket)

    assert "VPN &lt;b&gt;drops&lt;/b&gt; at home" in html
    assert "/admin/knowledge/knowledgearticle/" in html


def test_the_ticket_admin_page_shows_the_suggested_articles(
    editor: User, reader: User, client: Client
) -> None:
    from nixflow import services as ticket_services

    ArticleFactory(title="Printer jams on tray 2", body="Open tray 2 and remove the paper.")
    ticket = ticket_services.ticket_create(
        requester=reader, title="Printer jams", description="Tray 2 again.", actor=reader
    )
    client.force_login(editor)

    response = client.get(reverse("admin:nixflow_ticket_change", args=[ticket.pk]))

    assert response.status_code == 200
    [panel] = [p for p in response.context["ticket_panels"] if p.title == "Suggested articles"]
    assert "Printer jams on tray 2" in panel.html
    assert 'data-panel="suggested-articles"' in response.content.decode()


def test_deleting_selected_articles_deletes_drafts_and_says_which_were_refused(
    browser: Client,
) -> None:
    draft = ArticleFactory(title="Draft", status=KnowledgeArticleStatus.DRAFT)
    published = ArticleFactory(title="Published")

    response = browser.post(
        reverse("admin:knowledge_knowledgearticle_changelist"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [draft.pk, published.pk]},
        follow=True,
    )

    shown = messages_of(response)
    assert list(KnowledgeArticle.objects.values_list("pk", flat=True)) == [published.pk]
    assert "Deleted 1 knowledge article." in shown
    assert any(
        m.startswith("Could not delete 1 knowledge article: Published:") and "archive it" in m
        for m in shown
    )
    assert not any("Successfully deleted" in m for m in shown)
