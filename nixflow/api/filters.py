"""Query-string filters and ordering of the ticket list."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal, TypeVar, cast

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import IsNull
from django.http import QueryDict
from django_filters.widgets import QueryArrayWidget
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.views import APIView

from nixflow.admin.fields import field_sort_value
from nixflow.api.permissions import is_agent
from nixflow.fields import value_parse
from nixflow.models import (
    FieldType,
    Priority,
    Source,
    StageCategory,
    Ticket,
    TicketField,
    TicketQuerySet,
)
from nixflow.search import search_tickets
from nixflow.selectors import tickets_tagged
from nixflow.toolkit.filters import UTCDateTimeFilter

# Primary keys are bigints: a larger number is bad input (400), not a database error.
MAX_ID = 2**63 - 1

_M = TypeVar("_M", bound=Model)
_Row = TypeVar("_Row")


class IdField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class IdListField(forms.Field):
    """Ids as ``?f=1,2``, ``?f=1&f=2`` or ``?f[]=1&f[]=2``."""

    widget = QueryArrayWidget

    def to_python(self, value: list[str] | None) -> list[int]:
        # The widget splits commas only outside a QueryDict, so split them here too.
        one = IdField()
        items = (part for item in value or () for part in item.split(",") if part.strip())
        return sorted({one.clean(part) for part in items})


class AssigneeField(forms.Field):
    """A user id, or ``none`` for unassigned tickets."""

    def to_python(self, value: str | None) -> int | Literal["none"] | None:
        if value is None or value == "":
            return None
        if value.strip().lower() == "none":
            return "none"
        return IdField().clean(value)


ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# A ticket key as the filters and fields that take one read it: in any case. Written out
# rather than with an inline flag, which JSON Schema's (ECMA 262) patterns do not have.
TICKET_KEY_ANY_CASE = r"^[Nn][Ff]-[1-9][0-9]{0,17}$"


@extend_schema_field(ID_SCHEMA)
class IdFilter(django_filters.Filter):
    field_class = IdField


@extend_schema_field({"type": "array", "items": ID_SCHEMA})
class IdInFilter(django_filters.Filter):
    field_class = IdListField

    def filter(self, qs: TicketQuerySet, value: list[int]) -> TicketQuerySet:
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__in": value})


@extend_schema_field({"type": "string", "pattern": "^([1-9][0-9]*|none)$"})
class AssigneeFilter(django_filters.Filter):
    field_class = AssigneeField

    def filter(self, qs: TicketQuerySet, value: int | Literal["none"] | None) -> TicketQuerySet:
        if value is None:
            return qs
        if value == "none":
            return qs.filter(assignee__isnull=True)
        return qs.filter(assignee_id=value)


class TicketFilter(django_filters.FilterSet):
    stage = IdInFilter(
        label="Stage ids: `stage=3`, `stage=3,4` or `stage=3&stage=4`.",
    )
    stage_category = django_filters.ChoiceFilter(
        field_name="stage__category", choices=StageCategory.choices, label="Stage category."
    )
    priority = django_filters.ChoiceFilter(choices=Priority.choices, label="Priority.")
    assignee = AssigneeFilter(label="Assignee's user id, or `none` for unassigned tickets.")
    requester = IdFilter(field_name="requester_id", label="Requester's user id.")
    workflow = IdFilter(field_name="workflow_id", label="Workflow id.")
    team = IdFilter(field_name="team_id", label="Team id (nf_ticket_team_created serves it).")
    source = django_filters.ChoiceFilter(choices=Source.choices, label="Where it came from.")
    tag = django_filters.CharFilter(
        method="filter_tag", label="A tag's name (any case): the tickets that have it."
    )
    created_after = UTCDateTimeFilter(
        field_name="created", lookup_expr="gte", label="Created at or after (ISO 8601)."
    )
    created_before = UTCDateTimeFilter(
        field_name="created", lookup_expr="lt", label="Created before (ISO 8601)."
    )
    search = django_filters.CharFilter(
        method="filter_search",
        label="Full-text search of the conversation (docs/search.md): words (all "
        'required), `"a phrase"`, `prefix*`, `-excluded`, `a or b`; or a ticket key '
        "(`NF-12`), or a requester's username, e-mail or name. Agents search the key, "
        "title, description and every comment; requesters their tickets' public "
        "conversation. Best match first unless `ordering` is given; the newest 500 "
        "matches are listed.",
    )

    class Meta:
        model = Ticket
        fields: list[str] = []

    def filter_queryset(self, queryset: TicketQuerySet) -> TicketQuerySet:
        queryset = super().filter_queryset(queryset)
        user = getattr(self.request, "user", None)
        return filter_custom_fields(queryset, self.data, agent=is_agent(user))

    def filter_tag(self, queryset: TicketQuerySet, name: str, value: str) -> TicketQuerySet:
        return tickets_tagged(queryset, value)

    def filter_search(self, queryset: TicketQuerySet, name: str, value: str) -> TicketQuerySet:
        """The admin's search (nixflow.admin.ticket_search), public text only for
        requesters; annotates ``search_rank``, which the ordering sorts by."""
        if not value.strip():
            return queryset
        internal = is_agent(getattr(self.request, "user", None))
        return cast(TicketQuerySet, search_tickets(queryset, value, internal=internal))


class TicketOrderingFilter(OrderingFilter):
    """``?ordering=`` over ``created``, ``updated``, ``priority``, ``key`` and (agents)
    ``field.<name>``, ``-`` for descending, comma-separated for several; default
    ``-created``.

    With ``?search=`` and no ``ordering``, the best match comes first (``search_rank``,
    which the search annotates, then newest first).

    ``priority`` sorts by rank (LOW < NORMAL < HIGH < URGENT), not alphabetically: it maps
    to the ``priority_rank`` annotation. The ordering always ends with ``id`` so that it is
    total, which the cursor pagination needs (its cursor is the row's ordering key).
    Unknown names are ignored, as DRF's OrderingFilter does, except ``field.<name>`` with
    a name no custom field has: a 400 under ``ordering``.

    ``field.<name>`` sorts by a custom field's value as the admin's "sort by field" does
    (``nixflow.admin.fields.field_sort_value``), tickets without a value last in both
    directions. It is two annotated terms, so that the cursor's keyset comparison never
    meets a NULL: ``field_empty_<i>`` (false first, whatever the direction) and
    ``field_value_<i>``, the value with a stand-in of its type where there is none (the
    stand-ins all sort together behind the flag, and ``created``/``id`` break their ties).
    """

    fields = {"created": "created", "updated": "updated", "priority": "priority_rank", "key": "id"}

    def get_ordering(self, request: Request, queryset: Any, view: APIView) -> list[str]:
        terms: list[str] = []
        custom = self._custom_fields(request)
        for raw in request.query_params.get(self.ordering_param, "").split(","):
            term = raw.strip()
            bare = term.removeprefix("-")
            if bare.startswith(FIELD_PREFIX):
                index = list(custom).index(bare.removeprefix(FIELD_PREFIX))
                if f"field_empty_{index}" not in terms:
                    terms.append(f"field_empty_{index}")
                    terms.append(
                        f"-field_value_{index}" if term.startswith("-") else f"field_value_{index}"
                    )
                continue
            name = self.fields.get(bare)
            if name and name not in {t.lstrip("-") for t in terms}:
                terms.append(f"-{name}" if term.startswith("-") else name)
        if not terms and request.query_params.get("search", "").strip():
            terms.append("-search_rank")
        named = {t.lstrip("-"): t for t in terms}
        if "id" not in named:
            if "created" not in named:
                terms.append("-created")
            terms.append("id" if named.get("created") == "created" else "-id")
        return terms

    def _custom_fields(self, request: Request) -> dict[str, TicketField]:
        """The custom fields ``ordering`` names, in order of first mention (their index
        names their annotations); read once a request (the pagination asks again)."""
        cached = getattr(request, "_nixflow_order_fields", None)
        if cached is not None:
            return cast("dict[str, TicketField]", cached)
        names: list[str] = []
        for raw in request.query_params.get(self.ordering_param, "").split(","):
            bare = raw.strip().removeprefix("-")
            if bare.startswith(FIELD_PREFIX) and bare.removeprefix(FIELD_PREFIX) not in names:
                names.append(bare.removeprefix(FIELD_PREFIX))
        fields: dict[str, TicketField] = {}
        if names:
            if not is_agent(getattr(request, "user", None)):
                raise exceptions.PermissionDenied("Only agents can sort by custom fields.")
            found = {f.name: f for f in TicketField.objects.filter(name__in=names)}
            unknown = [name for name in names if name not in found]
            if unknown:
                raise exceptions.ValidationError(
                    {
                        self.ordering_param: [
                            f"No custom field is named {name!r}; /api/fields/ lists them."
                            for name in unknown
                        ]
                    }
                )
            fields = {name: found[name] for name in names}
        setattr(request, "_nixflow_order_fields", fields)  # noqa: B010 -- not a field
        return fields

    def get_valid_fields(
        self, queryset: Any, view: APIView, context: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        # The names a client sends (the browsable API's ordering menu lists these).
        return [(name, name) for name in self.fields]

    def filter_queryset(
        self, request: Request, queryset: QuerySet[_M, _Row], view: APIView
    ) -> QuerySet[_M, _Row]:
        ordering = self.get_ordering(request, queryset, view)
        if any(term.lstrip("-") == "priority_rank" for term in ordering):
            # Only the ticket list uses this backend, so the queryset is a TicketQuerySet.
            ranked = cast(TicketQuerySet, queryset).with_priority_rank()
            queryset = cast("QuerySet[_M, _Row]", ranked)
        for index, field in enumerate(self._custom_fields(request).values()):
            value = field_sort_value(field)
            queryset = queryset.annotate(
                **{
                    f"field_empty_{index}": IsNull(value, True),
                    f"field_value_{index}": Coalesce(value, _stand_in(field)),
                }
            )
        return queryset.order_by(*ordering)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        names = ", ".join(f"`{name}`" for name in self.fields)
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": f"Sort by {names}; `-` in front for descending, several "
                "comma-separated. Default `-created`. `priority` sorts by rank, LOW to "
                "URGENT. Agents also sort by a custom field (/api/fields/), "
                "`field.<name>` or `-field.<name>`: numbers and decimals as numbers, "
                "dates as dates, a checkbox false before true, other fields as text; "
                "tickets without a value come last in both directions. A name no field "
                "has is a 400 under `ordering`; requesters get 403.",
                "schema": {"type": "string"},
            }
        ]


# What a ticket without a value sorts as, behind the "empty" flag: any value of the type.
_STAND_INS: dict[str, Any] = {
    FieldType.NUMBER: 0,
    FieldType.USER: 0,
    FieldType.DECIMAL: Decimal(0),
    FieldType.DATE: datetime.date(2000, 1, 1),
    FieldType.CHECKBOX: False,
}


def _stand_in(field: TicketField) -> Value:
    value = field_sort_value(field)
    return Value(_STAND_INS.get(field.type, ""), output_field=value.output_field)


# --- Custom fields: ?field.<name>=<value> --------------------------------------------------
FIELD_PREFIX = "field."


def filter_custom_fields(
    queryset: TicketQuerySet, params: QueryDict, *, agent: bool
) -> TicketQuerySet:
    """The tickets whose custom fields hold every ``field.<name>=<value>`` of ``params``.

    Each value is read as its field's type (``nixflow.fields.value_parse``) into the
    form the services store, and all of them become one containment test,
    ``custom_fields @> {"name": value, ...}``, which the ``nf_ticket_custom_fields``
    GIN index (jsonb_path_ops) serves whatever the fields. A name given twice with two
    values of a single-valued field asks for both, so nothing matches; a multiple choice
    field's choices add up (tickets holding all of them). An empty value is no filter,
    as for the other parameters. Only agents: requesters never see the values.
    """
    keys = [key for key in params if key.startswith(FIELD_PREFIX)]
    if not keys:
        return queryset
    if not agent:
        raise exceptions.PermissionDenied("Only agents can filter by custom fields.")
    names = {key: key.removeprefix(FIELD_PREFIX) for key in keys}
    fields = {f.name: f for f in TicketField.objects.filter(name__in=names.values())}
    errors: dict[str, list[str]] = {}
    values: list[tuple[str, Any]] = []
    for key, name in names.items():
        field = fields.get(name)
        if field is None:
            errors[key] = [f"No custom field is named {name!r}; /api/fields/ lists them."]
            continue
        try:
            values += [(name, value_parse(field, t)) for t in params.getlist(key) if t.strip()]
        except ValidationError as error:
            errors[key] = error.messages
    if errors:
        raise exceptions.ValidationError(errors)
    for document in _containment(values):
        queryset = queryset.filter(custom_fields__contains=document)
    return queryset


def _containment(values: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The documents that tickets must contain: one, unless a single-valued field was
    given two values (then a second for the other, which no ticket can hold too)."""
    wanted: dict[str, Any] = {}
    also: list[dict[str, Any]] = []
    for name, value in values:
        if name not in wanted:
            wanted[name] = value
        elif isinstance(value, list):
            wanted[name] = sorted({*wanted[name], *value})
        elif wanted[name] != value:
            also.append({name: value})
    return [wanted, *also] if wanted else []
