"""The portal's records in the admin: deflection attempts, read-only for agents and
admins (the desk's reports count them; nobody edits what a requester did)."""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin

from nixflow.models import Ticket
from nixflow.toolkit.admin import RecordAdmin
from portal.models import DeflectionAttempt


@admin.register(DeflectionAttempt)
class DeflectionAttemptAdmin(RecordAdmin):
    """ "New request" visits where articles were suggested, newest first: what was
    shown and opened, and the request filed from the page, if any."""

    ordering: ClassVar[tuple[str, ...]] = ("-id",)
    list_display = ("created", "requester", "subject", "shown_count", "first_opened_at", "filed")
    list_filter = (("first_opened_at", admin.EmptyFieldListFilter),)
    list_select_related = ("requester",)
    readonly_fields = (
        "token",
        "requester",
        "subject",
        "shown",
        "opened",
        "first_opened_at",
        "ticket",
        "created",
    )

    @admin.display(description="articles shown")
    def shown_count(self, attempt: DeflectionAttempt) -> int:
        return len(attempt.shown)

    @admin.display(description="request filed", ordering="ticket_id")
    def filed(self, attempt: DeflectionAttempt) -> str:
        return Ticket.key_for(attempt.ticket_id) if attempt.ticket_id else "—"
