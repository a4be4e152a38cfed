"""Fixtures of the knowledge tests: people, and articles written through the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from knowledge import services
from knowledge.models import (
    KBCategory,
    KnowledgeArticle,
    KnowledgeArticleStatus,
    KnowledgeCategory,
    Visibility,
)
from nixflow.models import Role, User
from tests.factories import UserFactory

ArticleMaker = Callable[..., KnowledgeArticle]


@pytest.fixture
def editor(db: None) -> User:
    return UserFactory(username="editor", role=Role.AGENT)


@pytest.fixture
def reader(db: None) -> User:
    return UserFactory(username="reader", role=Role.REQUESTER)


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def make_article(editor: User) -> ArticleMaker:
    """``make_article(title=..., body=..., status=PUBLISHED, visibility=PUBLIC, ...)``:
    an article written by ``editor`` through the services and moved along the
    publishing workflow to ``status`` (published by default)."""

    def make(
        *,
        title: str = "How to reset your password",
        body: str = "Open the self-service portal and choose **Forgot password**.",
        summary: str = "",
        status: str = KnowledgeArticleStatus.PUBLISHED,
        visibility: str = Visibility.PUBLIC,
        kind: str = KBCategory.HOW_TO,
        category: KnowledgeCategory | None = None,
        **kwargs: Any,
    ) -> KnowledgeArticle:
        article = services.article_create(
            title=title,
            body=body,
            summary=summary,
            visibility=Visibility(visibility),
            kind=KBCategory(kind),
            category=category,
            author=editor,
            **kwargs,
        )
        path = {
            KnowledgeArticleStatus.DRAFT: [],
            KnowledgeArticleStatus.IN_REVIEW: ["IN_REVIEW"],
            KnowledgeArticleStatus.PUBLISHED: ["IN_REVIEW", "PUBLISHED"],
            KnowledgeArticleStatus.ARCHIVED: ["IN_REVIEW", "PUBLISHED", "ARCHIVED"],
        }[KnowledgeArticleStatus(status)]
        for step in path:
            article = services.article_transition(article=article, to_status=step, actor=editor)
        return article

    return make
