"""The desk's queues in the admin: the core's built-in views (My open tickets, Unassigned
in my teams, My teams' open tickets, Waiting on customer, Updated by the requester,
Unassigned) and the ticket list's ``queue`` filter (TicketAdmin.list_filter), which
shows the tickets of any registered queue (nixflow.toolkit.queues). The desk itself is
the admin's index page (nixflow.admin_site.NixFlowAdminSite, admin/index.html).

"My teams" is a subquery of the agent's memberships (``team_id IN (SELECT team_id FROM
nixflow_teammembership WHERE user_id = ...)``), not a list read first: a queue is one
query, so the desk costs one query per queue however many there are."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from nixflow.models import (
    DONE_CATEGORIES,
    Comment,
    Stage,
    StageCategory,
    Ticket,
    User,
)
from nixflow.toolkit import queues
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.queues import my_team_ids

if TYPE_CHECKING:
    # Types only: django-stubs-ext is a development dependency.
    from django_stubs_ext import StrOrPromise


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


def team_unassigned_tickets(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    # nf_ticket_team_created per team, or nf_ticket_assignee_created's NULLs: whichever
    # the planner finds fewer.
    return open_tickets(queryset.filter(assignee__isnull=True, team_id__in=my_team_ids(user)))


def team_open_tickets(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    # Assigned or not: the team's whole open work (nf_ticket_team_created).
    return open_tickets(queryset.filter(team_id__in=my_team_ids(user)))


def waiting_on_customer(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    """Mine, in a stage of category Waiting (on the requester or a third party)."""
    waiting = Stage.objects.filter(category=StageCategory.WAITING).values_list("pk", flat=True)
    return queryset.filter(assignee=user, stage_id__in=list(waiting))


def requester_replied(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    """Mine and open, and the latest public comment is the requester's: they wrote after
    whoever answered last (the agent, a colleague, a rule). A ticket with no public
    comment yet is not here: its description is not a reply.

    For each of the agent's open tickets (nf_ticket_assignee_created: a few hundred at
    most) one backward step on nf_comment_ticket (ticket, created): the newest public
    comment's author, compared with the requester. Its cost follows the agent's open
    tickets, not the two million comments."""
    latest_author = (
        Comment.objects.filter(ticket=OuterRef("pk"), is_internal=False)
        .order_by("-created", "-id")
        .values("author_id")[:1]
    )
    return my_open_tickets(queryset, user).filter(requester_id=Subquery(latest_author))


def register_core_queues() -> None:
    queues.register_queue(
        slug="mine",
        title=gettext_lazy("My open tickets"),
        tickets=my_open_tickets,
        description=gettext_lazy("Assigned to you, not resolved or closed"),
        order=10,
    )
    queues.register_queue(
        slug="team-unassigned",
        title=gettext_lazy("Unassigned in my teams"),
        tickets=team_unassigned_tickets,
        description=gettext_lazy("Open tickets of your teams nobody has taken yet"),
        order=12,
    )
    queues.register_queue(
        slug="team-open",
        title=gettext_lazy("My teams' open tickets"),
        tickets=team_open_tickets,
        description=gettext_lazy("Every open ticket of your teams"),
        order=14,
    )
    queues.register_queue(
        slug="waiting",
        title=gettext_lazy("Waiting on customer"),
        tickets=waiting_on_customer,
        description=gettext_lazy("Yours, waiting for the requester or a third party"),
        order=16,
    )
    queues.register_queue(
        slug="requester-replied",
        title=gettext_lazy("Updated by the requester"),
        tickets=requester_replied,
        description=gettext_lazy("Yours: the requester wrote since the last reply"),
        tone="warning",
        order=18,
    )
    queues.register_queue(
        slug="unassigned",
        title=gettext_lazy("Unassigned"),
        tickets=unassigned_tickets,
        description=gettext_lazy("Open tickets nobody has taken yet, in any team"),
        order=20,
    )


class QueueFilter(admin.SimpleListFilter):
    """``?queue=<slug>``: the tickets of a registered queue, the very function the desk
    counts with. An unknown queue (a stale link) shows no tickets rather than all."""

    title = gettext_lazy("queue")
    parameter_name = "queue"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, StrOrPromise]]:
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
