from __future__ import annotations

import re
import uuid
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, pgettext_lazy

from eventlog.models import EventLog, OutboxMessage, Seal
from eventlog.selectors import event_subjects, event_types
from nixflow.toolkit.changelist import FastListAdmin

# The key a ticket's events carry (NF-12); the event log knows no Ticket model.
TICKET_KEY = re.compile(r"[A-Za-z]+-[1-9][0-9]{0,17}")
# A subject as the list shows it: app.model:id.
SUBJECT = re.compile(r"(?P<app>[a-z_][a-z0-9_]*)\.(?P<model>[a-z_][a-z0-9_]*):(?P<id>\S{1,64})")


class EventTypeFilter(admin.SimpleListFilter):
    title = pgettext_lazy("event", "type")
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(t, t) for t in event_types()]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(type=self.value()) if self.value() else queryset


class SubjectFilter(admin.SimpleListFilter):
    """What the events are about (nixflow.ticket, sla.slapolicy, ...): its choices by a
    loose index scan, its filter on eventlog_subject_id's leading columns."""

    title = pgettext_lazy("event", "subject")
    parameter_name = "subject"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(f"{app}.{model}", f"{app}.{model}") for app, model in event_subjects()]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        app, _, model = (self.value() or "").partition(".")
        if not (app and model):
            return queryset
        return queryset.filter(subject_app=app, subject_model=model)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible to staff, changeable by nobody: the database refuses it anyway."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(getattr(request.user, "is_agent", False))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(getattr(request.user, "is_agent", False))


@admin.register(EventLog)
class EventLogAdmin(FastListAdmin, ReadOnlyAdmin):
    """Newest first along the primary key, paged by keys past the first pages, counts
    estimated or capped (nixflow.toolkit.changelist); each search is one index."""

    list_display = ("id", "occurred_at", "type", "actor_shown", "subject", "ticket_key")
    # A requester's label is person:<id>; their current name comes from this join.
    list_select_related = ("actor",)
    list_filter = (EventTypeFilter, SubjectFilter)
    # Listed for the search box; get_search_results does the searching.
    search_fields = ("ticket_key",)
    search_help_text = gettext_lazy(
        "A ticket key (NF-12), a correlation id, a subject as listed (nixflow.ticket:12), "
        "or an actor's username (\"system\" for the system's events)."
    )
    sortable_by = ("id",)
    date_hierarchy = None
    list_per_page = 50
    readonly_fields = [f.name for f in EventLog._meta.fields if f.name != "row_hash"]
    exclude = ("row_hash",)

    @admin.display(description=pgettext_lazy("event", "actor"), ordering=None)
    def actor_shown(self, obj: EventLog) -> str:
        return obj.actor_name

    @admin.display(description=pgettext_lazy("event", "subject"))
    def subject(self, obj: EventLog) -> str:
        return f"{obj.subject_app}.{obj.subject_model}:{obj.subject_id}"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[EventLog], search_term: str
    ) -> tuple[QuerySet[EventLog], bool]:
        """Exact matches only, each on its index: ticket_key (eventlog_ticket_id),
        correlation_id (eventlog_correlation), the subject (eventlog_subject_id), the
        actor (eventlog_actor_id, through the user table's UPPER(username) index)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(**search_lookup(term)), False


def search_lookup(term: str) -> dict[str, Any]:
    """The one indexed lookup a search term of the event list means."""
    if TICKET_KEY.fullmatch(term):
        return {"ticket_key": term.upper()}
    try:
        return {"correlation_id": uuid.UUID(term)}
    except ValueError:
        pass
    subject = SUBJECT.fullmatch(term)
    if subject:
        return {
            "subject_app": subject["app"],
            "subject_model": subject["model"],
            "subject_id": subject["id"],
        }
    if term.lower() == "system":
        return {"actor__isnull": True}
    # The ids first (one query on the UPPER(username) index), so that the events are
    # an index scan of eventlog_actor_id rather than a join the planner may walk by id.
    users = get_user_model().objects.filter(username__iexact=term)
    return {"actor_id__in": list(users.values_list("pk", flat=True))}


@admin.register(Seal)
class SealAdmin(ReadOnlyAdmin):
    list_display = ("id", "first_event_id", "last_event_id", "event_count", "sealed_at")
    readonly_fields = ("first_event_id", "last_event_id", "event_count", "gaps", "sealed_at")
    exclude = ("digest", "previous_digest")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(FastListAdmin, ReadOnlyAdmin):
    """What waits for the broker (published_at empty) and what was published lately:
    the first place to look when mail is late (docs/operations.md, "Broker down").
    Newest first by id, paged by keys (nixflow.toolkit.changelist)."""

    list_display = ("id", "task", "key", "created_at", "attempts", "published_at")
    list_filter = (("published_at", admin.EmptyFieldListFilter), "task")
    # Listed for the search box; get_search_results does the searching.
    search_fields = ("key",)
    search_help_text = gettext_lazy("A message's key, or a correlation id.")
    ordering = ("-id",)
    sortable_by = ("id",)
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[OutboxMessage], search_term: str
    ) -> tuple[QuerySet[OutboxMessage], bool]:
        """The exact key (its unique index), or a correlation id (no index: published
        rows are pruned after a while, so the table stays small)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(correlation_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.filter(key=term), False
