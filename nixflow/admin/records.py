"""Read-only lists of what the desk recorded: comments and the ticket history."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy

from nixflow.models import (
    Comment,
    HistoryLog,
)
from nixflow.toolkit.admin import RecordAdmin
from nixflow.toolkit.changelist import FastListAdmin


# Both lists are newest first along the primary key, paged by keys past the first pages
# (nixflow.toolkit.changelist), found by ticket key on their (ticket, created) index, and
# sortable only along those two indexes: "created" has no index of its own.
@admin.register(Comment)
class CommentAdmin(FastListAdmin, RecordAdmin):
    list_display = ("id", "ticket_key", "author", "is_internal", "created", "excerpt")
    list_select_related = ("author",)
    list_filter = ("is_internal",)
    sortable_by = ("id", "ticket_key")
    # is_internal has no index: its count reads about cap / share-of-internal rows.
    count_cap = 1_000

    @admin.display(description=gettext_lazy("body"))
    def excerpt(self, comment: Comment) -> str:
        return comment.body if len(comment.body) <= 80 else comment.body[:79] + "…"


@admin.register(HistoryLog)
class HistoryLogAdmin(FastListAdmin, RecordAdmin):
    list_display = ("created", "ticket_key", "actor", "field", "old_value", "new_value")
    list_select_related = ("actor",)
    sortable_by = ("ticket_key",)
