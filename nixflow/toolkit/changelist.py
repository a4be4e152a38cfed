"""A changelist that stays fast at millions of rows: ``FastListAdmin`` (one line in a
ModelAdmin's bases) and the ``FastChangeList`` it uses.

Django's changelist costs grow with the table, not with the page:

- every page runs ``SELECT COUNT(*)`` over the filtered rows (a full scan of an index or
  the table: 0.3-3 s at a million tickets);
- page *n* is ``OFFSET (n-1)*per_page``, which reads and throws away every row before
  it: the 5,000th page of the ticket list (OFFSET 499,900) took 5 s, the last 8.5 s;
- "Show counts" (facets) runs one more COUNT per choice of every filter;
- "Show all" renders every row when the count is under ``list_max_show_all``.

What this changelist does instead, and why:

**Paging.** The first ``max_numbered_pages`` pages (10) are numbered and use OFFSET,
which is bounded (at most 450 rows at 50 a page: an index walk of 500 entries, a few
milliseconds). Past them, and from any page, "Next" and "Previous" are *keyset*
links: ``?cursor=a.<token>`` carries the sort values of the page's last row, and the
next page is ``WHERE (created, id) < (:created, :id) ORDER BY created DESC, id DESC
LIMIT per_page+1``, an index range scan that costs the same on the first page and the
millionth. Measured with EXPLAIN ANALYZE on 1,000,000 tickets (vacuumed, both CPUs busy
with other work): OFFSET 499,950 along ``nf_ticket_created`` took 6.9 s (it fetches every
skipped row); a deferred join (``id IN (SELECT id ... OFFSET 499950 LIMIT 51)``) still
5.9 s, because that index holds ``created`` only, so the inner scan is no index-only
scan; the keyset page 7.7 ms, at any depth. Keyset paging needs the sort to be a list
of columns (or annotations) of the row itself, up to the primary key, which every sort
the large lists offer is; a sort that is not (an expression, a related model's column)
keeps the numbered pages and no "Next" past them: the list never links a page it cannot
serve fast, and refuses pages past ``max_numbered_pages`` as Django refuses an invalid
page (``?e=1``). Numbered pages stay for the first few because agents say "page 3".

**Counts.** Unfiltered, the count is PostgreSQL's own estimate (``pg_class.reltuples``,
kept by autovacuum and ANALYZE), shown as "about 1,000,000"; exact below ``count_cap``.
Filtered, the count is ``SELECT COUNT(*) FROM (... LIMIT count_cap+1)``, which stops
after ``count_cap`` rows: "10,000+" above it, exact below. Searched, the same with
``search_count_cap`` ("1,000+"): a common word's matches are checked row by row.

**Facets and "Show all".** Facets are off (``ShowFacets.NEVER``); "Show all" is offered
only when the exact count is at most ``list_max_show_all``.

The ``cursor`` parameter is not a filter: the changelist takes it out of the parameters
it filters by and of the links it builds (sorting, filtering or searching starts again
at the first page). Pages are lists, not querysets, so ``list_editable`` is not
supported by this changelist.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import operator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import reduce
from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, ChangeList
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, Field, IntegerField, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import OrderBy
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext

CURSOR_VAR = "cursor"
AFTER, BEFORE = "a", "b"


# --- Counts ------------------------------------------------------------------------------
class ResultCount(int):
    """A row count that may be an estimate ("about 1,000,000") or a lower bound
    ("10,000+"). An int, so that Django's templates and messages that count or
    pluralise keep working; its text says what kind of number it is."""

    kind: str = "exact"

    def __new__(cls, value: int, kind: str = "exact") -> ResultCount:
        count = super().__new__(cls, value)
        count.kind = kind
        return count

    @property
    def is_exact(self) -> bool:
        return self.kind == "exact"

    def __str__(self) -> str:
        number = f"{int(self):,}"
        if self.kind == "estimate":
            return gettext("about %(number)s") % {"number": number}
        if self.kind == "at_least":
            return f"{number}+"
        return number

    __repr__ = int.__repr__


def estimated_rows(model: type[Model], using: str = "default") -> int:
    """PostgreSQL's estimate of the table's rows (-1 when it has never been analyzed)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else -1


def count_rows(queryset: QuerySet[Any], *, cap: int, unfiltered: bool) -> ResultCount:
    """The rows of ``queryset``, never counted past ``cap``: the table's estimate when
    ``unfiltered`` (exact when the table is smaller than the cap), else a COUNT over a
    ``LIMIT cap+1`` subquery."""
    if unfiltered:
        estimate = estimated_rows(queryset.model, queryset.db)
        if estimate > cap:
            return ResultCount(_round_estimate(estimate), "estimate")
    # A sliced queryset counts as COUNT(*) FROM (SELECT ... LIMIT n): at most n rows
    # read. Without the list's ORDER BY: with it, the planner walks the order's index to
    # find n matches of a common word and reads far more rows (2 s instead of 0.1 s for
    # "printer" in a million tickets).
    counted = queryset.order_by()[: cap + 1].count()
    if counted > cap:
        return ResultCount(cap, "at_least")
    return ResultCount(counted)


class CappedCount(Subquery):
    """A list column's count of related rows that stops at ``cap + 1``: ``(SELECT
    COUNT(*) FROM (SELECT 1 ... WHERE fk = outer.pk LIMIT cap+1))``. Shown with
    ``capped_text``; a workflow with 750,000 tickets costs 10,001 index entries."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS capped)"
    output_field = IntegerField()

    def __init__(self, queryset: QuerySet[Any], field: str, *, cap: int) -> None:
        rows = queryset.filter(**{field: OuterRef("pk")}).order_by().values("pk")[: cap + 1]
        super().__init__(rows)


def capped_text(count: int, cap: int) -> str:
    """10001, 10000 → "10,000+"; 42 → "42"."""
    return f"{cap:,}+" if count > cap else f"{count:,}"


def _round_estimate(estimate: int) -> int:
    """Two significant digits: an estimate should not look exact (998,734)."""
    digits = len(str(estimate)) - 2
    return round(estimate, -digits) if digits > 0 else estimate


# --- Search ------------------------------------------------------------------------------
# Trigram indexes need three characters of a word; a shorter one would scan the table.
MIN_TEXT_WORD = 3


def search_words(term: str) -> list[str]:
    """The words of a search, "quoted phrases" kept whole, as Django's own search."""
    words = []
    for bit in smart_split(term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
            bit = unescape_string_literal(bit)  # noqa: PLW2901
        if bit.strip():
            words.append(bit.strip())
    return words


# --- Keyset paging -----------------------------------------------------------------------
@dataclass(frozen=True)
class KeyTerm:
    """One column of the list's sort: its name on the row, direction and nulls' place."""

    name: str
    descending: bool
    nulls_last: bool
    field: Field[Any, Any]

    @property
    def nulls_after(self) -> bool:
        """Whether NULLs (if the column has any) come after every value."""
        return self.nulls_last and self.field.null

    def reversed(self) -> KeyTerm:
        return KeyTerm(self.name, not self.descending, not self.nulls_last, self.field)

    def after(self, value: Any) -> Q | None:
        """Rows strictly after ``value`` in this term's order (None: no row is)."""
        if value is None:
            return None if self.nulls_last else Q(**{f"{self.name}__isnull": False})
        beyond = Q(**{f"{self.name}__{'lt' if self.descending else 'gt'}": value})
        return beyond | Q(**{f"{self.name}__isnull": True}) if self.nulls_after else beyond

    def equal(self, value: Any) -> Q:
        if value is None:
            return Q(**{f"{self.name}__isnull": True})
        return Q(**{self.name: value})

    def range_start(self, value: Any) -> Q | None:
        """A redundant bound (``created <= :v``) that the index can start its scan at;
        None where the rows after ``value`` also include NULLs."""
        if value is None or self.nulls_after:
            return None
        return Q(**{f"{self.name}__{'lte' if self.descending else 'gte'}": value})


def keyset_terms(queryset: QuerySet[Any]) -> list[KeyTerm] | None:
    """The sort of ``queryset`` as key terms, or None when it cannot be paged by keys:
    a term that is an expression or a related model's column, or no unique last term.
    """
    terms = []
    pk = queryset.model._meta.pk
    for item in queryset.query.order_by:
        term = _key_term(queryset, item)
        if term is None:
            return None
        terms.append(term)
        if term.field is pk:  # unique: whatever follows it never decides the order
            return terms
    return None


def _key_term(queryset: QuerySet[Any], item: str | OrderBy | Any) -> KeyTerm | None:
    if isinstance(item, str):
        descending = item.startswith("-")
        name = item.lstrip("-")
        nulls_last = not descending  # PostgreSQL: NULLs sort as the largest value
    elif isinstance(item, OrderBy) and isinstance(item.expression, F):
        descending, name = item.descending, item.expression.name
        nulls_last = bool(item.nulls_last) or (not descending and not item.nulls_first)
    else:
        return None
    field = _term_field(queryset, name)
    if field is None:
        return None
    return KeyTerm(field.name if field.primary_key else name, descending, nulls_last, field)


def _term_field(queryset: QuerySet[Any], name: str) -> Field[Any, Any] | None:
    opts = queryset.model._meta
    if name == "pk":
        return opts.pk
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        return annotation.output_field
    try:
        field = opts.get_field(name)
    except FieldDoesNotExist:
        return None
    if field.many_to_one and name == field.attname:  # "ticket_id": the key's own column
        return field.target_field
    return field if getattr(field, "concrete", False) and not field.is_relation else None


def row_key(terms: list[KeyTerm], row: Model) -> list[Any]:
    return [getattr(row, term.name) for term in terms]


def encode_cursor(direction: str, values: list[Any]) -> str:
    data = json.dumps([_jsonable(value) for value in values], separators=(",", ":"))
    return f"{direction}.{base64.urlsafe_b64encode(data.encode()).decode().rstrip('=')}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def decode_cursor(token: str, terms: list[KeyTerm]) -> tuple[str, list[Any]]:
    """(direction, values) from a cursor; IncorrectLookupParameters for anything that
    is not a cursor of this sort (Django then shows the list's first page, ``?e=1``)."""
    direction, _, data = token.partition(".")
    try:
        raw = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        if direction not in (AFTER, BEFORE) or len(raw) != len(terms):
            raise ValueError(token)
        values = [
            None if value is None else term.field.to_python(value)
            for term, value in zip(terms, raw, strict=True)
        ]
    except (ValueError, TypeError, ValidationError, binascii.Error) as error:
        raise IncorrectLookupParameters(f"Not a cursor of this list: {token!r}") from error
    return direction, values


def keyset_filter(terms: list[KeyTerm], values: list[Any]) -> Q:
    """Rows after ``values`` in the order of ``terms``: (a > x) OR (a = x AND b > y)..."""
    branches = []
    equal_so_far = Q()
    for term, value in zip(terms, values, strict=True):
        after = term.after(value)
        if after is not None:
            branches.append(equal_so_far & after)
        equal_so_far &= term.equal(value)
    # The last term is the primary key, never NULL: there is always a branch.
    after_any = reduce(operator.or_, branches)
    start = terms[0].range_start(values[0])
    return after_any if start is None else start & after_any


# --- The changelist ----------------------------------------------------------------------
@dataclass(frozen=True)
class PageLink:
    label: str
    url: str | None  # None: the current page, or a gap
    rel: str = ""


class FastChangeList(ChangeList):
    """See the module docstring. Sets, besides Django's attributes, ``page_links`` (what
    the pagination template renders) and ``count_text``."""

    model_admin: FastListAdmin

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.cursor = request.GET.get(CURSOR_VAR, "")
        super().__init__(request, *args, **kwargs)

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        # Not a filter, and not carried into the links of sorting, filters and search.
        self.params.pop(CURSOR_VAR, None)
        self.filter_params.pop(CURSOR_VAR, None)
        return super().get_queryset(request, exclude_parameters)

    def get_results(self, request: HttpRequest) -> None:
        admin_ = self.model_admin
        per_page = self.list_per_page
        unfiltered = not self.queryset.query.where and not self.query
        cap = admin_.search_count_cap if self.query else admin_.count_cap
        count = count_rows(self.queryset, cap=cap, unfiltered=unfiltered)
        self.terms = keyset_terms(self.queryset)
        self.result_count = count
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = True
        self.can_show_all = count.is_exact and count <= self.list_max_show_all
        self.multi_page = count > per_page
        if self.show_all and self.can_show_all:
            rows, self.has_next, self.has_previous = list(self.queryset), False, False
        elif self.cursor and self.terms is not None:
            rows = self._keyset_page(self.terms)
        else:
            rows = self._numbered_page()
        self.result_list = rows
        # Django's pagination tag asks the paginator for its page range: the numbered
        # pages only, counted from a range rather than the database.
        numbered = min(math.ceil(count / per_page), admin_.max_numbered_pages) * per_page
        self.paginator = Paginator(range(numbered), per_page)
        self.page_links = self._page_links(rows)
        self.count_text = f"{count} {self._noun(count)}"

    def _numbered_page(self) -> list[Any]:
        if not 1 <= self.page_num <= self.model_admin.max_numbered_pages:
            raise IncorrectLookupParameters(f"Page {self.page_num} is not offered.")
        start = (self.page_num - 1) * self.list_per_page
        rows = list(self.queryset[start : start + self.list_per_page + 1])
        if not rows and self.page_num > 1:
            raise IncorrectLookupParameters(f"Page {self.page_num} is empty.")
        self.has_next = len(rows) > self.list_per_page
        self.has_previous = self.page_num > 1
        self.page_num_shown: int | None = self.page_num
        return rows[: self.list_per_page]

    def _keyset_page(self, key: list[KeyTerm]) -> list[Any]:
        direction, values = decode_cursor(self.cursor, key)
        terms = key if direction == AFTER else [term.reversed() for term in key]
        queryset = self.queryset.filter(keyset_filter(terms, values))
        if direction == BEFORE:
            queryset = queryset.reverse()
        rows = list(queryset[: self.list_per_page + 1])
        more = len(rows) > self.list_per_page
        rows = rows[: self.list_per_page]
        if direction == BEFORE and not more:
            # Back at the top: the first page as it is numbered, full.
            self.page_num = 1
            return self._numbered_page()
        self.page_num_shown = None
        if direction == AFTER:
            self.has_next, self.has_previous = more, True
            return rows
        self.has_next, self.has_previous = True, True
        return rows[::-1]

    def _page_links(self, rows: list[Any]) -> list[PageLink]:
        if not (self.has_next or self.has_previous):
            return []
        links = []
        if self.has_previous:
            links.append(PageLink(gettext("\u2039 Previous"), self._previous_url(rows), "prev"))
        numbered = self.paginator.num_pages
        for number in range(1, numbered + 1):
            current = number == self.page_num_shown
            url = None if current else self.get_query_string({PAGE_VAR: number})
            links.append(PageLink(str(number), url))
        if self.page_num_shown is None:
            links.append(PageLink("…", None))
        next_url = self._next_url(rows)
        if next_url:
            links.append(PageLink(gettext("Next \u203a"), next_url, "next"))
        return links

    def _previous_url(self, rows: list[Any]) -> str:
        shown = self.page_num_shown
        if shown is not None or self.terms is None or not rows:
            return self.get_query_string({PAGE_VAR: max((shown or 2) - 1, 1)})
        token = encode_cursor(BEFORE, row_key(self.terms, rows[0]))
        return self.get_query_string({CURSOR_VAR: token})

    def _next_url(self, rows: list[Any]) -> str | None:
        if not self.has_next:
            return None
        shown = self.page_num_shown
        if shown is not None and shown < self.model_admin.max_numbered_pages:
            return self.get_query_string({PAGE_VAR: shown + 1})
        if self.terms is None:
            return None  # no page past the numbered ones can be served fast
        token = encode_cursor(AFTER, row_key(self.terms, rows[-1]))
        return self.get_query_string({CURSOR_VAR: token})

    def _noun(self, count: int) -> str:
        return str(self.opts.verbose_name if count == 1 else self.opts.verbose_name_plural)


class FastListAdmin(admin.ModelAdmin):
    """Put first among a ModelAdmin's bases: ``class EventAdmin(FastListAdmin, ...)``.

    Sort only along indexes (``ordering``, ``sortable_by``) and make the search use
    them (``get_search_results``): this class bounds what the changelist itself costs.
    """

    # Rendering a row costs more than reading it (the admin renders every cell through
    # templates): 50 rows keep a page's rendering well under its budget.
    list_per_page = 50
    list_max_show_all = 200
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # Filtered counts stop here ("10,000+"); unfiltered ones are estimated above it.
    count_cap: ClassVar[int] = 10_000
    # A search's count stops sooner ("1,000+"): matching a common word reads the rows
    # themselves (a trigram index finds candidates, each is then checked), about 8 rows
    # per match of a word in one ticket of eight.
    search_count_cap: ClassVar[int] = 1_000
    # The annotation a ranking search sets on its results (get_search_results), by which
    # the list is ordered, best first, until a column is chosen; None: no ranking.
    search_rank: ClassVar[str | None] = None
    # Pages reached by number (OFFSET at most (n-1)*list_per_page); further by cursor.
    max_numbered_pages: ClassVar[int] = 10

    class Media:
        css = {"all": ("nixflow/admin/changelist.css",)}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return FastChangeList

    def rank_first(self, request: HttpRequest, results: QuerySet[Any]) -> QuerySet[Any]:
        """A ranking search's ``results`` (get_search_results) best first, while no
        column was chosen: the list's order (set before the search, by Django) after the
        ``search_rank`` annotation, so that keyset pages follow the rank too."""
        rank = self.search_rank
        if not rank or ORDER_VAR in request.GET or rank not in results.query.annotations:
            return results
        return results.order_by(f"-{rank}", *results.query.order_by)

    def action_checkbox(self, obj: Any) -> SafeString:
        """Django's checkbox, written directly: rendering it through the form widget's
        templates took a third of a ticket page's time."""
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            obj.pk,
            label,
        )
