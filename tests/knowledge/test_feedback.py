"""Readers comment on articles; editors resolve the comments or turn them into tickets."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from eventlog.models import EventLog
from knowledge import services
from knowledge.models import FeedbackStatus, KnowledgeArticleFeedback, KnowledgeArticleTicketLink
from nixflow.models import Source, User
from tests.knowledge.conftest import client_for
from tests.knowledge.factories import ArticleFactory

pytestmark = pytest.mark.django_db


def test_a_reader_sends_feedback_and_an_editor_resolves_it(reader: User, editor: User) -> None:
    article = ArticleFactory()
    feedback = services.feedback_create(
        article=article, author=reader, comment="Step 3 is outdated.", contact="+49 30 1234"
    )

    feedback = services.feedback_resolve(feedback=feedback, actor=editor, note="Updated step 3.")

    assert (feedback.status, feedback.resolved_by, feedback.resolution_note) == (
        FeedbackStatus.RESOLVED,
        editor,
        "Updated step 3.",
    )
    with pytest.raises(ValidationError, match="already resolved"):
        services.feedback_resolve(feedback=feedback, actor=editor)


def test_feedback_becomes_a_ticket_for_its_author_linked_to_the_article(
    reader: User, editor: User
) -> None:
    article = ArticleFactory(title="Printer jams")
    feedback = services.feedback_create(
        article=article, author=reader, comment="Tray 2 still jams after these steps."
    )

    ticket = services.feedback_create_ticket(feedback=feedback, actor=editor)

    feedback.refresh_from_db()
    assert (feedback.status, feedback.ticket) == (FeedbackStatus.TICKET, ticket)
    assert (ticket.requester, ticket.source) == (reader, Source.WEB)
    assert ticket.title == "Article feedback: Printer jams"
    assert "Tray 2 still jams" in ticket.description
    assert KnowledgeArticleTicketLink.objects.filter(article=article, ticket=ticket).exists()
    assert EventLog.objects.filter(
        type="knowledge.feedback.turned_into_ticket", ticket_key=ticket.key
    ).exists()
    assert EventLog.objects.filter(type="ticket.created", ticket_key=ticket.key).exists()


def test_api_feedback_round_trip(reader: User, editor: User) -> None:
    article = ArticleFactory()

    sent = client_for(reader).post(
        f"/api/knowledge/articles/{article.pk}/feedback/",
        {"comment": "Missing a screenshot."},
        format="json",
    )
    listed_by_reader = client_for(reader).get(f"/api/knowledge/articles/{article.pk}/feedback/")
    listed = client_for(editor).get("/api/knowledge/feedback/?status=OPEN").json()
    ticket = client_for(editor).post(f"/api/knowledge/feedback/{sent.json()['id']}/ticket/")
    again = client_for(editor).post(f"/api/knowledge/feedback/{sent.json()['id']}/ticket/")

    assert sent.status_code == 201
    assert listed_by_reader.status_code == 403
    assert [row["comment"] for row in listed["results"]] == ["Missing a screenshot."]
    assert ticket.status_code == 201
    assert ticket.json()["status"] == "TICKET"
    assert ticket.json()["ticket"].startswith("NF-")
    assert again.status_code == 409


@pytest.mark.parametrize(
    "payload",
    [{}, {"comment": ""}, {"comment": "   "}, {"comment": "x" * 5001}, {"contact": "y" * 201}],
)
def test_api_feedback_bad_input_is_400(reader: User, payload: dict) -> None:
    article = ArticleFactory()

    response = client_for(reader).post(
        f"/api/knowledge/articles/{article.pk}/feedback/", payload, format="json"
    )

    assert response.status_code == 400
    assert KnowledgeArticleFeedback.objects.count() == 0


def test_feedback_list_filter_rejects_unknown_status(editor: User) -> None:
    response = client_for(editor).get("/api/knowledge/feedback/?status=LOST")

    assert response.status_code == 400
    assert "status" in response.json()
