"""Requesters and anonymous readers see published public articles; agents see the rest."""

from __future__ import annotations

import pytest

from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus, Visibility
from nixflow.models import User
from tests.knowledge.conftest import client_for
from tests.knowledge.factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def articles() -> dict[str, KnowledgeArticle]:
    return {
        "public": ArticleFactory(title="Printer jams public"),
        "internal": ArticleFactory(title="Printer jams internal", visibility=Visibility.INTERNAL),
        "draft": ArticleFactory(title="Printer jams draft", status=KnowledgeArticleStatus.DRAFT),
        "review": ArticleFactory(
            title="Printer jams review", status=KnowledgeArticleStatus.IN_REVIEW
        ),
        "archived": ArticleFactory(
            title="Printer jams archived", status=KnowledgeArticleStatus.ARCHIVED
        ),
    }


def _listed(user: User | None) -> set[str]:
    response = client_for(user).get("/api/knowledge/articles/")
    assert response.status_code == 200
    return {row["title"].removeprefix("Printer jams ") for row in response.json()["results"]}


def _found(user: User | None) -> set[str]:
    response = client_for(user).get("/api/knowledge/search/", {"q": "printer jams"})
    assert response.status_code == 200
    return {row["title"].removeprefix("Printer jams ") for row in response.json()["results"]}


def test_anonymous_readers_and_requesters_list_only_published_public_articles(
    articles: dict[str, KnowledgeArticle], reader: User
) -> None:
    assert _listed(None) == {"public"}
    assert _listed(reader) == {"public"}


def test_agents_list_every_article(articles: dict[str, KnowledgeArticle], editor: User) -> None:
    assert _listed(editor) == {"public", "internal", "draft", "review", "archived"}


def test_search_finds_published_articles_only_internal_ones_for_agents(
    articles: dict[str, KnowledgeArticle], reader: User, editor: User
) -> None:
    assert _found(None) == {"public"}
    assert _found(reader) == {"public"}
    assert _found(editor) == {"public", "internal"}


@pytest.mark.parametrize("name", ["internal", "draft", "review", "archived"])
def test_hidden_articles_are_404_for_readers_exactly_like_missing_ones(
    articles: dict[str, KnowledgeArticle], reader: User, name: str
) -> None:
    for user in (None, reader):
        response = client_for(user).get(f"/api/knowledge/articles/{articles[name].pk}/")
        assert response.status_code == 404
    assert client_for(reader).get("/api/knowledge/articles/999999/").status_code == 404


def test_readers_cannot_rate_or_comment_on_what_they_cannot_see(
    articles: dict[str, KnowledgeArticle], reader: User
) -> None:
    internal = articles["internal"].pk

    rated = client_for(reader).post(
        f"/api/knowledge/articles/{internal}/rate/", {"helpful": True}, format="json"
    )
    commented = client_for(reader).post(
        f"/api/knowledge/articles/{internal}/feedback/", {"comment": "x"}, format="json"
    )

    assert (rated.status_code, commented.status_code) == (404, 404)


def test_anonymous_readers_read_a_public_article_but_cannot_write(
    articles: dict[str, KnowledgeArticle],
) -> None:
    anonymous = client_for(None)
    public = articles["public"].pk

    assert anonymous.get(f"/api/knowledge/articles/{public}/").status_code == 200
    assert anonymous.post("/api/knowledge/articles/", {"title": "x", "body": "y"}).status_code in {
        401,
        403,
    }
    assert anonymous.post(
        f"/api/knowledge/articles/{public}/rate/", {"helpful": True}, format="json"
    ).status_code in {401, 403}


def test_category_counts_follow_visibility(editor: User, reader: User) -> None:
    network = CategoryFactory(name="Network")
    ArticleFactory(title="VPN public", category=network)
    ArticleFactory(title="VPN internal", category=network, visibility=Visibility.INTERNAL)

    def count(user: User | None) -> int:
        rows = client_for(user).get("/api/knowledge/categories/").json()["results"]
        return next(row["article_count"] for row in rows if row["slug"] == "network")

    assert (count(None), count(reader), count(editor)) == (1, 1, 2)
