"""Columns and list filters that feature apps add to the admin's ticket list.

The core imports no feature app (they build on it, never the other way round), yet the
list an agent works from wants what they know about each ticket: the SLA time left, say.
An app registers a column in its ``AppConfig.ready()``::

    register_ticket_column("sla", "SLA", sla_cells, ordering=F("sla_due_at").asc(nulls_last=True))

``render`` gets the request and the page's tickets (a list, at most a page long) and
returns safe HTML per ticket id: one query per column for the whole page, never one per
row, so the list's query count stays the same whatever its length. A ticket missing
from the answer gets an empty cell. ``ordering`` (optional) makes the header sortable:
an expression or field of the *ticket* (``Ticket.sla_due_at``, a core column kept by
the app), so the sort runs on an index of the ticket table, not across a join.

A column that fails is logged and its cells left empty: a broken column must not take
the desk's list down with it. The ticket admin places the registered columns where its
``list_display`` says ``FEATURE_COLUMNS``.

Filters: ``register_ticket_filter(parameter, title, choices, queryset)`` adds a sidebar
filter; the ticket admin lists ``registered_filter(parameter)``, which shows nothing
until an app registered that parameter (so the core names the place, the app fills it).
``ordering`` (optional, per choice) is the list's order while that choice is on and the
agent has not sorted by a column: overdue tickets most overdue first, along the index
that also finds them.

Titles and choice labels may be lazily translated strings (``gettext_lazy("SLA")``):
the list shows them in the viewer's language.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

if TYPE_CHECKING:
    # Types only: django-stubs-ext is a development dependency.
    from django_stubs_ext import StrOrPromise

    from nixflow.models import Ticket

logger = logging.getLogger(__name__)

FEATURE_COLUMNS = "__feature_columns__"

Cells = Callable[[HttpRequest, Sequence["Ticket"]], Mapping[int, SafeString]]
FilterQuery = Callable[["QuerySet[Ticket]", str], "QuerySet[Ticket]"]


@dataclass(frozen=True)
class TicketColumn:
    name: str
    title: StrOrPromise
    render: Cells
    ordering: Any | None
    order: int
    shown: Callable[[HttpRequest], bool] | None = None  # None: always


_columns: dict[str, TicketColumn] = {}


def register_ticket_column(
    name: str,
    title: StrOrPromise,
    render: Cells,
    *,
    ordering: Any | None = None,
    order: int = 100,
    shown: Callable[[HttpRequest], bool] | None = None,
) -> None:
    """Add (or replace, by name) a column of the admin's ticket list; ``shown`` (the
    request) says when it is there at all (a search's "Found": while searching)."""
    _columns[name] = TicketColumn(
        name=name, title=title, render=render, ordering=ordering, order=order, shown=shown
    )


def unregister_ticket_column(name: str) -> None:
    _columns.pop(name, None)


def ticket_columns() -> list[TicketColumn]:
    return sorted(_columns.values(), key=lambda c: (c.order, c.name))


# The attribute each page's rows carry their feature cells in (set by render_columns).
CELLS_ATTRIBUTE = "_nixflow_column_cells"


def render_columns(request: HttpRequest, tickets: Sequence[Ticket]) -> None:
    """Render every registered column for the page's ``tickets`` (one call each) and
    keep each ticket's cells on the ticket, where its ``ColumnCell``s read them."""
    cells: dict[int, dict[str, SafeString]] = {ticket.pk: {} for ticket in tickets}
    for column in ticket_columns():
        try:
            rendered = column.render(request, tickets) if tickets else {}
        except Exception:
            logger.exception("Ticket column %r failed", column.name)
            rendered = {}
        for pk, html in rendered.items():
            if pk in cells:
                cells[pk][column.name] = html
    for ticket in tickets:
        setattr(ticket, CELLS_ATTRIBUTE, cells[ticket.pk])


class ColumnCell:
    """A ``list_display`` entry for a registered column: the admin calls it per row and
    it returns what ``render_columns`` kept for that row."""

    def __init__(self, column: TicketColumn) -> None:
        self.column = column
        self.__name__ = f"column_{column.name}"
        # What the admin reads off a list_display callable (as @admin.display sets them).
        self.short_description = column.title
        if column.ordering is not None:
            self.admin_order_field = column.ordering

    def __call__(self, ticket: Ticket) -> SafeString | str:
        return getattr(ticket, CELLS_ATTRIBUTE, {}).get(self.column.name, "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColumnCell) and other.column.name == self.column.name

    def __hash__(self) -> int:
        return hash(("ColumnCell", self.column.name))


# --- filters ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TicketFilter:
    parameter: str
    title: StrOrPromise
    choices: Sequence[tuple[str, StrOrPromise]]
    queryset: FilterQuery
    ordering: Mapping[str, Any]


_filters: dict[str, TicketFilter] = {}


def register_ticket_filter(
    parameter: str,
    title: StrOrPromise,
    choices: Sequence[tuple[str, StrOrPromise]],
    queryset: FilterQuery,
    *,
    ordering: Mapping[str, Any] | None = None,
) -> None:
    """Add (or replace) the sidebar filter ``?<parameter>=<choice>`` of the ticket list:
    ``queryset(tickets, choice)`` narrows the tickets to the chosen value, ``ordering``
    maps a choice to the expression the list is sorted by first while it is chosen."""
    _filters[parameter] = TicketFilter(parameter, title, tuple(choices), queryset, ordering or {})


def filter_ordering(params: Mapping[str, str]) -> Any | None:
    """The first sort expression that the chosen registered filters ask for, if any."""
    for registered in _filters.values():
        value = params.get(registered.parameter)
        if value is not None and value in registered.ordering:
            return registered.ordering[value]
    return None


def unregister_ticket_filter(parameter: str) -> None:
    _filters.pop(parameter, None)


class RegisteredFilter(admin.SimpleListFilter):
    """A list filter whose title, choices and query an app registers (by parameter)."""

    title = ""
    parameter_name = ""

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        registered = _filters.get(self.parameter_name)
        if registered is not None:
            self.title = str(registered.title)  # in the viewer's language
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> Sequence[Any]:
        registered = _filters.get(self.parameter_name)
        return registered.choices if registered is not None else ()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        registered, value = _filters.get(self.parameter_name), self.value()
        if registered is None or value is None:
            return queryset
        return registered.queryset(queryset, value)


def registered_filter(parameter: str) -> type[RegisteredFilter]:
    """The list filter class for ``?<parameter>=``, for a ModelAdmin's ``list_filter``;
    it has no output until an app registers the parameter."""
    return type(
        f"RegisteredFilter_{parameter}",
        (RegisteredFilter,),
        {"parameter_name": parameter, "title": parameter},
    )
