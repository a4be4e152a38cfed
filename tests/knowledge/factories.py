"""factory-boy factories for the knowledge models the tests build.

Articles are written through ``knowledge.services`` (rendered, versioned, their words in
the vocabulary, events recorded) and moved along the publishing workflow to ``status``,
published by default: search, suggestions and versions behave as for a real article.
Every other factory writes its row directly, to set the scene for the behaviour a test
exercises through the services, the API or the admin.
"""

from __future__ import annotations

import hashlib
from typing import Any

import factory
from django.core.files.base import ContentFile
from django.utils import timezone

from knowledge import services
from knowledge.models import (
    KBCategory,
    KnowledgeArticle,
    KnowledgeArticleAttachment,
    KnowledgeArticleFeedback,
    KnowledgeArticleRating,
    KnowledgeArticleStatus,
    KnowledgeArticleTicketLink,
    KnowledgeArticleVersion,
    KnowledgeArticleView,
    KnowledgeCategory,
    KnowledgeSearchHistory,
    KnowledgeTag,
    Visibility,
)
from nixflow.models import Role
from tests.factories import TicketFactory, UserFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

# The publishing workflow's steps from a new draft to each status.
_STEPS_TO = {
    KnowledgeArticleStatus.DRAFT: [],
    KnowledgeArticleStatus.IN_REVIEW: [KnowledgeArticleStatus.IN_REVIEW],
    KnowledgeArticleStatus.PUBLISHED: [
        KnowledgeArticleStatus.IN_REVIEW,
        KnowledgeArticleStatus.PUBLISHED,
    ],
    KnowledgeArticleStatus.ARCHIVED: [
        KnowledgeArticleStatus.IN_REVIEW,
        KnowledgeArticleStatus.PUBLISHED,
        KnowledgeArticleStatus.ARCHIVED,
    ],
}


class AgentFactory(UserFactory):
    role = Role.AGENT


class CategoryFactory(factory.django.DjangoModelFactory[KnowledgeCategory]):
    class Meta:
        model = KnowledgeCategory

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.LazyAttribute(lambda c: c.name.lower().replace(" ", "-"))


class TagFactory(factory.django.DjangoModelFactory[KnowledgeTag]):
    class Meta:
        model = KnowledgeTag

    name = factory.Sequence(lambda n: f"tag {n}")
    slug = factory.LazyAttribute(lambda t: t.name.lower().replace(" ", "-"))


class ArticleFactory(factory.django.DjangoModelFactory[KnowledgeArticle]):
    """``ArticleFactory(title=…, body=…, status=…, visibility=…, kind=…, category=…,
    tags=[…], author=…, note=…, summary=…, slug=…)``: written by ``author`` (an agent)
    through ``services.article_create`` and moved along the workflow to ``status``."""

    class Meta:
        model = KnowledgeArticle

    title = "How to reset your password"
    body = "Open the self-service portal and choose **Forgot password**."
    summary = ""
    status = KnowledgeArticleStatus.PUBLISHED
    visibility = Visibility.PUBLIC
    kind = KBCategory.HOW_TO
    category = None
    author = factory.SubFactory(AgentFactory)

    @classmethod
    def _create(cls, model_class: type[KnowledgeArticle], *args: Any, **kwargs: Any) -> Any:
        status = KnowledgeArticleStatus(kwargs.pop("status"))
        author = kwargs["author"]
        article = services.article_create(
            **{
                **kwargs,
                "visibility": Visibility(kwargs["visibility"]),
                "kind": KBCategory(kwargs["kind"]),
            }
        )
        for step in _STEPS_TO[status]:
            article = services.article_transition(article=article, to_status=step, actor=author)
        return article


class VersionFactory(factory.django.DjangoModelFactory[KnowledgeArticleVersion]):
    """A version row as the services write one (the article's next number)."""

    class Meta:
        model = KnowledgeArticleVersion

    article = factory.SubFactory(ArticleFactory)
    number = factory.LazyAttribute(lambda v: v.article.versions.count() + 1)
    title = factory.LazyAttribute(lambda v: v.article.title)
    summary = factory.LazyAttribute(lambda v: v.article.summary)
    body = factory.LazyAttribute(lambda v: v.article.body)
    author = factory.LazyAttribute(lambda v: v.article.author)


class RatingFactory(factory.django.DjangoModelFactory[KnowledgeArticleRating]):
    class Meta:
        model = KnowledgeArticleRating

    article = factory.SubFactory(ArticleFactory)
    user = factory.SubFactory(UserFactory)
    helpful = True


class ViewFactory(factory.django.DjangoModelFactory[KnowledgeArticleView]):
    class Meta:
        model = KnowledgeArticleView

    article = factory.SubFactory(ArticleFactory)
    user = None
    viewer_key = factory.Sequence(lambda n: f"anon:{n:040d}")
    viewed_at = factory.LazyFunction(timezone.now)


class FeedbackFactory(factory.django.DjangoModelFactory[KnowledgeArticleFeedback]):
    class Meta:
        model = KnowledgeArticleFeedback

    article = factory.SubFactory(ArticleFactory)
    author = factory.SubFactory(UserFactory)
    comment = factory.Sequence(lambda n: f"Step {n} is out of date.")


class AttachmentFactory(factory.django.DjangoModelFactory[KnowledgeArticleAttachment]):
    """A PNG attached to an article, stored under its hash as ``attachment_add`` does
    (point ``MEDIA_ROOT`` at a temporary directory)."""

    class Meta:
        model = KnowledgeArticleAttachment

    class Params:
        content = PNG

    article = factory.SubFactory(ArticleFactory)
    filename = "screenshot.png"
    content_type = "image/png"
    size = factory.LazyAttribute(lambda a: len(a.content))
    sha256 = factory.LazyAttribute(lambda a: hashlib.sha256(a.content).hexdigest())
    file = factory.LazyAttribute(lambda a: ContentFile(a.content, name=a.filename))
    uploaded_by = factory.LazyAttribute(lambda a: a.article.author)


class SearchHistoryFactory(factory.django.DjangoModelFactory[KnowledgeSearchHistory]):
    class Meta:
        model = KnowledgeSearchHistory

    query = factory.Sequence(lambda n: f"query {n}")
    normalized_query = factory.LazyAttribute(lambda s: " ".join(s.query.lower().split()))
    results_count = 1


class TicketLinkFactory(factory.django.DjangoModelFactory[KnowledgeArticleTicketLink]):
    class Meta:
        model = KnowledgeArticleTicketLink

    article = factory.SubFactory(ArticleFactory)
    ticket = factory.SubFactory(TicketFactory)
    linked_by = factory.LazyAttribute(lambda link: link.article.author)
