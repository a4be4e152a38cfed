"""Former slugs: an article or category whose slug changed keeps its old address (a 301
in the help center to the current one), until another takes the slug for itself."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from knowledge import services
from knowledge.models import (
    RESERVED_CATEGORY_SLUGS,
    KnowledgeArticleFormerSlug,
    KnowledgeArticleStatus,
    KnowledgeCategoryFormerSlug,
    Visibility,
)
from nixflow.models import User
from tests.knowledge.factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db


def test_a_changed_article_slug_is_kept_and_its_old_address_moves_permanently(
    agent: User, client: Client
) -> None:
    article = ArticleFactory(title="Connect to the VPN", slug="vpn")
    services.article_update(article=article, actor=agent, data={"slug": "connect-vpn"})
    services.article_update(article=article, actor=agent, data={"slug": "vpn-connect"})

    assert set(article.former_slugs.values_list("slug", flat=True)) == {"vpn", "connect-vpn"}
    for old in ("vpn", "connect-vpn"):
        response = client.get(f"/help/articles/{old}/")
        assert response.status_code == 301
        assert response["Location"] == "/help/articles/vpn-connect/"
    assert client.get("/help/articles/vpn-connect/").status_code == 200


def test_going_back_to_a_former_slug_makes_it_current_again(agent: User) -> None:
    article = ArticleFactory(slug="first")
    services.article_update(article=article, actor=agent, data={"slug": "second"})
    services.article_update(article=article, actor=agent, data={"slug": "first"})

    assert list(article.former_slugs.values_list("slug", flat=True)) == ["second"]


def test_a_former_slug_taken_by_a_new_article_belongs_to_the_new_article(
    agent: User, client: Client
) -> None:
    old = ArticleFactory(title="Old VPN guide", slug="vpn")
    services.article_update(article=old, actor=agent, data={"slug": "old-vpn-guide"})
    new = services.article_create(title="VPN", body="The new guide.", author=agent, slug="vpn")
    services.article_transition(
        article=new, to_status=KnowledgeArticleStatus.IN_REVIEW, actor=agent
    )
    services.article_transition(
        article=new, to_status=KnowledgeArticleStatus.PUBLISHED, actor=agent
    )

    assert not KnowledgeArticleFormerSlug.objects.filter(slug="vpn").exists()
    response = client.get("/help/articles/vpn/")
    assert response.status_code == 200
    assert b"The new guide." in response.content


def test_a_former_slug_taken_by_another_articles_change_moves_to_it(agent: User) -> None:
    a = ArticleFactory(title="A", slug="a-slug")
    b = ArticleFactory(title="B", slug="b-slug")
    services.article_update(article=a, actor=agent, data={"slug": "a-new"})
    services.article_update(article=b, actor=agent, data={"slug": "a-slug"})

    assert not KnowledgeArticleFormerSlug.objects.filter(slug="a-slug").exists()
    assert KnowledgeArticleFormerSlug.objects.get(slug="b-slug").article == b


def test_an_old_address_of_an_article_the_reader_may_not_see_is_a_plain_404(
    agent: User, client: Client
) -> None:
    internal = ArticleFactory(slug="runbook", visibility=Visibility.INTERNAL)
    services.article_update(article=internal, actor=agent, data={"slug": "runbook-2"})

    response = client.get("/help/articles/runbook/")
    assert response.status_code == 404
    assert b"runbook-2" not in response.content
    client.force_login(agent)
    assert client.get("/help/articles/runbook/")["Location"] == "/help/articles/runbook-2/"


def test_a_changed_category_slug_moves_permanently(agent: User, client: Client) -> None:
    category = CategoryFactory(name="Network", slug="network")
    ArticleFactory(category=category)
    services.category_update(category=category, actor=agent, data={"slug": "networking"})

    response = client.get("/help/network/")
    assert response.status_code == 301
    assert response["Location"] == "/help/networking/"
    again = services.category_create(name="Network (old)", actor=agent, slug="network")
    assert not KnowledgeCategoryFormerSlug.objects.filter(slug="network").exists()
    assert again.slug == "network"


@pytest.mark.parametrize("slug", sorted(RESERVED_CATEGORY_SLUGS))
def test_a_category_cannot_take_an_address_of_the_help_center(agent: User, slug: str) -> None:
    with pytest.raises(ValidationError) as refused:
        services.category_create(name="Anything", actor=agent, slug=slug)
    assert "is an address of the help center" in refused.value.message_dict["slug"][0]

    category = CategoryFactory(name="Network", slug="network")
    with pytest.raises(ValidationError) as refused:
        services.category_update(category=category, actor=agent, data={"slug": slug})
    assert "choose another slug" in refused.value.message_dict["slug"][0]
    category.refresh_from_db()
    assert category.slug == "network"


def test_a_category_named_like_a_page_gets_another_slug(agent: User) -> None:
    category = services.category_create(name="Search", actor=agent)
    assert category.slug == "search-2"
