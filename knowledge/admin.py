"""The editors' UI: agents write, review, publish and archive articles here, compare and
restore versions, answer feedback and read the search reports.

Every change goes through ``knowledge.services`` (versions, events, rendering), as the
API's do; permissions follow the user's role (``RolePermissionsMixin`` of the core).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy, ngettext_lazy

from knowledge import selectors, services, suggestions
from knowledge.models import (
    SEARCH_CONFIG,
    FeedbackStatus,
    KnowledgeArticle,
    KnowledgeArticleAttachment,
    KnowledgeArticleFeedback,
    KnowledgeArticleStatus,
    KnowledgeArticleTicketLink,
    KnowledgeCategory,
    KnowledgeSearchHistory,
    KnowledgeTag,
)
from nixflow.models import Ticket, User
from nixflow.toolkit.admin import (
    ADD,
    CHANGE,
    DELETE,
    READ_ONLY,
    VIEW,
    ReadOnlyInline,
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    bulk_apply,
    refusals_to_form,
    related_count,
)
from nixflow.toolkit.auth import require_agent, signed_in_user
from nixflow.toolkit.changelist import MIN_TEXT_WORD, FastListAdmin, search_words
from nixflow.toolkit.config_admin import ConfigurationAdmin, ServiceDeleteMixin
from nixflow.toolkit.errors import error_text

if TYPE_CHECKING:
    # Types only: django-stubs-ext is a development dependency.
    from django_stubs_ext import StrOrPromise

REPORT_DAYS = (7, 30, 90)


# --- Bulk actions and deleting through services ----------------------------------------
def _for_each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[Any],
    do: Callable[[Any], object],
    *,
    done: StrOrPromise,
    noun: str,
    label: Callable[[Any], str],
) -> None:
    """A bulk action: ``do`` (a service call) for each row, then one message with how
    many it changed (``done``, an ``ngettext_lazy`` pair counting ``%(count)s``:
    "Published 3 articles.") and one listing each refusal."""
    count = bulk_apply(
        model_admin, request, rows, do, label=label, failed="Did not change", noun=noun
    )
    if count:
        model_admin.message_user(request, done % {"count": count})


# --- Articles ------------------------------------------------------------------------------
class ArticleForm(ModelForm):
    note = forms.CharField(
        required=False,
        max_length=300,
        help_text=gettext_lazy(
            "What changed and why: the note of the new version (title, summary and "
            "body changes make one)."
        ),
    )

    class Meta:
        model = KnowledgeArticle
        fields = ["title", "slug", "summary", "body", "kind", "visibility", "category", "tags"]
        widgets = {"body": forms.Textarea(attrs={"rows": 24, "class": "vLargeTextField"})}
        help_texts = {
            "body": gettext_lazy(
                "Markdown. Rendered to HTML and sanitized on save: scripts, event "
                "handlers and javascript: links are removed."
            ),
            "slug": gettext_lazy("Made from the title when left empty."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False


class AttachmentInline(ReadOnlyInline):
    model = KnowledgeArticleAttachment
    fields = ("filename", "content_type", "size", "sha256", "created")


class AttachmentUploadForm(forms.Form):
    file = forms.FileField()


class TicketLinkInline(ReadOnlyInline):
    model = KnowledgeArticleTicketLink
    fields = ("ticket", "linked_by", "created")
    verbose_name_plural = gettext_lazy("tickets this article helped with")

    def get_queryset(self, request: HttpRequest) -> QuerySet[KnowledgeArticleTicketLink]:
        return super().get_queryset(request).select_related("ticket", "linked_by")


class FeedbackInline(ReadOnlyInline):
    model = KnowledgeArticleFeedback
    fields = ("created", "author", "status", "comment", "ticket")

    def get_queryset(self, request: HttpRequest) -> QuerySet[KnowledgeArticleFeedback]:
        return super().get_queryset(request).select_related("author", "ticket")


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(
    ServiceDeleteMixin, ServiceFormAdminMixin, RolePermissionsMixin, admin.ModelAdmin
):  # not a ConfigurationAdmin: articles save through their own versioned services
    # Every write goes through knowledge.services, which record the knowledge.article.*
    # events: no admin.* events of the admin's own besides.
    record_admin_events = False
    agent_actions = admin_actions = frozenset({VIEW, ADD, CHANGE, DELETE})
    form = ArticleForm
    list_display = (
        "title",
        "status",
        "visibility",
        "kind",
        "category",
        "author",
        "version",
        "published_at",
        "view_count",
        "helpfulness",
        "open_feedback",
    )
    list_filter = ("status", "visibility", "kind", "category")
    list_select_related = ("category", "author")
    search_fields = ("title",)
    search_help_text = gettext_lazy(
        'Words of the article (full-text, "phrases", -exclusions), or its id.'
    )
    show_full_result_count = False
    ordering = ("-updated",)
    actions = ("submit_for_review", "publish", "archive", "return_to_draft")
    readonly_fields = (
        "status",
        "version",
        "author",
        "published_at",
        "view_count",
        "helpful_count",
        "not_helpful_count",
        "rendered",
        "version_history",
    )
    filter_horizontal = ("tags",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[KnowledgeArticle]:
        return (
            super()
            .get_queryset(request)
            .defer("body", "body_html", "body_text", "search_vector", "title_vector")
            .annotate(
                open_feedback=related_count(
                    KnowledgeArticleFeedback.objects.filter(status=FeedbackStatus.OPEN), "article"
                )
            )
        )

    def get_fieldsets(self, request: HttpRequest, obj: KnowledgeArticle | None = None) -> Any:
        content = ("title", "slug", "summary", "body", "note")
        meta = ("kind", "visibility", "category", "tags")
        if obj is None:
            return [(None, {"fields": content}), (gettext("Filing"), {"fields": meta})]
        return [
            (None, {"fields": content}),
            (gettext("Filing"), {"fields": meta}),
            (
                gettext("Publishing"),
                {"fields": ("status", "version", "version_history", "author", "published_at")},
            ),
            (
                gettext("Readers"),
                {"fields": ("view_count", "helpful_count", "not_helpful_count")},
            ),
            (gettext("Preview"), {"fields": ("rendered",)}),
        ]

    def get_inlines(self, request: HttpRequest, obj: KnowledgeArticle | None) -> list[type[Any]]:
        return [] if obj is None else [AttachmentInline, TicketLinkInline, FeedbackInline]

    @admin.display(description=gettext_lazy("helpful"))
    def helpfulness(self, article: KnowledgeArticle) -> str:
        total = article.helpful_count + article.not_helpful_count
        if not total:
            return "-"
        return gettext("%(percent)s %% of %(total)s") % {
            "percent": 100 * article.helpful_count // total,
            "total": total,
        }

    @admin.display(description=gettext_lazy("open feedback"), ordering="open_feedback")
    def open_feedback(self, article: KnowledgeArticle) -> int:
        return article.open_feedback  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("rendered body"))
    def rendered(self, article: KnowledgeArticle) -> SafeString:
        # body_html is the output of knowledge.rendering: sanitized by nh3 on save, so
        # it is safe to show as HTML here as anywhere else.
        return mark_safe(f'<div class="kb-rendered">{article.body_html}</div>')  # noqa: S308

    @admin.display(description=gettext_lazy("versions"))
    def version_history(self, article: KnowledgeArticle) -> SafeString:
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("admin:knowledge_knowledgearticle_versions", args=[article.pk]),
            gettext("Versions, diff and restore"),
            reverse("admin:knowledge_knowledgearticle_attach", args=[article.pk]),
            gettext("Attach a file"),
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[KnowledgeArticle], search_term: str
    ) -> tuple[QuerySet[KnowledgeArticle], bool]:
        """Full-text search (the GIN index), or an article id."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit() and len(term) < 19:
            return queryset.filter(pk=int(term)), False
        query = SearchQuery(term, search_type="websearch", config=SEARCH_CONFIG)
        return queryset.filter(search_vector=query), False

    # --- saving through the services -------------------------------------------------
    def save_model(
        self, request: HttpRequest, obj: KnowledgeArticle, form: ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        with refusals_to_form():
            if not change:
                # Keyword arguments from the form, one a line, as the ticket admin's ticket_create
                # call: other fields.
                article = services.article_create(
                    title=data["title"],
                    summary=data["summary"],
                    body=data["body"],
                    kind=data["kind"],
                    visibility=data["visibility"],
                    category=data["category"],
                    tags=data["tags"],
                    slug=data["slug"],
                    note=data["note"],
                    author=signed_in_user(request),
                )
                for field in KnowledgeArticle._meta.concrete_fields:
                    if not field.generated:
                        setattr(obj, field.attname, getattr(article, field.attname))
                obj._state.adding = False
                obj._state.db = article._state.db
                return
            changed = {
                name: data[name]
                for name in ("title", "slug", "summary", "body", "kind", "visibility", "category")
                if name in form.changed_data
            }
            if "tags" in form.changed_data:
                changed["tags"] = list(data["tags"])
            if changed:
                services.article_update(
                    article=obj, actor=signed_in_user(request), data=changed, note=data["note"]
                )

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        # Tags were saved by the service (save_model); the inlines are read-only.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_with(self, obj: KnowledgeArticle, actor: User) -> None:
        services.article_delete(article=obj, actor=actor)

    # --- status actions --------------------------------------------------------------
    def _move(
        self,
        request: HttpRequest,
        queryset: QuerySet[KnowledgeArticle],
        to_status: KnowledgeArticleStatus,
        done: StrOrPromise,
    ) -> None:
        actor = signed_in_user(request)
        _for_each(
            self,
            request,
            [article for article in queryset.order_by("pk") if article.status != to_status],
            lambda a: services.article_transition(article=a, to_status=to_status, actor=actor),
            done=done,
            noun="article",
            label=lambda a: f"“{a.title}”",
        )

    # Same shape as the ticket admin's actions (decorator, one-line call): each names its own
    # service move.
    @admin.action(description=gettext_lazy("Submit for review"), permissions=["change"])
    def submit_for_review(self, request: HttpRequest, queryset: QuerySet[KnowledgeArticle]) -> None:
        self._move(
            request,
            queryset,
            KnowledgeArticleStatus.IN_REVIEW,
            ngettext_lazy("Submitted %(count)s article.", "Submitted %(count)s articles.", "count"),
        )

    @admin.action(description=gettext_lazy("Publish"), permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[KnowledgeArticle]) -> None:
        self._move(
            request,
            queryset,
            KnowledgeArticleStatus.PUBLISHED,
            ngettext_lazy("Published %(count)s article.", "Published %(count)s articles.", "count"),
        )

    @admin.action(description=gettext_lazy("Archive"), permissions=["change"])
    def archive(self, request: HttpRequest, queryset: QuerySet[KnowledgeArticle]) -> None:
        self._move(
            request,
            queryset,
            KnowledgeArticleStatus.ARCHIVED,
            ngettext_lazy("Archived %(count)s article.", "Archived %(count)s articles.", "count"),
        )

    @admin.action(description=gettext_lazy("Return to draft"), permissions=["change"])
    def return_to_draft(self, request: HttpRequest, queryset: QuerySet[KnowledgeArticle]) -> None:
        self._move(
            request,
            queryset,
            KnowledgeArticleStatus.DRAFT,
            ngettext_lazy(
                "Returned to draft %(count)s article.",
                "Returned to draft %(count)s articles.",
                "count",
            ),
        )

    # --- versions: list, diff, restore; attachment upload -----------------------------
    # Route declarations, alike the forms admin's: other pages.
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/versions/",
                wrap(self.versions_view),
                name="knowledge_knowledgearticle_versions",
            ),
            path(
                "<int:object_id>/versions/diff/",
                wrap(self.diff_view),
                name="knowledge_knowledgearticle_diff",
            ),
            path(
                "<int:object_id>/versions/<int:number>/restore/",
                wrap(self.restore_view),
                name="knowledge_knowledgearticle_restore",
            ),
            path(
                "<int:object_id>/attach/",
                wrap(self.attach_view),
                name="knowledge_knowledgearticle_attach",
            ),
            *super().get_urls(),
        ]

    def _article(self, request: HttpRequest, object_id: int) -> KnowledgeArticle:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(
            KnowledgeArticle.objects.defer("body_html", "body_text"), pk=object_id
        )

    def _context(
        self, request: HttpRequest, article: KnowledgeArticle, title: str
    ) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": article,
            "title": title,
            "has_change_permission": self.has_change_permission(request, article),
        }

    def versions_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        article = self._article(request, object_id)
        context = {
            **self._context(
                request, article, gettext("Versions of “%(title)s”") % {"title": article.title}
            ),
            "versions": selectors.version_list(article=article),
        }
        return TemplateResponse(request, "admin/knowledge/knowledgearticle/versions.html", context)

    def diff_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        article = self._article(request, object_id)
        numbers = []
        for name, default in (("from", article.version - 1), ("to", article.version)):
            raw = request.GET.get(name, str(default))
            numbers.append(int(raw) if raw.isdigit() and len(raw) < 10 else 0)
        old = selectors.version_get(article=article, number=numbers[0])
        new = selectors.version_get(article=article, number=numbers[1])
        if old is None or new is None:
            self.message_user(
                request, gettext("Choose two existing versions to compare."), messages.ERROR
            )
            return HttpResponseRedirect(
                reverse("admin:knowledge_knowledgearticle_versions", args=[article.pk])
            )
        context = {
            **self._context(
                request,
                article,
                gettext("Version %(old)s → %(new)s of “%(title)s”")
                % {"old": old.number, "new": new.number, "title": article.title},
            ),
            "old": old,
            "new": new,
            # difflib.HtmlDiff escapes the texts it puts in its table.
            "diffs": [
                {"field": d.field, "changed": d.changed, "table": mark_safe(d.html)}  # noqa: S308
                for d in selectors.version_diff(old=old, new=new)
            ],
        }
        return TemplateResponse(request, "admin/knowledge/knowledgearticle/diff.html", context)

    def restore_view(self, request: HttpRequest, object_id: int, number: int) -> HttpResponse:
        article = self._article(request, object_id)
        if request.method != "POST" or not self.has_change_permission(request, article):
            raise PermissionDenied
        try:
            article = services.article_restore(
                article=article, version_number=number, actor=signed_in_user(request)
            )
        except (ValidationError, PermissionDenied) as error:
            self.message_user(request, error_text(error), messages.ERROR)
        else:
            self.message_user(
                request,
                gettext("Restored version %(old)s as version %(new)s.")
                % {"old": number, "new": article.version},
            )
        return HttpResponseRedirect(
            reverse("admin:knowledge_knowledgearticle_versions", args=[article.pk])
        )

    def attach_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        article = self._article(request, object_id)
        if not self.has_change_permission(request, article):
            raise PermissionDenied
        form = AttachmentUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.attachment_add(
                    article=article, upload=form.cleaned_data["file"], actor=signed_in_user(request)
                )
            except (ValidationError, PermissionDenied) as error:
                form.add_error("file", error_text(error))
            else:
                self.message_user(request, gettext("File attached."))
                return HttpResponseRedirect(
                    reverse("admin:knowledge_knowledgearticle_change", args=[article.pk])
                )
        context = {**self._context(request, article, gettext("Attach a file")), "form": form}
        return TemplateResponse(request, "admin/knowledge/knowledgearticle/attach.html", context)


# --- Categories and tags -----------------------------------------------------------------
class TaxonomyAdmin(ConfigurationAdmin):
    """Categories and tags, saved and deleted through their services (which record the
    ``knowledge.category.*`` and ``knowledge.tag.*`` events, the same as the API's), so
    the admin records no ``admin.*`` events of its own for them. The slug is made from
    the name when left empty. A subclass names its services (``writes``) and what counts
    its articles."""

    agent_actions = admin_actions = frozenset({VIEW, ADD, CHANGE, DELETE})
    writes: services.TaxonomyWrites
    # The many-to-many table or article model whose rows are counted, and their field.
    counted: tuple[Any, str]

    def create_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return self.writes.create(actor=actor, data=data)

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        if data:
            self.writes.update(row=obj, actor=actor, data=data)
        return obj

    def delete_with(self, obj: Any, actor: User) -> None:
        self.writes.delete(row=obj, actor=actor)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        model, field = self.counted
        counts = related_count(model.objects.all(), field)
        return super().get_queryset(request).annotate(article_count=counts)

    @admin.display(description=gettext_lazy("articles"), ordering="article_count")
    def article_count(self, row: Any) -> int:
        return int(row.article_count)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        form.base_fields["slug"].required = False
        return form


@admin.register(KnowledgeCategory)
class KnowledgeCategoryAdmin(TaxonomyAdmin):
    list_display = ("name", "slug", "parent", "position", "article_count")
    list_select_related = ("parent",)
    search_fields = ("name", "slug")
    fields = service_fields = ("name", "slug", "parent", "description", "position")
    counted = (KnowledgeArticle, "category")
    writes = services.CATEGORY_WRITES


@admin.register(KnowledgeTag)
class KnowledgeTagAdmin(TaxonomyAdmin):
    list_display = ("name", "slug", "article_count")
    search_fields = ("name", "slug")
    fields = service_fields = ("name", "slug")
    counted = (KnowledgeArticle.tags.through, "knowledgetag")
    writes = services.TAG_WRITES


# --- Feedback -----------------------------------------------------------------------------
@admin.register(KnowledgeArticleFeedback)
# Its field list reads like the feedback serializer's: the admin's columns and the API's, kept
# apart.
class KnowledgeArticleFeedbackAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """Readers' feedback: resolve, dismiss or turn into a ticket (actions)."""

    agent_actions = admin_actions = frozenset({VIEW, CHANGE})
    list_display = ("created", "article", "author", "status", "excerpt", "ticket_key")
    list_filter = ("status",)
    list_select_related = ("article", "author")
    search_fields = ("comment", "article__title")
    ordering = ("-created", "-id")
    actions = ("resolve", "dismiss", "turn_into_ticket")
    readonly_fields = (
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
    )

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # readers write feedback through the API

    @admin.display(description=gettext_lazy("comment"))
    def excerpt(self, feedback: KnowledgeArticleFeedback) -> str:
        return feedback.comment if len(feedback.comment) <= 80 else feedback.comment[:79] + "…"

    @admin.display(description=gettext_lazy("ticket"), ordering="ticket_id")
    def ticket_key(self, feedback: KnowledgeArticleFeedback) -> str:
        return Ticket.key_for(feedback.ticket_id) if feedback.ticket_id else ""

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[KnowledgeArticleFeedback],
        do: Any,
        done: StrOrPromise,
    ) -> None:
        _for_each(
            self,
            request,
            queryset.order_by("pk"),
            do,
            done=done,
            noun="feedback item",
            label=lambda f: f"#{f.pk}",
        )

    @admin.action(
        description=gettext_lazy("Resolve (the article was fixed)"), permissions=["change"]
    )
    def resolve(self, request: HttpRequest, queryset: QuerySet[KnowledgeArticleFeedback]) -> None:
        self._each(
            request,
            queryset,
            lambda f: services.feedback_resolve(feedback=f, actor=signed_in_user(request)),
            ngettext_lazy(
                "Resolved %(count)s feedback item.", "Resolved %(count)s feedback items.", "count"
            ),
        )

    @admin.action(description=gettext_lazy("Dismiss"), permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[KnowledgeArticleFeedback]) -> None:
        self._each(
            request,
            queryset,
            lambda f: services.feedback_resolve(
                feedback=f, actor=signed_in_user(request), status=FeedbackStatus.DISMISSED
            ),
            ngettext_lazy(
                "Dismissed %(count)s feedback item.", "Dismissed %(count)s feedback items.", "count"
            ),
        )

    @admin.action(description=gettext_lazy("Turn into a ticket"), permissions=["change"])
    def turn_into_ticket(
        self, request: HttpRequest, queryset: QuerySet[KnowledgeArticleFeedback]
    ) -> None:
        self._each(
            request,
            queryset,
            lambda f: services.feedback_create_ticket(feedback=f, actor=signed_in_user(request)),
            ngettext_lazy(
                "Turned into tickets: %(count)s feedback item.",
                "Turned into tickets: %(count)s feedback items.",
                "count",
            ),
        )


# --- Search history and reports -----------------------------------------------------------
# The two report filters below share a shape with each other and other apps' list filters:
# different lookups.
class ZeroResultsFilter(admin.SimpleListFilter):
    title = gettext_lazy("results")
    parameter_name = "results"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("none", gettext("Found nothing")), ("some", gettext("Found articles"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "none":
            return queryset.filter(results_count=0)
        if self.value() == "some":
            return queryset.filter(results_count__gt=0)
        return queryset


class ClickedFilter(admin.SimpleListFilter):
    title = gettext_lazy("click-through")
    parameter_name = "clicked"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", gettext("An article was opened")), ("no", gettext("Nothing was opened"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(~Q(clicked_article=None))
        if self.value() == "no":
            return queryset.filter(clicked_article=None)
        return queryset


@admin.register(KnowledgeSearchHistory)
class KnowledgeSearchHistoryAdmin(FastListAdmin, RolePermissionsMixin, admin.ModelAdmin):
    """Every search, newest first (read-only), and the report page: top queries,
    queries that found nothing, click-through. Paged by keys past the first pages, with
    capped counts (nixflow.toolkit.changelist)."""

    agent_actions = admin_actions = READ_ONLY
    list_display = (
        "created",
        "query",
        "results_count",
        "corrected_query",
        "user",
        "clicked_article",
    )
    list_select_related = ("user", "clicked_article")
    list_filter = (ZeroResultsFilter, ClickedFilter)
    search_fields = ("normalized_query",)
    search_help_text = gettext_lazy("Words of the query.")
    ordering = ("-created", "-id")
    # Along kb_search_created only: the other columns have no index.
    sortable_by = ("created",)
    change_list_template = "admin/knowledge/knowledgesearchhistory/change_list.html"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Every word inside the normalized (lower-case) query: kb_search_query_trgm.
        Words under three letters only narrow a search that has a longer one."""
        words = [word.lower() for word in search_words(search_term)]
        if not words:
            return queryset, False
        if not any(len(word) >= MIN_TEXT_WORD for word in words):
            return queryset.none(), False
        for word in words:
            queryset = queryset.filter(normalized_query__contains=word)
        return queryset, False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "report/",
                self.admin_site.admin_view(self.report_view),
                name="knowledge_knowledgesearchhistory_report",
            ),
            *super().get_urls(),
        ]

    def report_view(self, request: HttpRequest) -> HttpResponse:
        require_agent(signed_in_user(request), "read the search report")
        raw = request.GET.get("days", "30")
        days = int(raw) if raw.isdigit() and int(raw) in REPORT_DAYS else 30
        report = selectors.search_report(since=timezone.now() - timedelta(days=days))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Knowledge base searches"),
            "days": days,
            "day_choices": REPORT_DAYS,
            "report": report,
        }
        return TemplateResponse(
            request, "admin/knowledge/knowledgesearchhistory/report.html", context
        )


# --- For the ticket page ------------------------------------------------------------------
def ticket_suggestions_panel(request: HttpRequest, ticket: Any) -> SafeString:
    """Suggested articles for ``ticket`` as an HTML list, for the ticket's admin page.

    The core imports no feature app (it must stand without them): its ticket admin
    renders the panels apps register (``nixflow.toolkit.panels``), and
    ``KnowledgeConfig.ready`` registers this one. Titles are escaped by ``format_html``."""
    articles = suggestions.articles_suggested_for_ticket(ticket=ticket, user=request.user)
    if not articles:
        return format_html('<p class="help">{}</p>', gettext("No suggested articles."))
    items = format_html_join(
        "",
        '<li><a href="{}">{}</a>{}</li>',
        (
            (
                reverse("admin:knowledge_knowledgearticle_change", args=[article.pk]),
                article.title,
                gettext(" (helped with this ticket)") if getattr(article, "linked", False) else "",
            )
            for article in articles
        ),
    )
    return format_html('<ul class="kb-suggestions">{}</ul>', items)
