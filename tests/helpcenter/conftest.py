"""The help center's scene: a public article, an internal one and a draft, filed in
categories, read by an anonymous visitor, a requester and an agent."""

from __future__ import annotations

import pytest
from django.test import Client

from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus, KnowledgeCategory, Visibility
from nixflow.models import User
from tests.knowledge.factories import ArticleFactory, CategoryFactory

# Strings that must never reach a reader who may not see the article they are in.
INTERNAL_MARKER = "zq-internal-marker-7731"
DRAFT_MARKER = "zq-draft-marker-4410"


@pytest.fixture
def vpn(db: None) -> KnowledgeCategory:
    return CategoryFactory(name="Network", slug="network", description="VPN and Wi-Fi.")


@pytest.fixture
def staff_only(db: None) -> KnowledgeCategory:
    return CategoryFactory(name="Runbooks", slug="runbooks")


@pytest.fixture
def public_article(vpn: KnowledgeCategory) -> KnowledgeArticle:
    return ArticleFactory(
        title="Connect to the VPN",
        slug="connect-to-the-vpn",
        summary="Install the client and sign in.",
        body="Open the **VPN client** and sign in.\n\n<script>alert(1)</script>",
        category=vpn,
    )


@pytest.fixture
def internal_article(vpn: KnowledgeCategory, staff_only: KnowledgeCategory) -> KnowledgeArticle:
    return ArticleFactory(
        title=f"Restart the VPN concentrator {INTERNAL_MARKER}",
        slug="restart-the-vpn-concentrator",
        summary=f"Agents only {INTERNAL_MARKER}",
        body=f"Log in to the VPN console and restart it. {INTERNAL_MARKER}",
        visibility=Visibility.INTERNAL,
        category=staff_only,
    )


@pytest.fixture
def draft_article(vpn: KnowledgeCategory) -> KnowledgeArticle:
    return ArticleFactory(
        title=f"VPN draft {DRAFT_MARKER}",
        slug="vpn-draft",
        body=f"Not ready. VPN {DRAFT_MARKER}",
        status=KnowledgeArticleStatus.DRAFT,
        category=vpn,
    )


@pytest.fixture
def scene(
    public_article: KnowledgeArticle,
    internal_article: KnowledgeArticle,
    draft_article: KnowledgeArticle,
) -> None:
    """All three articles exist."""


@pytest.fixture
def requester_client(requester: User) -> Client:
    client = Client()
    client.force_login(requester)
    return client
