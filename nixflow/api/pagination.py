"""How API lists are cut into pages.

Every list uses ``DefaultPagination`` (page numbers, settings ``DEFAULT_PAGINATION_CLASS``)
except the ticket list, which is the one list that grows without bound and uses
``TicketCursorPagination``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field, Model, Q, QuerySet
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

MAX_PAGE_SIZE = 200
# The largest page size read (18 digits); anything above MAX_PAGE_SIZE gives that.
MAX_READ = 10**18 - 1


class PageSizeMixin:
    """``?page_size=``: a whole number from 1; above the list's maximum, the maximum.

    DRF falls back to the default page size for anything it cannot read (``abc``,
    ``0``, ``null``), so a client's mistake went unnoticed and the schema could not say
    what the API takes. Here those are a 400 naming the parameter, and the schema says
    ``integer, minimum 1`` (and at most 18 digits). A number above the maximum is not an
    error: it is the way to ask for the largest pages, documented as capped.
    """

    page_size: int | None
    page_size_query_param: str | None = "page_size"
    max_page_size: int | None = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int | None:
        name = self.page_size_query_param
        raw = request.query_params.get(name) if name else None
        if name is None or raw is None:
            return self.page_size
        text = raw.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 18 and int(text) >= 1):
            raise ValidationError({name: ["Enter a whole number from 1."]})
        value = int(text)
        return min(value, self.max_page_size) if self.max_page_size else value

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)  # type: ignore[misc]
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                # Read up to 18 digits; more than the maximum is capped, not refused.
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_READ}
                parameter["description"] = (
                    f"Results per page, default {self.page_size}; "
                    f"more than {self.max_page_size} gives {self.max_page_size}."
                )
            elif parameter["name"] == "page":
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class DefaultPagination(PageSizeMixin, pagination.PageNumberPagination):
    """``?page=N&page_size=M`` (at most 200), with a total ``count``."""


class InvalidCursorError(ParseError):
    """A cursor the API did not write, or wrote for another ordering: bad input, 400,
    like any other malformed query parameter (DRF's own answer is a 404, which says
    "nothing there" about a request that named nothing)."""

    default_detail = "Invalid cursor"
    default_code = "invalid_cursor"


def _reverse(ordering: Sequence[str]) -> tuple[str, ...]:
    return tuple(term[1:] if term.startswith("-") else f"-{term}" for term in ordering)


class KeysetCursorPagination(PageSizeMixin, pagination.CursorPagination):
    """Cursor pagination whose cursor is the *whole* ordering key of a row.

    DRF's CursorPagination keeps only the first ordering column in the cursor and steps
    over ties with an offset capped at ``offset_cutoff`` (1000). That is fine for a
    timestamp, but ``ordering=priority`` has four distinct values: after 1000 tickets of
    one priority the offset stops growing and the pages repeat. Here the cursor holds
    every ordering value, the ordering always ends with a unique column (the view's
    ordering filter appends ``id``), and the next page is the rows strictly after that
    key: a keyset ("seek") condition that an index on the leading column can range-scan,
    whatever the depth of the page.
    """

    ordering: tuple[str, ...] = ("-created", "-id")

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        self.request = request
        self.page_size = self.get_page_size(request)
        if not self.page_size:
            return None
        self.base_url = request.build_absolute_uri()
        # DRF reads the view's filter backends with getattr, so no view is fine; the
        # stubs require one.
        self.ordering = self.get_ordering(request, queryset, view)  # type: ignore[arg-type]
        self.cursor = self.decode_cursor(request)
        reverse = bool(self.cursor and self.cursor.reverse)
        position = self._decode_position(queryset) if self.cursor else None

        ordering = _reverse(self.ordering) if reverse else self.ordering
        queryset = queryset.order_by(*ordering)
        if position is not None:
            queryset = queryset.filter(self._after(ordering, position))
        # One row more than the page tells whether another page follows, without a COUNT.
        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        if reverse:
            self.page.reverse()
        # Going forward, `more` means a next page; going back, a previous one. Having
        # come from a cursor means there is a page on the side we came from.
        self.has_next = position is not None if reverse else more
        self.has_previous = more if reverse else position is not None
        self._current = _cursor_position(self.cursor) if self.cursor else None
        self.display_page_controls = self.has_next or self.has_previous
        return self.page

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise InvalidCursorError from exc

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        position = self._position(self.page[-1]) if self.page else self._current
        cursor = pagination.Cursor(offset=0, reverse=False, position=position)  # type: ignore[arg-type]
        return self.encode_cursor(cursor)

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        position = self._position(self.page[0]) if self.page else self._current
        cursor = pagination.Cursor(offset=0, reverse=True, position=position)  # type: ignore[arg-type]
        return self.encode_cursor(cursor)

    # -- the cursor's position: the row's ordering values, as a JSON list of strings ----
    def _position(self, row: Model) -> str:
        values = [getattr(row, term.lstrip("-")) for term in self.ordering]
        return json.dumps(
            [v.isoformat() if isinstance(v, datetime) else str(v) for v in values],
            separators=(",", ":"),
        )

    def _decode_position(self, queryset: QuerySet[Any]) -> list[Any] | None:
        """The cursor's values, typed like their columns; 400 for a cursor that does not
        fit this ordering (forged, or carried over from another ``ordering``)."""
        assert self.cursor is not None  # noqa: S101 -- only called with a cursor
        position = _cursor_position(self.cursor)
        if position is None:
            return None
        try:
            texts = json.loads(position)
            if not isinstance(texts, list) or len(texts) != len(self.ordering):
                raise ValueError("wrong length")
            return [
                _typed(_field(queryset, term.lstrip("-")), text)
                for term, text in zip(self.ordering, texts, strict=True)
            ]
        except (ValueError, TypeError, OverflowError, DjangoValidationError) as exc:
            raise InvalidCursorError from exc

    @staticmethod
    def _after(ordering: Sequence[str], values: Sequence[Any]) -> Q:
        """Rows strictly after ``values`` in ``ordering``.

        The row comparison ``(a, b, c) < (x, y, z)`` spelled out column by column, as
        ``a < x OR (a = x AND (b < y OR ...))``, since the columns may sort in different
        directions. The redundant ``a <= x`` in front is what lets PostgreSQL turn the
        leading column into an index range instead of filtering an index scan from the top.
        """
        condition: Q | None = None
        for term, value in reversed(list(zip(ordering, values, strict=True))):
            name = term.lstrip("-")
            beyond = Q(**{f"{name}__{'lt' if term.startswith('-') else 'gt'}": value})
            condition = beyond if condition is None else beyond | (Q(**{name: value}) & condition)
        assert condition is not None  # noqa: S101 -- the ordering is never empty
        first = ordering[0]
        bound = Q(
            **{f"{first.lstrip('-')}__{'lte' if first.startswith('-') else 'gte'}": values[0]}
        )
        return bound & condition


def _cursor_position(cursor: pagination.Cursor) -> str | None:
    # The text of the cursor's "p" parameter, as DRF decodes it: here a JSON list.
    # djangorestframework-stubs declare Cursor.position an int, as DRF's own pages use it.
    return cast("str | None", cursor.position)


def _typed(field: Field[Any, Any], text: Any) -> Any:
    """A cursor value as its column's type, checked as the database would check it.

    Everything the database would refuse is refused here, as an invalid cursor: text
    with a NUL character, a number beyond the column's range, and a date-time whose UTC
    offset PostgreSQL does not accept (it takes up to ±15:59, ISO 8601 up to ±23:59),
    which is given in UTC instead (the same instant), or is invalid when it has no UTC
    form in Python's range.
    """
    if not isinstance(text, str) or "\x00" in text:
        raise ValueError("not a cursor value")
    value = field.to_python(text)
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    field.run_validators(value)
    return value


def _field(queryset: QuerySet[Any], name: str) -> Field[Any, Any]:
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        return annotation.output_field
    return queryset.model._meta.get_field(name)


class TicketCursorPagination(KeysetCursorPagination):
    """The ticket list: ``?page_size=`` (default 50, at most 200) and ``next``/``previous``
    cursor links, no ``count``.

    Why cursors here and page numbers elsewhere: a page-number page needs
    ``COUNT(*)`` over the whole filter and ``OFFSET n``, and at a million tickets a
    filter such as one stage matches hundreds of thousands of rows, so counting them
    costs more than fetching the page, and deep offsets read and discard every row
    before them. A cursor page is one index range scan of ``page_size + 1`` rows (see the
    ``(filter, -created)`` indexes on Ticket) whatever the size of the table: the
    benchmark requires ``?stage=…&ordering=-created&page_size=50`` at 1,000,000 tickets
    to cost at most 1.5 times the same request at 10,000.
    """

    page_size = 50
