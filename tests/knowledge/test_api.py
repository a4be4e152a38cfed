"""The knowledge API: articles, categories and tags CRUD, errors, query counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge import services
from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus
from nixflow.models import User
from tests.knowledge.conftest import client_for
from tests.knowledge.factories import ArticleFactory, CategoryFactory, FeedbackFactory, TagFactory

pytestmark = pytest.mark.django_db


def test_agents_create_read_update_and_delete_an_article(editor: User) -> None:
    client = client_for(editor)
    network = CategoryFactory(name="Network")
    vpn = TagFactory(name="VPN")

    created = client.post(
        "/api/knowledge/articles/",
        {
            "title": "Connect to the VPN",
            "summary": "From home.",
            "body": "1. Open **GlobalProtect**\n2. Connect",
            "kind": "HOW_TO",
            "visibility": "INTERNAL",
            "category": network.pk,
            "tags": [vpn.pk],
        },
        format="json",
    )
    article_id = created.json()["id"]
    updated = client.patch(
        f"/api/knowledge/articles/{article_id}/", {"summary": "From anywhere."}, format="json"
    )
    deleted = client.delete(f"/api/knowledge/articles/{article_id}/")

    assert created.status_code == 201
    body = created.json()
    assert (body["slug"], body["status"], body["version"]) == ("connect-to-the-vpn", "DRAFT", 1)
    assert body["body_html"].startswith("<ol>")
    assert body["category"]["slug"] == "network"
    assert [t["slug"] for t in body["tags"]] == ["vpn"]
    assert updated.json()["version"] == 2
    assert deleted.status_code == 204
    assert not KnowledgeArticle.objects.exists()


def test_same_titles_get_distinct_slugs(editor: User) -> None:
    client = client_for(editor)

    slugs = [
        client.post(
            "/api/knowledge/articles/", {"title": "Reset MFA", "body": "x"}, format="json"
        ).json()["slug"]
        for _ in range(3)
    ]

    assert slugs == ["reset-mfa", "reset-mfa-2", "reset-mfa-3"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"body": "x"}, "title"),
        ({"title": "x"}, "body"),
        ({"title": "x", "body": "   "}, "body"),
        ({"title": "x" * 201, "body": "x"}, "title"),
        ({"title": "x", "body": "x", "kind": "BLOG"}, "kind"),
        ({"title": "x", "body": "x", "visibility": "SECRET"}, "visibility"),
        ({"title": "x", "body": "x", "category": 999999}, "category"),
        ({"title": "x", "body": "x", "category": "net"}, "category"),
        ({"title": "x", "body": "x", "tags": [999999]}, "tags"),
        ({"title": "x", "body": "x", "tags": "vpn"}, "tags"),
        ({"title": "x", "body": "x", "slug": "not a slug"}, "slug"),
        ({"title": "x", "body": "x" * 200_001}, "body"),
    ],
)
def test_bad_article_input_is_400_naming_the_field(editor: User, payload: dict, field: str) -> None:
    response = client_for(editor).post("/api/knowledge/articles/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_a_json_list_body_is_400_not_500(editor: User) -> None:
    response = client_for(editor).post("/api/knowledge/articles/", [1, 2], format="json")

    assert response.status_code == 400


def test_a_taken_slug_is_400(editor: User) -> None:
    ArticleFactory(title="VPN")

    response = client_for(editor).post(
        "/api/knowledge/articles/", {"title": "Other", "body": "x", "slug": "vpn"}, format="json"
    )

    assert response.status_code == 400
    assert "slug" in response.json()


def test_requesters_cannot_write(reader: User) -> None:
    article = ArticleFactory()
    client = client_for(reader)

    assert client.post("/api/knowledge/articles/", {"title": "x", "body": "y"}).status_code == 403
    assert client.patch(f"/api/knowledge/articles/{article.pk}/", {"title": "y"}).status_code == 403
    assert client.delete(f"/api/knowledge/articles/{article.pk}/").status_code == 403
    assert client.post("/api/knowledge/categories/", {"name": "x"}).status_code == 403


def test_list_filters(editor: User) -> None:
    ArticleFactory(title="Draft", status=KnowledgeArticleStatus.DRAFT)
    ArticleFactory(title="Published FAQ", kind="FAQ")

    def titles(query: str) -> list[str]:
        return [
            r["title"]
            for r in client_for(editor).get(f"/api/knowledge/articles/?{query}").json()["results"]
        ]

    assert titles("status=DRAFT") == ["Draft"]
    assert titles("kind=FAQ") == ["Published FAQ"]
    assert client_for(editor).get("/api/knowledge/articles/?status=LIVE").status_code == 400
    assert client_for(editor).get("/api/knowledge/articles/?category=nope").status_code == 400


@pytest.mark.parametrize("path", ["99999999999999999999/", "abc/", "-1/", "0/"])
def test_malformed_ids_are_404(path: str) -> None:
    assert client_for(None).get(f"/api/knowledge/articles/{path}").status_code == 404


def test_categories_and_tags_crud(editor: User) -> None:
    client = client_for(editor)

    parent = client.post("/api/knowledge/categories/", {"name": "Network"}, format="json").json()
    child = client.post(
        "/api/knowledge/categories/", {"name": "Wi-Fi", "parent": parent["id"]}, format="json"
    ).json()
    cycle = client.patch(
        f"/api/knowledge/categories/{parent['id']}/", {"parent": child["id"]}, format="json"
    )
    not_empty = client.delete(f"/api/knowledge/categories/{parent['id']}/")
    tag = client.post("/api/knowledge/tags/", {"name": "Remote work"}, format="json").json()
    duplicate = client.post("/api/knowledge/tags/", {"name": "remote WORK"}, format="json")
    renamed = client.patch(f"/api/knowledge/tags/{tag['id']}/", {"name": "Remote"}, format="json")

    assert (parent["slug"], child["parent"]) == ("network", parent["id"])
    assert cycle.status_code == 400
    assert "parent" in cycle.json()
    assert not_empty.status_code == 409
    assert tag["slug"] == "remote-work"
    assert duplicate.status_code == 400
    assert renamed.json()["name"] == "Remote"
    assert client.delete(f"/api/knowledge/categories/{child['id']}/").status_code == 204
    assert client.delete(f"/api/knowledge/tags/{tag['id']}/").status_code == 204


# --- query counts: a page of 2 costs the same as a page of 10 ---------------------------
def _queries(client_call: Callable[[int], object]) -> Callable[[int], int]:
    def count(page_size: int) -> int:
        with CaptureQueriesContext(connection) as context:
            response = client_call(page_size)
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert len(response.json()["results"]) == page_size  # type: ignore[attr-defined]
        return len(context)

    return count


@pytest.fixture
def busy_library(editor: User, reader: User) -> KnowledgeArticle:
    network = CategoryFactory(name="Network")
    tags = TagFactory.create_batch(12)
    CategoryFactory(name="Sub", parent=network)
    CategoryFactory.create_batch(11)
    first = None
    for n in range(12):
        article = ArticleFactory(title=f"Guide {n}", category=network, tags=tags[n : n + 2])
        services.article_update(article=article, actor=editor, data={"body": f"v{n}"})
        FeedbackFactory(article=article, author=reader)
        first = first or article
    for n in range(12):
        services.article_update(article=first, actor=editor, data={"body": f"edit {n}"})
        FeedbackFactory(article=first, author=reader)
    return first


@pytest.mark.parametrize(
    "path",
    [
        "/api/knowledge/articles/",
        "/api/knowledge/categories/",
        "/api/knowledge/tags/",
        "/api/knowledge/feedback/",
        "/api/knowledge/articles/{id}/versions/",
        "/api/knowledge/articles/{id}/feedback/",
    ],
)
def test_list_query_counts_do_not_grow_with_the_page(
    busy_library: KnowledgeArticle, editor: User, path: str
) -> None:
    client = client_for(editor)
    url = path.format(id=busy_library.pk)
    count = _queries(lambda size: client.get(url, {"page_size": size}))

    assert count(2) == count(10)
