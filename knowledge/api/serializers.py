"""What the knowledge API reads and writes. Input serializers validate and hand typed
values to a service or selector; output serializers render rows. None of them writes."""

from __future__ import annotations

from typing import Any, Protocol

from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from knowledge.models import (
    FeedbackStatus,
    KBCategory,
    KnowledgeArticle,
    KnowledgeArticleAttachment,
    KnowledgeArticleFeedback,
    KnowledgeArticleStatus,
    KnowledgeArticleTicketLink,
    KnowledgeArticleVersion,
    KnowledgeCategory,
    KnowledgeTag,
    Visibility,
)
from knowledge.query import MAX_QUERY_CHARS
from nixflow.api.filters import TICKET_KEY_ANY_CASE
from nixflow.api.schema import NOT_BLANK
from nixflow.models import Ticket, User

MAX_ID = 2**63 - 1


# The enums are named components of their own: other apps have choice fields called
# "status" or "kind" with other choices, and drf-spectacular would otherwise have to
# invent names for the colliding enums.
class _EnumFieldClass(Protocol):
    """A ChoiceField class that brings its own choices: called without them."""

    def __call__(self, **kwargs: Any) -> serializers.ChoiceField: ...


def _enum(component: str, choices: list[tuple[str, str]]) -> _EnumFieldClass:
    @extend_schema_field(
        {"type": "string", "enum": [value for value, _ in choices]}, component_name=component
    )
    class EnumField(serializers.ChoiceField):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(choices=choices, **kwargs)

    EnumField.__name__ = f"{component}Field"
    return EnumField


ArticleStatusField = _enum("KnowledgeArticleStatus", KnowledgeArticleStatus.choices)
ArticleKindField = _enum("KnowledgeArticleKind", KBCategory.choices)
VisibilityField = _enum("KnowledgeVisibility", Visibility.choices)
FeedbackStatusField = _enum("KnowledgeFeedbackStatus", FeedbackStatus.choices)
FeedbackClosingStatusField = _enum(
    "KnowledgeFeedbackClosingStatus",
    [(FeedbackStatus.RESOLVED, "Resolved"), (FeedbackStatus.DISMISSED, "Dismissed")],
)


class SlugLookupField(serializers.SlugRelatedField):
    """A category or tag named by its slug in a query string.

    DRF's CharField refuses NUL characters, SlugRelatedField does not: it would put one
    in the lookup, which PostgreSQL refuses (a 500). No slug contains one, so it names
    nothing, and saying so needs no query.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", ""))
        return super().to_internal_value(data)


# --- Output -----------------------------------------------------------------------------
# Brief serializers (here and in the core's API): one Meta each, the columns of a different model.
class KBUserBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username"]
        read_only_fields = fields


class KBCategoryBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = KnowledgeCategory
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class KBTagSerializer(serializers.ModelSerializer):
    article_count = serializers.IntegerField(
        read_only=True, help_text="Articles with this tag that you can open."
    )

    class Meta:
        model = KnowledgeTag
        fields = ["id", "name", "slug", "article_count"]
        read_only_fields = fields


class KBTagBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = KnowledgeTag
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class KBCategorySerializer(serializers.ModelSerializer):
    article_count = serializers.IntegerField(
        read_only=True, help_text="Articles in this category (not its subcategories) you can open."
    )

    class Meta:
        model = KnowledgeCategory
        fields = ["id", "name", "slug", "parent", "description", "position", "article_count"]
        read_only_fields = fields


class KBArticleSerializer(serializers.ModelSerializer):
    """An article as lists show it: everything but the body."""

    url = serializers.HyperlinkedIdentityField(view_name="knowledge-article-detail")
    category = KBCategoryBriefSerializer(read_only=True, allow_null=True)
    tags = KBTagBriefSerializer(many=True, read_only=True)
    author = KBUserBriefSerializer(read_only=True)
    status = ArticleStatusField(read_only=True)
    kind = ArticleKindField(read_only=True)
    visibility = VisibilityField(read_only=True)

    class Meta:
        model = KnowledgeArticle
        fields = [
            "id",
            # The API's names for an article (category, tags); selectors.LIST_FIELDS lists the
            # columns loaded.
            "url",
            "title",
            "slug",
            "summary",
            "kind",
            "status",
            "visibility",
            "category",
            "tags",
            "author",
            "version",
            "created",
            "updated",
            "published_at",
            "view_count",
            "helpful_count",
            "not_helpful_count",
        ]
        read_only_fields = fields


class KBAttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Download of the file.")

    class Meta:
        model = KnowledgeArticleAttachment
        fields = ["id", "filename", "content_type", "size", "sha256", "created", "url"]
        read_only_fields = fields

    def get_url(self, attachment: KnowledgeArticleAttachment) -> str:
        path = reverse(
            "knowledge-article-attachment",
            kwargs={"pk": attachment.article_id, "attachment_id": attachment.pk},
        )
        return self.context["request"].build_absolute_uri(path)


class KBArticleDetailSerializer(KBArticleSerializer):
    body_html = serializers.CharField(
        read_only=True, help_text="The body rendered from Markdown and sanitized: safe to show."
    )
    attachments = KBAttachmentSerializer(many=True, read_only=True)

    class Meta(KBArticleSerializer.Meta):
        fields = [*KBArticleSerializer.Meta.fields, "body", "body_html", "attachments"]
        read_only_fields = fields


class KBVersionSerializer(serializers.ModelSerializer):
    author = KBUserBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = KnowledgeArticleVersion
        fields = ["number", "title", "summary", "author", "note", "restored_from", "created"]
        read_only_fields = fields


class KBVersionDetailSerializer(KBVersionSerializer):
    class Meta(KBVersionSerializer.Meta):
        fields = [*KBVersionSerializer.Meta.fields, "body"]
        read_only_fields = fields


class KBFieldDiffSerializer(serializers.Serializer):
    field = serializers.CharField()
    changed = serializers.BooleanField()
    unified = serializers.CharField(help_text="A unified diff; empty when unchanged.")


class KBVersionDiffSerializer(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    # A field named "fields": DRF's metaclass takes declared fields off the class, so it
    # never shadows Serializer.fields, which the stubs compare it with.
    fields = KBFieldDiffSerializer(many=True)  # type: ignore[assignment]


class KBRatingSerializer(serializers.Serializer):
    helpful = serializers.BooleanField(
        allow_null=True, help_text="Your answer; null when you have not rated the article."
    )
    helpful_count = serializers.IntegerField()
    not_helpful_count = serializers.IntegerField()


class KBFeedbackSerializer(serializers.ModelSerializer):
    author = KBUserBriefSerializer(read_only=True, allow_null=True)
    resolved_by = KBUserBriefSerializer(read_only=True, allow_null=True)
    ticket = serializers.SerializerMethodField(help_text="The ticket it became, e.g. NF-12.")
    status = FeedbackStatusField(read_only=True)

    class Meta:
        model = KnowledgeArticleFeedback
        fields = [
            "id",
            "article",
            "author",
            "comment",
            "contact",
            "status",
            "resolution_note",
            "resolved_by",
            "resolved_at",
            "ticket",
            "created",
        ]
        read_only_fields = fields

    def get_ticket(self, feedback: KnowledgeArticleFeedback) -> str | None:
        return Ticket.key_for(feedback.ticket_id) if feedback.ticket_id else None


class KBTicketLinkSerializer(serializers.ModelSerializer):
    ticket = serializers.SerializerMethodField(help_text="The ticket's key, e.g. NF-12.")
    ticket_title = serializers.CharField(source="ticket.title", read_only=True)
    linked_by = KBUserBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = KnowledgeArticleTicketLink
        fields = ["ticket", "ticket_title", "linked_by", "created"]
        read_only_fields = fields

    def get_ticket(self, link: KnowledgeArticleTicketLink) -> str:
        return Ticket.key_for(link.ticket_id)


class KBSearchHitSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="article.pk")
    url = serializers.SerializerMethodField()
    title = serializers.CharField(source="article.title")
    slug = serializers.CharField(source="article.slug")
    summary = serializers.CharField(source="article.summary")
    kind = ArticleKindField(source="article.kind")
    visibility = VisibilityField(source="article.visibility")
    category = KBCategoryBriefSerializer(source="article.category", allow_null=True)
    tags = KBTagBriefSerializer(many=True)
    published_at = serializers.DateTimeField(source="article.published_at")
    view_count = serializers.IntegerField(source="article.view_count")
    rank = serializers.FloatField(help_text="Relevance (ts_rank); higher is better.")
    title_html = serializers.CharField(
        help_text="The title, HTML-escaped, with matches in <mark> elements."
    )
    snippet_html = serializers.CharField(
        help_text="Passages of the body around the matches, HTML-escaped, matches in <mark>."
    )

    def get_url(self, hit: Any) -> str:
        path = reverse("knowledge-article-detail", kwargs={"pk": hit.article.pk})
        return self.context["request"].build_absolute_uri(path)


class KBSearchResponseSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Matching articles (at most `count` are listed).")
    count_capped = serializers.BooleanField(
        help_text="More articles match than are ranked; `count` is that limit. Refine the query."
    )
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    query = serializers.CharField()
    corrected_query = serializers.CharField(
        allow_null=True, help_text="The query with typos corrected, when that was searched too."
    )
    search_id = serializers.UUIDField(
        allow_null=True,
        help_text="Identifies this search (first page): POST the article a reader opens to "
        "search/{search_id}/click/.",
    )
    results = KBSearchHitSerializer(many=True)


class KBArticleBriefSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="knowledge-article-detail")
    kind = ArticleKindField(read_only=True)
    visibility = VisibilityField(read_only=True)

    class Meta:
        model = KnowledgeArticle
        fields = ["id", "url", "title", "slug", "summary", "kind", "visibility", "published_at"]
        read_only_fields = fields


class KBSuggestionsSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    results = KBArticleBriefSerializer(many=True)


# --- Input ------------------------------------------------------------------------------
class _ArticleFields(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    summary = serializers.CharField(max_length=500, allow_blank=True, required=False)
    body = serializers.CharField(help_text="Markdown.", trim_whitespace=False)
    kind = ArticleKindField(required=False)
    visibility = VisibilityField(required=False)
    category = serializers.PrimaryKeyRelatedField(
        queryset=KnowledgeCategory.objects.all(), allow_null=True, required=False
    )
    tags = serializers.PrimaryKeyRelatedField(
        queryset=KnowledgeTag.objects.all(), many=True, required=False
    )
    slug = serializers.SlugField(max_length=220, required=False, help_text="Made from the title.")


class KBArticleCreateSerializer(_ArticleFields):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class KBArticleUpdateSerializer(_ArticleFields):
    note = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        help_text="What changed and why: the note of the new version.",
    )


class KBTransitionSerializer(serializers.Serializer):
    status = ArticleStatusField(
        help_text="Draft → in review → published → archived; in review may go back to "
        "draft, archived goes back to draft.",
    )


class KBRestoreSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)


class KBDiffQuerySerializer(serializers.Serializer):
    from_version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    to_version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, help_text="Default: the current one."
    )


class KBRateSerializer(serializers.Serializer):
    helpful = serializers.BooleanField(help_text="Was this article helpful?")


class KBFeedbackCreateSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=5000)
    contact = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class KBFeedbackResolveSerializer(serializers.Serializer):
    status = FeedbackClosingStatusField(default=FeedbackStatus.RESOLVED)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class KBAttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class KBTicketKeySerializer(serializers.Serializer):
    ticket = serializers.RegexField(
        TICKET_KEY_ANY_CASE, help_text="The ticket's key, e.g. NF-12 (any case)."
    )


class KBSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=MAX_QUERY_CHARS,
        trim_whitespace=False,
        # Said in the schema as well as checked: something other than whitespace.
        validators=[RegexValidator(NOT_BLANK, message="Type something to search for.")],
        help_text='Words (all required), "a phrase", -excluded, a or b; the last word is '
        "completed while it is typed (no space after it).",
    )
    category = SlugLookupField(
        slug_field="slug",
        queryset=KnowledgeCategory.objects.all(),
        required=False,
        help_text="A category's slug; its subcategories are included.",
    )
    tag = SlugLookupField(slug_field="slug", queryset=KnowledgeTag.objects.all(), required=False)
    kind = ArticleKindField(required=False)
    page = serializers.IntegerField(min_value=1, max_value=10_000, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=50, default=20)

    def validate_q(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Type something to search for.")
        return value


class KBSearchClickSerializer(serializers.Serializer):
    article = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class KBSuggestionQuerySerializer(KBTicketKeySerializer):
    limit = serializers.IntegerField(min_value=1, max_value=20, default=5)


class KBArticleListQuerySerializer(serializers.Serializer):
    status = ArticleStatusField(required=False, help_text="Agents only.")
    visibility = VisibilityField(required=False)
    kind = ArticleKindField(required=False)
    category = SlugLookupField(
        slug_field="slug", queryset=KnowledgeCategory.objects.all(), required=False
    )
    tag = SlugLookupField(slug_field="slug", queryset=KnowledgeTag.objects.all(), required=False)


class KBCategoryWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=120, required=False)
    # A field named "parent", taken off the class like "fields" above (Field.parent).
    parent = serializers.PrimaryKeyRelatedField(  # type: ignore[assignment]
        queryset=KnowledgeCategory.objects.all(), allow_null=True, required=False
    )
    description = serializers.CharField(required=False, allow_blank=True)
    position = serializers.IntegerField(min_value=0, max_value=32767, required=False)


class KBTagWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    slug = serializers.SlugField(max_length=60, required=False)
