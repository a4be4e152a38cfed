"""The desk's queues in the admin: the core's two ("My open tickets", "Unassigned") and
the ticket list's ``queue`` filter (TicketAdmin.list_filter), which shows the tickets of
any registered queue (nixflow.toolkit.queues). The desk itself is the admin's index page
(nixflow.admin_site.NixFlowAdminSite, admin/index.html)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from nixflow.models import DONE_CATEGORIES, Stage, Ticket, User
from nixflow.toolkit import queues
from nixflow.toolkit.auth import signed_in_user


# --- the core's queues ------------------------------------------------------------------
def open_tickets(queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Tickets not resolved or closed, by stage id: a handful of stages, so PostgreSQL
    gets the ids (and their statistics) instead of a join to the stage table."""
    open_stages = Stage.objects.exclude(category__in=DONE_CATEGORIES).values_list("pk", flat=True)
    return queryset.filter(stage_id__in=list(open_stages))


def my_open_tickets(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    # nf_ticket_assignee_created: the agent's tickets, newest first.
    return open_tickets(queryset.filter(assignee=user))


def unassigned_tickets(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    # nf_ticket_assignee_created holds the NULLs too (btree indexes do).
    return open_tickets(queryset.filter(assignee__isnull=True))


def register_core_queues() -> None:
    queues.register_queue(
        slug="mine",
        title="My open tickets",
        tickets=my_open_tickets,
        description="Assigned to you, not resolved or closed",
        order=10,
    )
    queues.register_queue(
        slug="unassigned",
        title="Unassigned",
        tickets=unassigned_tickets,
        description="Open tickets nobody has taken yet",
        order=20,
    )


class QueueFilter(admin.SimpleListFilter):
    """``?queue=<slug>``: the tickets of a registered queue, the very function the desk
    counts with. An unknown queue (a stale link) shows no tickets rather than all."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(q.slug, q.title) for q in queues.queues_for(signed_in_user(request))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        slug = self.value()
        if not slug:
            return queryset
        user = signed_in_user(request)
        queue = queues.get_queue(slug)
        if queue is None or not queue.visible(user):
            return queryset.none()
        return queue.tickets(queryset, user)


def queue_link(queue: queues.Queue, request: HttpRequest) -> str:
    """The queue's ticket list, sorted by the queue's ``sort`` column when the list shows
    that column to this user: the admin's ``o`` parameter is the column's position in
    the list (after the action checkbox), which changes as apps add columns."""
    if not queue.sort:
        return queue.url()
    name = queue.sort.removeprefix("-")
    ticket_admin = admin.site.get_model_admin(Ticket)
    columns = list(ticket_admin.get_list_display(request))
    if ticket_admin.get_actions(request):
        columns = ["action_checkbox", *columns]
    for position, column in enumerate(columns):
        if _column_name(column) == name:
            return queue.url(("o", f"{'-' if queue.sort.startswith('-') else ''}{position}"))
    return queue.url()


def _column_name(column: Any) -> str:
    """A list_display entry's name: the field or method name, or a registered column's
    (nixflow.toolkit.ticket_columns.ColumnCell)."""
    if isinstance(column, str):
        return column
    registered = getattr(column, "column", None)
    return str(getattr(registered, "name", None) or getattr(column, "__name__", ""))
