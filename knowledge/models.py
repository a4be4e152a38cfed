"""The knowledge base: versioned Markdown articles, their readers' signals, and search.

Writes go through ``knowledge.services`` (every content change makes a numbered version
and an event); reads through ``knowledge.selectors`` (who sees what, full-text search).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from nixflow.models import Ticket

# The text search configuration of the stored document and of every query against it:
# a query parsed with another configuration would stem words differently and miss.
SEARCH_CONFIG = "english"


# Choices, fields and Meta blocks below are alike in shape to other apps' models and to
# one another (the duplicates report lists them): declarations of different rows and
# values, each tied to its own migrations, so they stay written out.
class KBCategory(models.TextChoices):
    """The kind of article (what the reader is looking at), not where it is filed."""

    FAQ = "FAQ", "FAQ"
    HOW_TO = "HOW_TO", "How-to"
    TROUBLESHOOTING = "TROUBLESHOOTING", "Troubleshooting"
    REFERENCE = "REFERENCE", "Reference"
    POLICY = "POLICY", "Policy"
    KNOWN_ISSUE = "KNOWN_ISSUE", "Known issue"
    ANNOUNCEMENT = "ANNOUNCEMENT", "Announcement"


class KnowledgeArticleStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    IN_REVIEW = "IN_REVIEW", "In review"
    PUBLISHED = "PUBLISHED", "Published"
    ARCHIVED = "ARCHIVED", "Archived"


# The publishing workflow: status -> the statuses it may move to. Review comes before
# publication; an archived article goes back to draft to be revived.
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    KnowledgeArticleStatus.DRAFT: frozenset(
        {KnowledgeArticleStatus.IN_REVIEW, KnowledgeArticleStatus.ARCHIVED}
    ),
    KnowledgeArticleStatus.IN_REVIEW: frozenset(
        {KnowledgeArticleStatus.DRAFT, KnowledgeArticleStatus.PUBLISHED}
    ),
    KnowledgeArticleStatus.PUBLISHED: frozenset({KnowledgeArticleStatus.ARCHIVED}),
    KnowledgeArticleStatus.ARCHIVED: frozenset({KnowledgeArticleStatus.DRAFT}),
}


class Visibility(models.TextChoices):
    PUBLIC = "PUBLIC", "Public (requesters and anonymous readers)"
    INTERNAL = "INTERNAL", "Internal (agents only)"


# A category's page is /help/<slug>/, beside the help center's fixed pages: a category
# with one of these slugs would hide a page (or be hidden by it), so none may have one.
# Keep in step with helpcenter/urls.py (a test there checks every fixed path is here).
RESERVED_CATEGORY_SLUGS = frozenset(
    {"a", "c", "articles", "search", "sitemap", "sitemap-xml", "static", "media", "feedback"}
)


class KnowledgeCategory(models.Model):
    """Where articles are filed: a tree (``parent``), addressed by a unique slug."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120, unique=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order among siblings.")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "knowledge categories"
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"],
                name="knowledge_category_name_unique_in_parent",
                nulls_distinct=False,
                violation_error_message="A category with this name exists here already.",
            ),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("pk")),
                name="knowledge_category_not_own_parent",
                violation_error_message="A category cannot be its own parent.",
            ),
            models.CheckConstraint(
                condition=~models.Q(slug__in=sorted(RESERVED_CATEGORY_SLUGS)),
                name="knowledge_category_slug_not_reserved",
                violation_error_message="This slug is an address of the help center.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.slug in RESERVED_CATEGORY_SLUGS:
            taken = ", ".join(sorted(RESERVED_CATEGORY_SLUGS))
            raise ValidationError(
                {
                    "slug": f"“{self.slug}” is an address of the help center (/help/{self.slug}/); "
                    f"choose another slug. Reserved: {taken}."
                }
            )
        # A check constraint sees one row; a cycle through several needs the tree.
        seen: set[int] = {self.pk} if self.pk else set()
        parent = self.parent
        while parent is not None:
            if parent.pk in seen:
                raise ValidationError({"parent": "A category cannot be inside itself."})
            seen.add(parent.pk)
            parent = parent.parent


class KnowledgeTag(models.Model):
    name = models.CharField(max_length=50)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="knowledge_tag_name_ci_unique",
                violation_error_message="A tag with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class KnowledgeArticle(models.Model):
    """An article: Markdown written by agents, rendered to sanitized HTML on save.

    ``body_html`` and ``body_text`` are derived from ``body`` by the services (see
    ``knowledge.rendering``) and stored, so that reading an article never renders it.
    ``search_vector`` is a stored generated column PostgreSQL computes on every write of
    the texts: title (weight A) above summary (B) above the body's plain text (C);
    ``title_vector`` the same for title and summary only. GIN indexes on both serve
    full-text search. Both are stored inline in the row (``STORAGE MAIN``, migration
    0002): ranking reads the vector of every candidate, and an out-of-line (TOAST) value
    costs an extra index lookup and page read per article. The view and rating figures
    are kept by the services in the transaction that records a view or a rating.
    """

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    summary = models.CharField(max_length=500, blank=True)
    body = models.TextField(help_text="Markdown.")
    body_html = models.TextField(editable=False)
    body_text = models.TextField(editable=False)
    kind = models.CharField(max_length=16, choices=KBCategory.choices, default=KBCategory.HOW_TO)
    status = models.CharField(
        max_length=16,
        choices=KnowledgeArticleStatus.choices,
        default=KnowledgeArticleStatus.DRAFT,
    )
    visibility = models.CharField(
        max_length=8, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    category = models.ForeignKey(
        KnowledgeCategory,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="articles",
    )
    tags = models.ManyToManyField(KnowledgeTag, blank=True, related_name="articles")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="knowledge_articles"
    )
    version = models.PositiveIntegerField(default=1, help_text="The current version's number.")
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    helpful_count = models.PositiveIntegerField(default=0)
    not_helpful_count = models.PositiveIntegerField(default=0)
    search_vector = models.GeneratedField(
        expression=(
            SearchVector("title", weight="A", config=SEARCH_CONFIG)
            + SearchVector("summary", weight="B", config=SEARCH_CONFIG)
            + SearchVector("body_text", weight="C", config=SEARCH_CONFIG)
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    # Title and summary alone: which matches are "in the title" (they rank first), found
    # through their own small index without reading the articles that only mention
    # the words in their body (see knowledge.search.article_search).
    title_vector = models.GeneratedField(
        expression=(
            SearchVector("title", weight="A", config=SEARCH_CONFIG)
            + SearchVector("summary", weight="B", config=SEARCH_CONFIG)
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [
            GinIndex(fields=["search_vector"], name="kb_article_search"),
            GinIndex(fields=["title_vector"], name="kb_article_title_search"),
            # The lists, newest published first (drafts, never published, last): readers'
            # (published articles of one visibility) and agents' (every article).
            models.Index(
                "status",
                "visibility",
                F("published_at").desc(nulls_last=True),
                F("id").desc(),
                name="kb_article_listing",
            ),
            models.Index(
                F("published_at").desc(nulls_last=True), F("id").desc(), name="kb_article_recent"
            ),
            models.Index(fields=["-updated"], name="kb_article_updated"),
            # The help center's "related articles": a category's most read published
            # articles, read in order and stopped at the first few (a category holds
            # thousands; sorting them all for five took half a second at 100,000).
            models.Index(
                fields=["category", "-view_count", "-id"],
                condition=models.Q(status="PUBLISHED"),
                name="kb_article_category_popular",
            ),
            # The help center's "most viewed": the same, over every category (sorting
            # every published article by views took a fifth of a second at 100,000).
            models.Index(
                fields=["-view_count", "-id"],
                condition=models.Q(status="PUBLISHED"),
                name="kb_article_popular",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(title=""), name="knowledge_article_title_not_empty"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=KBCategory.values), name="knowledge_article_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=KnowledgeArticleStatus.values),
                name="knowledge_article_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(visibility__in=Visibility.values),
                name="knowledge_article_visibility_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=KnowledgeArticleStatus.PUBLISHED)
                | models.Q(published_at__isnull=False),
                name="knowledge_article_published_has_time",
                violation_error_message="A published article has a publication time.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_readable_by_everyone(self) -> bool:
        return (
            self.status == KnowledgeArticleStatus.PUBLISHED and self.visibility == Visibility.PUBLIC
        )


class KnowledgeArticleVersion(models.Model):
    """The content of an article as it was after one change: numbered 1, 2, 3, …

    Versions are never changed or deleted (except with their article); restoring an
    old one makes a new version with its content.
    """

    article = models.ForeignKey(KnowledgeArticle, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    body = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.CharField(max_length=300, blank=True, help_text="What changed, and why.")
    restored_from = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version this one restored."
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["article", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "number"], name="knowledge_version_number_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(number__gte=1), name="knowledge_version_number_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.article_id} v{self.number}"


class KnowledgeArticleRating(models.Model):
    """One reader's answer to "Was this article helpful?"; they may change it.

    A signed-in reader is their ``user``; an anonymous one their ``reader_key``
    (``knowledge.services.viewer_key_for``: a hash standing for their browser, never
    their address), one answer per article for each.
    """

    article = models.ForeignKey(KnowledgeArticle, on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="knowledge_ratings",
    )
    reader_key = models.CharField(max_length=64, blank=True, db_default="")
    helpful = models.BooleanField()
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated"]
        constraints = [
            models.UniqueConstraint(fields=["article", "user"], name="knowledge_rating_once"),
            models.UniqueConstraint(
                fields=["article", "reader_key"],
                condition=models.Q(user__isnull=True),
                name="knowledge_rating_once_anonymous",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | ~models.Q(reader_key=""),
                name="knowledge_rating_has_reader",
            ),
        ]

    def __str__(self) -> str:
        reader = self.user_id or self.reader_key[:12]
        return f"{reader} on {self.article_id}: {'yes' if self.helpful else 'no'}"


class KnowledgeArticleFormerSlug(models.Model):
    """A slug an article had: its old address keeps answering, with a 301 to the
    current one. Written by ``article_update`` when the slug changes; a slug given to
    another article (new or changed) is that article's from then on, and its row here
    is removed in the same transaction."""

    slug = models.SlugField(max_length=220, unique=True)
    article = models.ForeignKey(
        KnowledgeArticle, on_delete=models.CASCADE, related_name="former_slugs"
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.slug} → {self.article_id}"


class KnowledgeCategoryFormerSlug(models.Model):
    """A slug a category had (as ``KnowledgeArticleFormerSlug``, for categories)."""

    slug = models.SlugField(max_length=120, unique=True)
    category = models.ForeignKey(
        KnowledgeCategory, on_delete=models.CASCADE, related_name="former_slugs"
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.slug} → {self.category_id}"


class KnowledgeArticleView(models.Model):
    """A counted read. A viewer (``viewer_key``: the user, or a hash standing for an
    anonymous reader) is counted once per article per window (``VIEW_WINDOW``)."""

    article = models.ForeignKey(KnowledgeArticle, on_delete=models.CASCADE, related_name="views")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    viewer_key = models.CharField(max_length=64)
    viewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-viewed_at"]
        # Serves "did this viewer read this article in the last 30 minutes?", the check
        # made on every read.
        indexes = [
            models.Index(fields=["article", "viewer_key", "-viewed_at"], name="kb_view_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.viewer_key} read {self.article_id}"


class FeedbackStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    RESOLVED = "RESOLVED", "Resolved"
    TICKET = "TICKET", "Turned into a ticket"
    DISMISSED = "DISMISSED", "Dismissed"


class KnowledgeArticleFeedback(models.Model):
    """A reader's comment on an article ("step 3 is out of date"), for its editors."""

    article = models.ForeignKey(KnowledgeArticle, on_delete=models.CASCADE, related_name="feedback")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="knowledge_feedback",
    )
    comment = models.TextField()
    contact = models.CharField(
        max_length=200, blank=True, help_text="How to reach the reader, if not by their account."
    )
    status = models.CharField(
        max_length=16, choices=FeedbackStatus.choices, default=FeedbackStatus.OPEN
    )
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    ticket = models.ForeignKey(
        "nixflow.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="knowledge_feedback",
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "knowledge article feedback"
        indexes = [models.Index(fields=["status", "-created"], name="kb_feedback_status")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(comment=""), name="knowledge_feedback_comment_not_empty"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=FeedbackStatus.values),
                name="knowledge_feedback_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status=FeedbackStatus.OPEN)
                | models.Q(resolved_at__isnull=False),
                name="knowledge_feedback_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Feedback {self.pk} on {self.article_id}"


def knowledge_attachment_path(instance: KnowledgeArticleAttachment, filename: str) -> str:
    # Stored under its content hash: a name nobody can guess, the same for the same bytes.
    return f"knowledge/{instance.sha256[:2]}/{instance.sha256}/{filename}"


class KnowledgeArticleAttachment(models.Model):
    """A file of an article (a screenshot, a PDF), checked for size and type on upload
    and stored with its SHA-256, which also refuses the same file twice on an article."""

    article = models.ForeignKey(
        KnowledgeArticle, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=knowledge_attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "sha256"], name="knowledge_attachment_once_per_article"
            ),
        ]

    def __str__(self) -> str:
        return self.filename


class KnowledgeArticleTicketLink(models.Model):
    """An article that helped with a ticket: agents link them while they work."""

    article = models.ForeignKey(
        KnowledgeArticle, on_delete=models.CASCADE, related_name="ticket_links"
    )
    ticket = models.ForeignKey(
        "nixflow.Ticket", on_delete=models.CASCADE, related_name="knowledge_links"
    )
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["article", "ticket"], name="knowledge_link_once"),
        ]
        # The unique index serves "tickets of an article"; this one "articles of a ticket".
        indexes = [models.Index(fields=["ticket", "article"], name="kb_link_ticket")]

    def __str__(self) -> str:
        return f"{self.article_id} helped {Ticket.key_for(self.ticket_id)}"


class KnowledgeSearchHistory(models.Model):
    """One search: what was asked, how many articles it found, which one was opened.

    ``token`` identifies the search to the client that ran it, so that it can report
    the click without being able to guess another reader's search.
    """

    query = models.CharField(max_length=300)
    normalized_query = models.CharField(max_length=300)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    results_count = models.PositiveIntegerField()
    corrected_query = models.CharField(max_length=300, blank=True)
    clicked_article = models.ForeignKey(
        KnowledgeArticle,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    clicked_at = models.DateTimeField(null=True, blank=True)
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "knowledge search history"
        # The reports group one time window by query; zero-result searches are few.
        indexes = [
            models.Index(fields=["-created"], name="kb_search_created"),
            models.Index(fields=["normalized_query", "-created"], name="kb_search_query"),
            models.Index(
                fields=["-created"],
                name="kb_search_zero_results",
                condition=models.Q(results_count=0),
            ),
            # The admin's search of the history: words inside the (lower-case) query.
            GinIndex(OpClass("normalized_query", name="gin_trgm_ops"), name="kb_search_query_trgm"),
        ]

    def __str__(self) -> str:
        return self.query


class KnowledgeWord(models.Model):
    """A word that occurs in some article's text, lower-cased and unstemmed.

    The vocabulary behind typo tolerance and prefix completion: a misspelt query word is
    replaced by its nearest vocabulary word by trigram similarity (pg_trgm), and the
    word being typed is completed to vocabulary words that start with it. Full-text
    search cannot do either: it knows only stems, and a typo stems to nothing. Words are
    added when article texts are written and never removed (a word no visible article
    contains finds nothing; ``manage.py knowledge_load --rebuild-vocabulary`` rebuilds).
    """

    word = models.CharField(max_length=40, primary_key=True)

    class Meta:
        indexes = [
            # Serves both `word % 'pasword'` (similarity) and `word LIKE 'passw%'`.
            GinIndex(OpClass("word", name="gin_trgm_ops"), name="kb_word_trgm"),
        ]

    def __str__(self) -> str:
        return self.word
