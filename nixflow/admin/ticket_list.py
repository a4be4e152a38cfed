"""The ticket list as an agent reads it: which columns, how they look, how they sort.

``TicketListMixin`` (a base of ``TicketAdmin``) holds the list's columns; paging,
counts, search and filters stay in ``nixflow.admin.tickets`` and the toolkit's
changelist. The columns fit 1440 px without scrolling sideways (the title clamped to
two lines, the requester's name over their e-mail address) and stack into cards under
600 px (``nixflow/static/nixflow/admin/ticket_list.css``).

Feature apps add columns through ``nixflow.toolkit.ticket_columns`` (the SLA app its
"SLA" column): each renders once for the page, so the list costs the same queries for
10 rows as for 100.

Sorting a million rows is cheap only along an index, so only these columns sort:
- key: the primary key;
- priority: by rank (Urgent first), on ``nf_ticket_priority_rank`` (rank DESC, created
  DESC). The admin then appends the tie-break (``get_ordering``: -created, -pk; created,
  pk when reversed): the index gives rank and created, and only rows equal in both
  (none, in practice) are sorted further;
- updated (``updated_cell``): ``nf_ticket_updated``;
- a registered column's ``ordering``: a column of the ticket (the SLA's ``sla_due_at``
  on ``nf_ticket_sla_due_created``, most urgent first, tickets without a clock last).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from nixflow.admin.fields import custom_field_filters, field_ordering, uses_custom_fields
from nixflow.admin.tags import attach_tag_labels, tag_labels
from nixflow.models import Priority, Ticket, User, priority_rank
from nixflow.toolkit.formats import format_datetime_html
from nixflow.toolkit.ticket_columns import (
    ColumnCell,
    filter_ordering,
    render_columns,
    ticket_columns,
)

if TYPE_CHECKING:
    _Base = admin.ModelAdmin[Ticket]
else:
    _Base = object


def feature_columns(ticket: Ticket) -> str:
    """Where the columns feature apps register go in ``list_display``
    (``TicketListMixin.get_list_display`` replaces it with them)."""
    return ""


def person(user: User | None) -> str:
    """A person as agents know them: their full name, else their username."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


class TicketListMixin(_Base):
    list_display = (
        "key",
        "title_cell",
        "requester_cell",
        "stage_name",
        "priority_cell",
        "assignee_name",
        feature_columns,
        "updated_cell",
    )
    list_display_links = ("key", "title_cell")
    ordering = ("-created", "-pk")  # see get_ordering
    # See the module's docstring; registered columns with an ordering are added.
    sortable_by = ("key", "priority_cell", "updated_cell")

    def get_ordering(self, request: HttpRequest) -> tuple[Any, ...]:
        """The tie-break after the column sorted by: newest first, unless that column is
        sorted in reverse (``?o=-N``), then oldest first. The sort indexes end in
        (created DESC, id DESC); reversing the column without reversing the tie-break
        would leave PostgreSQL sorting whole groups of equal values (every ticket of a
        priority, every ticket without a clock) instead of walking the index backwards."""
        first = request.GET.get(ORDER_VAR, "").split(".")[0]
        if first.startswith("-"):
            return ("created", "pk")
        # Unsorted, a registered filter may ask for its own order (overdue: most overdue
        # first), or "sort by field" for a custom field's value (nixflow.admin.fields),
        # which then comes before the tie-break.
        chosen = None if first else (filter_ordering(request.GET) or field_ordering(request.GET))
        return ("-created", "-pk") if chosen is None else (chosen, "-created", "-pk")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        # The rank is selected so that sorting by it is a sort on a column of the row
        # (which keyset paging can continue from), still served by nf_ticket_priority_rank.
        queryset: QuerySet[Ticket] = super().get_queryset(request)
        return queryset.annotate(priority_rank=priority_rank())

    def get_list_filter(self, request: HttpRequest) -> Any:
        # A filter per custom field and the sort by one (nixflow.admin.fields), read once
        # a request: the desk asks again for every saved view it counts.
        fields = getattr(request, "_nixflow_field_filters", None)
        if (
            fields is None
            and request.resolver_match is None
            and not uses_custom_fields(request.GET)
        ):
            # A request built in code (the desk counting a saved view) that filters by
            # no custom field needs none of them: no query for each view.
            fields = []
        if fields is None:
            fields = custom_field_filters()
            setattr(request, "_nixflow_field_filters", fields)  # noqa: B010 -- not a field
        return [*super().get_list_filter(request), *fields]

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = [ColumnCell(c) for c in ticket_columns() if c.shown is None or c.shown(request)]
        shown: list[Any] = []
        for item in super().get_list_display(request):
            if item is feature_columns:
                shown.extend(columns)
            else:
                shown.append(item)
        return shown

    def get_sortable_by(self, request: HttpRequest) -> Any:
        sortable = list(super().get_sortable_by(request))
        return [*sortable, *(ColumnCell(c) for c in ticket_columns() if c.ordering is not None)]

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist: ChangeList = super().get_changelist_instance(request)
        render_columns(request, list(changelist.result_list))
        attach_tag_labels(list(changelist.result_list))  # under each title: one query
        return changelist

    # --- cells --------------------------------------------------------------------------
    @admin.display(description="key", ordering="id")
    def key(self, ticket: Ticket) -> str:
        return ticket.key

    @admin.display(description="title")
    def title_cell(self, ticket: Ticket) -> SafeString:
        # Clamped to two lines by the stylesheet; the whole title is the tooltip. The
        # ticket's tags follow as small labels (nixflow.admin.tags).
        return format_html(
            '<span class="nf-title" title="{}">{}</span>{}',
            ticket.title,
            ticket.title,
            tag_labels(ticket),
        )

    @admin.display(description="requester")
    def requester_cell(self, ticket: Ticket) -> SafeString:
        requester = ticket.requester
        return format_html(
            '<span class="nf-person">{}</span><span class="nf-email" title="{}">{}</span>',
            person(requester),
            requester.email,
            requester.email,
        )

    @admin.display(description="requester")
    def requester_card(self, ticket: Ticket) -> SafeString:
        """The ticket page's requester: name and address, linked to the person."""
        requester = ticket.requester
        return format_html(
            '<a href="{}">{}</a> &lt;{}&gt;',
            reverse("admin:nixflow_user_change", args=[requester.pk]),
            person(requester),
            requester.email or requester.get_username(),
        )

    @admin.display(description="stage")
    def stage_name(self, ticket: Ticket) -> str:
        return ticket.stage.name

    @admin.display(description="priority", ordering=F("priority_rank").desc())
    def priority_cell(self, ticket: Ticket) -> SafeString:
        return format_html(
            '<span class="nf-priority nf-priority-{}">{}</span>',
            ticket.priority.lower(),
            Priority(ticket.priority).label,
        )

    @admin.display(description="updated", ordering="updated")
    def updated_cell(self, ticket: Ticket) -> SafeString | str:
        return format_datetime_html(ticket.updated)

    @admin.display(description="assignee")
    def assignee_name(self, ticket: Ticket) -> str:
        return person(ticket.assignee)  # none: the admin's "-", as in every empty cell
