"""Articles move draft → in review → published → archived, recording events."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from eventlog.models import EventLog
from knowledge import services
from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus
from nixflow.models import User
from tests.knowledge.conftest import ArticleMaker, client_for

pytestmark = pytest.mark.django_db


def _events(article: KnowledgeArticle) -> list[str]:
    return list(
        EventLog.objects.filter(subject_model="knowledgearticle", subject_id=str(article.pk))
        .order_by("id")
        .values_list("type", flat=True)
    )


def test_an_article_goes_through_review_to_publication_with_events(
    make_article: ArticleMaker, editor: User
) -> None:
    article = make_article(status=KnowledgeArticleStatus.DRAFT)

    article = services.article_transition(article=article, to_status="IN_REVIEW", actor=editor)
    article = services.article_transition(article=article, to_status="PUBLISHED", actor=editor)
    article = services.article_transition(article=article, to_status="ARCHIVED", actor=editor)

    assert article.status == KnowledgeArticleStatus.ARCHIVED
    assert article.published_at is not None
    assert _events(article) == [
        "knowledge.article_created",
        "knowledge.article_submitted",
        "knowledge.article_published",
        "knowledge.article_archived",
    ]


def test_publishing_a_draft_without_review_is_refused_with_the_allowed_steps(
    make_article: ArticleMaker, editor: User
) -> None:
    article = make_article(status=KnowledgeArticleStatus.DRAFT)

    with pytest.raises(ValidationError, match="draft article cannot become published"):
        services.article_transition(article=article, to_status="PUBLISHED", actor=editor)


def test_requesters_cannot_publish(make_article: ArticleMaker, reader: User) -> None:
    article = make_article(status=KnowledgeArticleStatus.IN_REVIEW)

    with pytest.raises(PermissionDenied):
        services.article_transition(article=article, to_status="PUBLISHED", actor=reader)


def test_a_published_article_is_archived_not_deleted(
    make_article: ArticleMaker, editor: User
) -> None:
    published = make_article()
    draft = make_article(title="Draft", status=KnowledgeArticleStatus.DRAFT)

    with pytest.raises(ValidationError, match="archive it instead"):
        services.article_delete(article=published, actor=editor)
    services.article_delete(article=draft, actor=editor)

    assert list(KnowledgeArticle.objects.values_list("pk", flat=True)) == [published.pk]
    assert EventLog.objects.filter(type="knowledge.article_deleted").count() == 1


def test_api_transition_and_its_errors(
    make_article: ArticleMaker, editor: User, reader: User
) -> None:
    article = make_article(status=KnowledgeArticleStatus.DRAFT)
    url = f"/api/knowledge/articles/{article.pk}/transition/"

    refused = client_for(editor).post(url, {"status": "PUBLISHED"}, format="json")
    bad = client_for(editor).post(url, {"status": "LIVE"}, format="json")
    forbidden = client_for(reader).post(url, {"status": "IN_REVIEW"}, format="json")
    moved = client_for(editor).post(url, {"status": "IN_REVIEW"}, format="json")

    assert refused.status_code == 400
    assert "status" in refused.json()
    assert bad.status_code == 400
    assert forbidden.status_code == 403
    assert moved.status_code == 200
    assert moved.json()["status"] == "IN_REVIEW"
