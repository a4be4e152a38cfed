"""Articles move draft → in review → published → archived, recording events."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from eventlog.models import EventLog
from knowledge import services
from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus
from nixflow.models import User
from tests.knowledge.conftest import client_for, events_of
from tests.knowledge.factories import ArticleFactory

pytestmark = pytest.mark.django_db


def test_an_article_goes_through_review_to_publication_with_events(editor: User) -> None:
    article = ArticleFactory(status=KnowledgeArticleStatus.DRAFT)

    article = services.article_transition(article=article, to_status="IN_REVIEW", actor=editor)
    article = services.article_transition(article=article, to_status="PUBLISHED", actor=editor)
    article = services.article_transition(article=article, to_status="ARCHIVED", actor=editor)

    assert article.status == KnowledgeArticleStatus.ARCHIVED
    assert article.published_at is not None
    assert [type for type, _ in events_of(article)] == [
        "knowledge.article.created",
        "knowledge.article.submitted",
        "knowledge.article.published",
        "knowledge.article.archived",
    ]


def test_publishing_a_draft_without_review_is_refused_with_the_allowed_steps(editor: User) -> None:
    article = ArticleFactory(status=KnowledgeArticleStatus.DRAFT)

    with pytest.raises(ValidationError, match="draft article cannot become published"):
        services.article_transition(article=article, to_status="PUBLISHED", actor=editor)


def test_requesters_cannot_publish(reader: User) -> None:
    article = ArticleFactory(status=KnowledgeArticleStatus.IN_REVIEW)

    with pytest.raises(PermissionDenied):
        services.article_transition(article=article, to_status="PUBLISHED", actor=reader)


def test_a_published_article_is_archived_not_deleted(editor: User) -> None:
    published = ArticleFactory()
    draft = ArticleFactory(title="Draft", status=KnowledgeArticleStatus.DRAFT)

    with pytest.raises(ValidationError, match="archive it instead"):
        services.article_delete(article=published, actor=editor)
    services.article_delete(article=draft, actor=editor)

    assert list(KnowledgeArticle.objects.values_list("pk", flat=True)) == [published.pk]
    assert EventLog.objects.filter(type="knowledge.article.deleted").count() == 1


def test_api_transition_and_its_errors(editor: User, reader: User) -> None:
    article = ArticleFactory(status=KnowledgeArticleStatus.DRAFT)
    url = f"/api/knowledge/articles/{article.pk}/transition/"

    refused = client_for(editor).post(url, {"status": "PUBLISHED"}, format="json")
    bad = client_for(editor).post(url, {"status": "LIVE"}, format="json")
    forbidden = client_for(reader).post(url, {"status": "IN_REVIEW"}, format="json")
    moved = client_for(editor).post(url, {"status": "IN_REVIEW"}, format="json")

    assert refused.status_code == 409
    assert "cannot become published" in refused.json()["detail"]
    assert bad.status_code == 400
    assert forbidden.status_code == 403
    assert moved.status_code == 200
    assert moved.json()["status"] == "IN_REVIEW"
