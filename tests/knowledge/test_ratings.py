"""One "Was this helpful?" answer per reader and article, which they may change."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from knowledge import services
from knowledge.models import KnowledgeArticle, KnowledgeArticleRating, KnowledgeArticleStatus
from nixflow.models import Role, User
from tests.factories import UserFactory
from tests.knowledge.conftest import client_for
from tests.knowledge.factories import ArticleFactory, RatingFactory

pytestmark = pytest.mark.django_db


def _figures(article: KnowledgeArticle) -> tuple[int, int]:
    article.refresh_from_db()
    return article.helpful_count, article.not_helpful_count


def test_rating_twice_keeps_one_rating_and_changing_it_moves_the_figures(reader: User) -> None:
    article = ArticleFactory()

    services.article_rate(article=article, user=reader, helpful=True)
    services.article_rate(article=article, user=reader, helpful=True)
    assert _figures(article) == (1, 0)

    services.article_rate(article=article, user=reader, helpful=False)
    assert _figures(article) == (0, 1)
    assert KnowledgeArticleRating.objects.filter(article=article).count() == 1


def test_figures_count_every_reader_once() -> None:
    article = ArticleFactory()
    readers = UserFactory.create_batch(3, role=Role.REQUESTER)

    for n, user in enumerate(readers):
        services.article_rate(article=article, user=user, helpful=n != 1)

    assert _figures(article) == (2, 1)


def test_drafts_cannot_be_rated(editor: User) -> None:
    draft = ArticleFactory(status=KnowledgeArticleStatus.DRAFT)

    with pytest.raises(PermissionDenied):
        services.article_rate(article=draft, user=editor, helpful=True)


def test_api_rate_shows_my_answer_and_the_figures(reader: User) -> None:
    article = ArticleFactory()
    client = client_for(reader)
    url = f"/api/knowledge/articles/{article.pk}/rate/"

    before = client.get(url).json()
    yes = client.post(url, {"helpful": True}, format="json").json()
    no = client.post(url, {"helpful": False}, format="json").json()

    assert before == {"helpful": None, "helpful_count": 0, "not_helpful_count": 0}
    assert yes == {"helpful": True, "helpful_count": 1, "not_helpful_count": 0}
    assert no == {"helpful": False, "helpful_count": 0, "not_helpful_count": 1}


@pytest.mark.parametrize("payload", [{}, {"helpful": "maybe"}, {"score": 5}, {"helpful": None}])
def test_api_rate_bad_input_is_400(reader: User, payload: dict) -> None:
    article = ArticleFactory()

    response = client_for(reader).post(
        f"/api/knowledge/articles/{article.pk}/rate/", payload, format="json"
    )

    assert response.status_code == 400
    assert "helpful" in response.json()


def test_api_rate_shows_an_earlier_answer(reader: User) -> None:
    article = ArticleFactory()
    RatingFactory(article=article, user=reader, helpful=False)
    RatingFactory(article=article, helpful=True)  # another reader's

    mine = client_for(reader).get(f"/api/knowledge/articles/{article.pk}/rate/").json()

    # The figures are the services' to keep (the factory writes only the rows).
    assert mine == {"helpful": False, "helpful_count": 0, "not_helpful_count": 0}
