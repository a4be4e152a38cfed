"""Demo articles (seed_demo) and generated ones (knowledge_load) are realistic and complete."""

from __future__ import annotations

import random
from io import StringIO

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import CommandError, call_command

from knowledge import demo, search
from knowledge.models import (
    KnowledgeArticle,
    KnowledgeArticleStatus,
    KnowledgeArticleVersion,
    KnowledgeWord,
)
from nixflow.models import User

pytestmark = pytest.mark.django_db


def test_seed_articles_writes_a_few_dozen_through_the_services_once(editor: User) -> None:
    rng = random.Random(1)  # noqa: S311 -- demo data, not secrets
    created = demo.seed_articles(author=editor, rng=rng)
    again = demo.seed_articles(author=editor, rng=rng)

    assert 24 <= created <= 60
    assert again == 0
    statuses = set(KnowledgeArticle.objects.values_list("status", flat=True))
    assert statuses == set(KnowledgeArticleStatus.values)
    assert KnowledgeArticle.objects.filter(version=2).exists()
    assert all(a.body_html and a.body_text for a in KnowledgeArticle.objects.all())
    hits = search.article_search(user=AnonymousUser(), query="password").hits
    assert hits


def test_generated_articles_are_complete_and_searchable(editor: User) -> None:
    outcome = demo.generate_articles(count=300, batch_size=120, seed=3, published_share=0.8)

    assert outcome.articles == 300
    assert KnowledgeArticle.objects.count() == 300
    assert KnowledgeArticleVersion.objects.count() == 300
    published = KnowledgeArticle.objects.filter(status="PUBLISHED").count()
    assert published == outcome.published
    assert 200 < published < 280
    assert not KnowledgeArticle.objects.filter(body_html="").exists()
    assert KnowledgeWord.objects.filter(word="password").exists()
    article = KnowledgeArticle.objects.filter(status="PUBLISHED").first()
    assert article.published_at is not None
    assert article.tags.exists()
    results = search.article_search(user=AnonymousUser(), query="outlok ")
    assert results.corrected_query == "outlook"
    assert results.count > 0


def test_generated_html_is_what_rendering_the_body_gives(editor: User) -> None:
    from knowledge import rendering

    demo.generate_articles(count=20, seed=5)

    for article in KnowledgeArticle.objects.all():
        assert article.body_html == rendering.render_markdown(article.body)


def test_knowledge_load_command(editor: User) -> None:
    out = StringIO()

    call_command("knowledge_load", "--articles", "50", "--no-progress", stdout=out)
    call_command("knowledge_load", "--rebuild-vocabulary", stdout=out)

    assert KnowledgeArticle.objects.count() == 50
    assert "Loaded 50 articles" in out.getvalue()
    assert "Vocabulary rebuilt" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("knowledge_load")
    with pytest.raises(CommandError):
        call_command("knowledge_load", "--articles", "5", "--published-share", "2")


@pytest.mark.django_db(transaction=True)
def test_several_workers_write_disjoint_articles() -> None:
    outcome = demo.generate_articles(count=41, batch_size=10, seed=2, workers=2)

    ids = list(KnowledgeArticle.objects.values_list("id", flat=True))
    assert outcome.articles == len(ids) == len(set(ids)) == 41
    assert KnowledgeArticleVersion.objects.count() == 41
    assert outcome.published == KnowledgeArticle.objects.filter(status="PUBLISHED").count()
