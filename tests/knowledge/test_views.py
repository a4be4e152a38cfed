"""Reads are counted once per viewer per 30 minutes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from knowledge import services
from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus, KnowledgeArticleView
from nixflow.models import User
from tests.knowledge.conftest import client_for
from tests.knowledge.factories import ArticleFactory, ViewFactory


def _views(article: KnowledgeArticle) -> int:
    article.refresh_from_db()
    return article.view_count


@pytest.mark.django_db
def test_a_viewer_counts_once_within_the_window_and_again_after_it(reader: User) -> None:
    article = ArticleFactory()
    key = services.viewer_key_for(user=reader)
    start = timezone.now()

    counted = [
        services.article_view_record(article=article, user=reader, viewer_key=key, at=at)
        for at in (start, start + timedelta(minutes=10), start + timedelta(minutes=29))
    ]
    later = services.article_view_record(
        article=article, user=reader, viewer_key=key, at=start + timedelta(minutes=31)
    )

    assert counted == [True, False, False]
    assert later is True
    assert _views(article) == 2


@pytest.mark.django_db
def test_a_view_recorded_earlier_in_the_window_keeps_a_read_from_counting(reader: User) -> None:
    article = ArticleFactory()
    key = services.viewer_key_for(user=reader)
    ViewFactory(article=article, user=reader, viewer_key=key)
    ViewFactory(
        article=article, viewer_key="anon:old", viewed_at=timezone.now() - timedelta(hours=1)
    )

    again = services.article_view_record(article=article, user=reader, viewer_key=key)
    returning = services.article_view_record(article=article, user=None, viewer_key="anon:old")

    assert (again, returning) == (False, True)
    assert KnowledgeArticleView.objects.filter(article=article).count() == 3


@pytest.mark.django_db
def test_different_viewers_count_separately(reader: User, editor: User) -> None:
    article = ArticleFactory()

    for user in (reader, editor, None):
        key = services.viewer_key_for(user=user, client="203.0.113.9|Firefox")
        services.article_view_record(article=article, user=user, viewer_key=key)

    assert _views(article) == 3


@pytest.mark.django_db
def test_drafts_are_not_counted(editor: User) -> None:
    draft = ArticleFactory(status=KnowledgeArticleStatus.DRAFT)

    assert not services.article_view_record(article=draft, user=editor, viewer_key="user:1")
    assert _views(draft) == 0


@pytest.mark.django_db
def test_reading_through_the_api_counts_a_view_once(reader: User) -> None:
    article = ArticleFactory()

    for _ in range(3):
        assert client_for(reader).get(f"/api/knowledge/articles/{article.pk}/").status_code == 200
    client_for(None).get(f"/api/knowledge/articles/{article.pk}/", REMOTE_ADDR="198.51.100.7")
    client_for(None).get(f"/api/knowledge/articles/{article.pk}/", REMOTE_ADDR="198.51.100.7")

    assert _views(article) == 2
    assert KnowledgeArticleView.objects.filter(article=article).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_reads_at_the_same_moment_count_once(reader: User) -> None:
    article = ArticleFactory()
    barrier = threading.Barrier(4)
    outcomes: list[bool] = []

    def read() -> None:
        try:
            barrier.wait()
            outcomes.append(
                services.article_view_record(
                    article=article, user=reader, viewer_key=f"user:{reader.pk}"
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [False, False, False, True]
    assert _views(article) == 1
