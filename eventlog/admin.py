from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from eventlog.models import EventLog, OutboxMessage, Seal
from eventlog.selectors import event_types


class EstimatedCountPaginator(Paginator):
    """The admin's paginator counts the whole table on every page; at millions of rows
    that costs more than the page. Unfiltered, use PostgreSQL's estimate instead."""

    object_list: QuerySet[EventLog]  # the admin's changelist always pages a queryset

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if query.where:
            return super().count
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [EventLog._meta.db_table],
            )
            row = cursor.fetchone()
        estimate = row[0] if row else -1
        return super().count if estimate < 10_000 else estimate


class EventTypeFilter(admin.SimpleListFilter):
    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(t, t) for t in event_types()]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(type=self.value()) if self.value() else queryset


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
class EventLogAdmin(ReadOnlyAdmin):
    list_display = ("id", "occurred_at", "type", "actor_label", "subject", "ticket_key")
    list_filter = (EventTypeFilter, "subject_app", "subject_model")
    search_fields = ("=ticket_key", "=subject_id", "=correlation_id", "=actor_label")
    date_hierarchy = None
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    readonly_fields = [f.name for f in EventLog._meta.fields if f.name != "row_hash"]
    exclude = ("row_hash",)

    @admin.display(description="subject")
    def subject(self, obj: EventLog) -> str:
        return f"{obj.subject_app}.{obj.subject_model}:{obj.subject_id}"


@admin.register(Seal)
class SealAdmin(ReadOnlyAdmin):
    list_display = ("id", "first_event_id", "last_event_id", "event_count", "sealed_at")
    readonly_fields = ("first_event_id", "last_event_id", "event_count", "gaps", "sealed_at")
    exclude = ("digest", "previous_digest")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    """What waits for the broker (published_at empty) and what was published lately:
    the first place to look when mail is late (docs/operations.md, "Broker down")."""

    list_display = ("id", "task", "key", "created_at", "attempts", "published_at")
    list_filter = (("published_at", admin.EmptyFieldListFilter), "task")
    search_fields = ("=key", "=correlation_id")
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    show_full_result_count = False
    list_per_page = 50
