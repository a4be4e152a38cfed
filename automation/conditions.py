"""A rule's conditions: their shapes, their validation, and their two evaluations.

A condition is ``{"field": ..., "op": ..., "value": ...}``. ``field`` is a built-in
field (``FIELDS``), a custom field as ``"field.<name>"``, ``"text"`` (title, description
and, for comment and mail triggers, the new comment's body), ``"comment"`` (the new
comment's body alone) or ``"business_hours"`` (whether the event happened in the working
hours of the rule's calendar). ``op`` is one of ``OPS``; ``value`` depends on both.

The same condition is evaluated two ways, which must agree:

- ``conditions_match`` in Python, on a ticket in memory: what the engine does for every
  event, where a query per rule would make 100 rules cost 100 queries;
- ``conditions_q`` as a ``Q`` over ``Ticket``: what the dry run and the time rules' scan
  use to find matching tickets among millions in one query. It is None when a condition
  has no SQL form (business hours, the comment of an event): callers then narrow with
  the other conditions and check each ticket with ``conditions_match``.

Text comparisons ignore case (``UPPER`` on both sides, in Python and in SQL); tags are
compared regardless of case as tags are unique regardless of case.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Exists,
    FloatField,
    Func,
    JSONField,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.fields.json import KT, KeyTransform
from django.db.models.functions import Cast, Collate
from django.db.models.lookups import Exact, GreaterThan, IContains, IExact, LessThan, Regex
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from nixflow.models import (
    Priority,
    Source,
    Stage,
    StageCategory,
    Team,
    Ticket,
    TicketField,
    User,
    Workflow,
)
from nixflow.models.fields import FieldType

OPS = (
    "is",
    "is_not",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "is_empty",
    "is_not_empty",
    "gt",
    "lt",
)
NEGATED = {"is_not": "is", "not_in": "in", "not_contains": "contains", "is_not_empty": "is_empty"}
_EQUALITY = ("is", "is_not", "in", "not_in")
_EMPTINESS = ("is_empty", "is_not_empty")
_CONTAINS = ("contains", "not_contains")
_ORDER = ("gt", "lt")
CUSTOM_PREFIX = "field."
# Triggers whose event brings a comment (its body is what "comment" and "text" read).
COMMENT_TRIGGERS = frozenset({"requester_commented", "agent_commented", "mail_received"})


@dataclass
class Context:
    """What a rule is evaluated against besides the ticket: the event's time (business
    hours are read at it), the trigger, the new comment's body for comment and mail
    triggers, and the event itself (type, id, payload) for actions that name it.
    ``at`` None reads as now (a dry run, a time rule's scan)."""

    at: datetime.datetime | None = None
    trigger: str = ""
    comment: str | None = None
    event_type: str = ""
    event_id: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    # Values read once per evaluation, whichever rules need them (tags, the domain).
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def when(self) -> datetime.datetime:
        return self.at or timezone.now()


# --- The fields ---------------------------------------------------------------------
# kind: how values are compared. "text": case-insensitive strings; "choice": one of
# fixed values; "id": a row's id; "nullable_id": an id or None; "tags": a set of names;
# "datetime": an instant; "domain": the requester's address domain; "bool".
@dataclass(frozen=True)
class BuiltIn:
    kind: str
    ops: tuple[str, ...]
    column: str = ""  # the Ticket lookup that SQL compares
    choices: tuple[str, ...] = ()
    model: Any = None  # rows whose ids the value names (checked when saved)


_TEXT_OPS = (*_EQUALITY, *_CONTAINS, *_EMPTINESS)
FIELDS: dict[str, BuiltIn] = {
    "title": BuiltIn("text", _TEXT_OPS, "title"),
    "description": BuiltIn("text", _TEXT_OPS, "description"),
    "text": BuiltIn("text", _CONTAINS),
    "comment": BuiltIn("text", (*_CONTAINS, *_EMPTINESS)),
    "priority": BuiltIn("choice", (*_EQUALITY, *_ORDER), "priority", tuple(Priority.values)),
    "stage": BuiltIn("id", _EQUALITY, "stage_id", model=Stage),
    "stage_category": BuiltIn("choice", _EQUALITY, "stage__category", tuple(StageCategory.values)),
    "workflow": BuiltIn("id", _EQUALITY, "workflow_id", model=Workflow),
    "team": BuiltIn("nullable_id", (*_EQUALITY, *_EMPTINESS), "team_id", model=Team),
    "assignee": BuiltIn("nullable_id", (*_EQUALITY, *_EMPTINESS), "assignee_id", model=User),
    "requester": BuiltIn("id", _EQUALITY, "requester_id", model=User),
    "requester_domain": BuiltIn("domain", _EQUALITY, "requester__email"),
    "channel": BuiltIn("choice", _EQUALITY, "source", tuple(Source.values)),
    "tags": BuiltIn("tags", (*_CONTAINS, "in", "not_in", *_EMPTINESS)),
    "created": BuiltIn("datetime", _ORDER, "created"),
    "business_hours": BuiltIn("bool", ("is",)),
}
_PRIORITY_RANK = {p: i for i, p in enumerate(Priority.values)}  # LOW .. URGENT
# Custom field types and the ops each takes.
_CUSTOM_OPS: dict[str, tuple[str, ...]] = {
    FieldType.TEXT: _TEXT_OPS,
    FieldType.LONG_TEXT: (*_CONTAINS, *_EMPTINESS),
    FieldType.URL: _TEXT_OPS,
    FieldType.NUMBER: (*_EQUALITY, *_EMPTINESS, *_ORDER),
    FieldType.DECIMAL: (*_EQUALITY, *_EMPTINESS, *_ORDER),
    FieldType.DATE: (*_EQUALITY, *_EMPTINESS, *_ORDER),
    FieldType.CHOICE: (*_EQUALITY, *_EMPTINESS),
    FieldType.MULTIPLE_CHOICE: (*_CONTAINS, *_EMPTINESS),
    FieldType.CHECKBOX: ("is",),
    FieldType.USER: (*_EQUALITY, *_EMPTINESS),
}
_NUMBER_TEXT = r"-?[0-9]+(\.[0-9]+)?"
_DATE_TEXT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


# --- Validation ---------------------------------------------------------------------
class _RefusedError(Exception):
    pass


def validate_conditions(conditions: Any) -> list[dict[str, Any]]:
    """The conditions normalised (values in their stored form: ids as ints, priorities
    upper-case, lists for ``in``), or a ValidationError on ``conditions`` naming the
    first wrong condition by its position (1-based) and saying what is wrong."""
    if conditions in (None, ""):
        return []
    if not isinstance(conditions, list):
        raise ValidationError({"conditions": "Conditions are a list of {field, op, value}."})
    custom = _custom_fields(conditions)
    cleaned = []
    for index, condition in enumerate(conditions, start=1):
        try:
            cleaned.append(_validate_one(condition, custom))
        except _RefusedError as error:
            raise ValidationError({"conditions": f"Condition {index}: {error}"}) from None
    return cleaned


def _custom_fields(conditions: list[Any]) -> dict[str, TicketField]:
    names = [
        c["field"][len(CUSTOM_PREFIX) :]
        for c in conditions
        if isinstance(c, dict) and str(c.get("field", "")).startswith(CUSTOM_PREFIX)
    ]
    if not names:
        return {}
    return {f.name: f for f in TicketField.objects.filter(name__in=names)}


def _validate_one(condition: Any, custom: dict[str, TicketField]) -> dict[str, Any]:
    if not isinstance(condition, dict):
        raise _RefusedError("a condition is an object {field, op, value}.")
    unknown = sorted(set(condition) - {"field", "op", "value"})
    if unknown:
        raise _RefusedError(
            f"unknown key(s) {', '.join(unknown)}; a condition has field, op, value."
        )
    name = str(condition.get("field", ""))
    op = str(condition.get("op", ""))
    value = condition.get("value")
    if op not in OPS:
        raise _RefusedError(f"unknown op {op!r}; ops are {', '.join(OPS)}.")
    if name.startswith(CUSTOM_PREFIX):
        field_name = name[len(CUSTOM_PREFIX) :]
        ticket_field = custom.get(field_name)
        if ticket_field is None:
            raise _RefusedError(f"there is no custom field {field_name!r}.")
        allowed = _CUSTOM_OPS.get(ticket_field.type, ())
        if op not in allowed:
            raise _RefusedError(
                f"{name} ({ticket_field.type}) takes the ops {', '.join(allowed)}, not {op!r}."
            )
        return {"field": name, "op": op, "value": _custom_value(ticket_field, op, value)}
    spec = FIELDS.get(name)
    if spec is None:
        raise _RefusedError(
            f"unknown field {name!r}; fields are {', '.join(FIELDS)} or field.<custom field>."
        )
    if op not in spec.ops:
        raise _RefusedError(f"{name} takes the ops {', '.join(spec.ops)}, not {op!r}.")
    return {"field": name, "op": op, "value": _builtin_value(name, spec, op, value)}


def _each(op: str, value: Any, clean: Callable[[Any], Any]) -> Any:
    """One value cleaned, or a non-empty list of them for in / not_in."""
    if op in _EMPTINESS:
        return None
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise _RefusedError(f"{op} takes a non-empty list of values.")
        return [clean(v) for v in value]
    return clean(value)


# Each cleaner takes (what the condition names, the spec's choices, a value) and returns
# the stored value or raises _RefusedError saying what was expected.
def _clean_text(label: str, choices: tuple[str, ...], v: Any) -> Any:
    if not isinstance(v, str) or not v.strip():
        raise _RefusedError(f"{label} takes some text.")
    return v.strip()


def _clean_choice(label: str, choices: tuple[str, ...], v: Any) -> Any:
    text = str(v or "").strip().upper()
    if text not in choices:
        raise _RefusedError(f"{label} is one of {', '.join(choices)}, not {v!r}.")
    return text


def _clean_id(label: str, choices: tuple[str, ...], v: Any) -> Any:
    number = _int(v)
    if number is None:
        raise _RefusedError(f"{label} takes an id, not {v!r}.")
    return number


def _clean_nullable_id(label: str, choices: tuple[str, ...], v: Any) -> Any:
    return None if v is None else _clean_id(label, choices, v)


def _clean_domain(label: str, choices: tuple[str, ...], v: Any) -> Any:
    text = str(v or "").strip().lower().lstrip("@")
    if not text or "@" in text or " " in text:
        raise _RefusedError(f"{label} takes a domain such as example.com, not {v!r}.")
    return text


def _clean_tag(label: str, choices: tuple[str, ...], v: Any) -> Any:
    text = " ".join(str(v or "").split())
    if not text:
        raise _RefusedError(f"{label} takes a tag name.")
    return text


def _clean_datetime(label: str, choices: tuple[str, ...], v: Any) -> Any:
    return _instant(v, label).isoformat()


def _clean_bool(label: str, choices: tuple[str, ...], v: Any) -> Any:
    if not isinstance(v, bool):
        raise _RefusedError(f"{label} is true or false.")
    return v


def _clean_number(label: str, choices: tuple[str, ...], v: Any) -> Any:
    number = _number(v)
    if number is None:
        raise _RefusedError(f"{label} takes a number, not {v!r}.")
    return int(number) if number == int(number) else number


def _clean_date(label: str, choices: tuple[str, ...], v: Any) -> Any:
    day = parse_date(str(v or "").strip())
    if day is None:
        raise _RefusedError(f"{label} takes a date YYYY-MM-DD, not {v!r}.")
    return day.isoformat()


def _clean_option(label: str, choices: tuple[str, ...], v: Any) -> Any:
    text = str(v or "").strip()
    if text not in choices:
        raise _RefusedError(f"{label} is one of {', '.join(choices)}, not {v!r}.")
    return text


Cleaner = Callable[[str, tuple[str, ...], Any], Any]
_BUILTIN_CLEANERS: dict[str, Cleaner] = {
    "text": _clean_text,
    "choice": _clean_choice,
    "id": _clean_id,
    "nullable_id": _clean_nullable_id,
    "domain": _clean_domain,
    "tags": _clean_tag,
    "datetime": _clean_datetime,
    "bool": _clean_bool,
}
_CUSTOM_CLEANERS: dict[str, Cleaner] = {
    FieldType.TEXT: _clean_text,
    FieldType.LONG_TEXT: _clean_text,
    FieldType.URL: _clean_text,
    FieldType.NUMBER: _clean_number,
    FieldType.DECIMAL: _clean_number,
    FieldType.DATE: _clean_date,
    FieldType.CHOICE: _clean_option,
    FieldType.MULTIPLE_CHOICE: _clean_option,
    FieldType.CHECKBOX: _clean_bool,
    FieldType.USER: _clean_id,
}


def _builtin_value(name: str, spec: BuiltIn, op: str, value: Any) -> Any:
    cleaner = _BUILTIN_CLEANERS[spec.kind]
    cleaned = _each(op, value, lambda v: cleaner(name, spec.choices, v))
    if spec.model is not None and cleaned is not None:
        wanted = {v for v in (cleaned if isinstance(cleaned, list) else [cleaned]) if v is not None}
        found = set(spec.model.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        missing = sorted(wanted - found)
        if missing:
            kind = spec.model.__name__.lower()
            raise _RefusedError(f"no {kind} has the id {', '.join(map(str, missing))}.")
    return cleaned


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _instant(value: Any, name: str) -> datetime.datetime:
    text = str(value or "").strip()
    instant = parse_datetime(text) if text else None
    if instant is None:
        day = parse_date(text) if text else None
        if day is None:
            raise _RefusedError(f"{name} takes a date or an ISO date and time, not {value!r}.")
        instant = datetime.datetime.combine(day, datetime.time())
    if timezone.is_naive(instant):
        instant = timezone.make_aware(instant)
    return instant


def _custom_value(ticket_field: TicketField, op: str, value: Any) -> Any:
    cleaner = _CUSTOM_CLEANERS[ticket_field.type]
    label = f"{CUSTOM_PREFIX}{ticket_field.name}"
    choices = tuple(ticket_field.choices or ())
    return _each(op, value, lambda v: cleaner(label, choices, v))


def _number(value: Any) -> float | None:
    """A condition's value read as a number (when saved: "12.5" is accepted)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str | Decimal):
        try:
            return float(Decimal(str(value).strip()))
        except InvalidOperation:
            return None
    return None


# --- Python -------------------------------------------------------------------------
def conditions_match(rule: Any, ticket: Ticket, *, context: Context) -> bool:
    """Whether ``ticket`` meets ``rule``'s conditions (all or any of them, by
    ``rule.match``; no conditions always match). Reads the ticket in memory; tags, the
    requester's address and the calendar are read once per ``context``."""
    conditions = rule.conditions or []
    if not conditions:
        return True
    results = (_match_one(rule, ticket, c, context) for c in conditions)
    return any(results) if rule.match == "any" else all(results)


def _match_one(rule: Any, ticket: Ticket, condition: Mapping[str, Any], ctx: Context) -> bool:
    op = condition["op"]
    positive = NEGATED.get(op, op)
    name, value = condition["field"], condition.get("value")
    if name.startswith(CUSTOM_PREFIX):
        values = ticket.custom_fields or {}
        result = _custom_positive(values.get(name[len(CUSTOM_PREFIX) :]), positive, value)
    elif name in _SPECIAL:
        result = _SPECIAL[name](rule, ticket, ctx, positive, value)
    else:
        result = _column_positive(name, _actual(name, ticket, ctx), positive, value)
    return not result if op in NEGATED else result


def _upper(value: Any) -> str:
    return str(value).upper()


def _business_hours_positive(rule: Any, ticket: Ticket, ctx: Context, op: str, value: Any) -> bool:
    return _in_business_hours(rule, ctx) == bool(value)


def _text_parts(ticket: Ticket, ctx: Context, *, ticket_text: bool) -> list[str]:
    parts = [ticket.title, ticket.description] if ticket_text else []
    if ctx.comment is not None:
        parts.append(ctx.comment)
    return parts


def _text_positive(rule: Any, ticket: Ticket, ctx: Context, op: str, value: Any) -> bool:
    return any(_upper(value) in _upper(p) for p in _text_parts(ticket, ctx, ticket_text=True))


def _comment_positive(rule: Any, ticket: Ticket, ctx: Context, op: str, value: Any) -> bool:
    parts = _text_parts(ticket, ctx, ticket_text=False)
    if op == "is_empty":
        return not any(p.strip() for p in parts)
    return any(_upper(value) in _upper(p) for p in parts)


def _tags_positive(rule: Any, ticket: Ticket, ctx: Context, op: str, value: Any) -> bool:
    tags = _tags(ticket, ctx)
    if op == "is_empty":
        return not tags
    wanted = [value] if op == "contains" else value
    return any(v.casefold() in tags for v in wanted)


_SPECIAL: dict[str, Callable[[Any, Ticket, Context, str, Any], bool]] = {
    "business_hours": _business_hours_positive,
    "text": _text_positive,
    "comment": _comment_positive,
    "tags": _tags_positive,
}


def _actual(name: str, ticket: Ticket, ctx: Context) -> Any:
    if name == "requester_domain":
        return _domain(ticket, ctx)
    if name == "stage_category":
        return ticket.stage.category
    return getattr(ticket, FIELDS[name].column)


def _column_positive(name: str, actual: Any, op: str, value: Any) -> bool:
    if op == "is_empty":
        return actual in (None, "")
    if op in ("is", "in"):
        wanted = [value] if op == "is" else value
        if FIELDS[name].kind == "text":
            return _upper(actual) in {_upper(v) for v in wanted}
        return actual in wanted
    if op == "contains":
        return _upper(value) in _upper(actual or "")
    if name == "priority":
        actual, value = _PRIORITY_RANK[actual], _PRIORITY_RANK[value]
    elif name == "created":
        value = datetime.datetime.fromisoformat(value)
    return bool(actual > value if op == "gt" else actual < value)


def _as_number(value: Any) -> float | None:
    """A stored value read as a number: a JSON number, or text that is only a number
    ("12.50", as a decimal may be stored); never a boolean. SQL reads the same
    (``_number_sql``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(_NUMBER_TEXT, value):
        return float(value)
    return None


def _custom_positive(actual: Any, op: str, value: Any) -> bool:
    if op == "is_empty":
        return actual is None or (isinstance(actual, str | list) and len(actual) == 0)
    if op in ("is", "in"):
        return any(_custom_equal(actual, v) for v in ([value] if op == "is" else value))
    if op == "contains":
        if isinstance(actual, list):
            return value in actual
        return isinstance(actual, str) and _upper(value) in _upper(actual)
    return _custom_order(actual, op, value)


def _custom_order(actual: Any, op: str, value: Any) -> bool:
    """gt / lt: numbers, or dates as YYYY-MM-DD (compared as text, as SQL does)."""
    if isinstance(value, str):
        if not (isinstance(actual, str) and re.fullmatch(_DATE_TEXT, actual)):
            return False
        return actual > value if op == "gt" else actual < value
    number = _as_number(actual)
    if number is None:
        return False
    return number > value if op == "gt" else number < value


def _custom_equal(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool):
        return actual is wanted
    if isinstance(wanted, str):
        return isinstance(actual, str) and _upper(actual) == _upper(wanted)
    number = _as_number(actual)
    return number is not None and number == float(wanted)


def _tags(ticket: Ticket, ctx: Context) -> set[str]:
    if "tags" not in ctx.cache:
        names = ticket.tags.values_list("name", flat=True) if ticket.pk else []
        ctx.cache["tags"] = {n.casefold() for n in names}
    tags: set[str] = ctx.cache["tags"]
    return tags


def _domain(ticket: Ticket, ctx: Context) -> str:
    if "domain" not in ctx.cache:
        email = (ticket.requester.email or "").strip().lower()
        ctx.cache["domain"] = email.rpartition("@")[2] if "@" in email else ""
    domain: str = ctx.cache["domain"]
    return domain


def _in_business_hours(rule: Any, ctx: Context) -> bool:
    # Imported here: the SLA app's calendar arithmetic is only needed by rules that ask.
    from sla.calendar import calendar_spec, is_working_time

    return is_working_time(calendar_spec(rule.calendar), ctx.when)


# --- SQL ----------------------------------------------------------------------------
def conditions_q(rule: Any) -> Q | None:
    """``rule``'s conditions as a filter over ``Ticket`` (``Q()`` when it has none), or
    None when one of them cannot be said in SQL (business hours; the new comment, which
    only an event has). Agrees with ``conditions_match`` on every ticket."""
    parts = []
    for condition in rule.conditions or []:
        part = _q_one(rule, condition)
        if part is None:
            return None
        parts.append(part)
    if not parts:
        return Q()
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined | part) if rule.match == "any" else (combined & part)
    return combined


def _q_one(rule: Any, condition: Mapping[str, Any]) -> Q | None:
    op = condition["op"]
    positive = NEGATED.get(op, op)
    name, value = condition["field"], condition.get("value")
    if name.startswith(CUSTOM_PREFIX):
        q = _custom_q(name[len(CUSTOM_PREFIX) :], positive, value)
        # JSON reads are NULL where the key is missing; NOT NULL is NULL, which would drop
        # rows that Python's "not" keeps: negate a definite true or false.
        return ~_definite(q) if op in NEGATED else q
    built = _builtin_q(rule, name, positive, value)
    if built is None:
        return None
    return ~built if op in NEGATED else built


def _definite(q: Q) -> Q:
    return Q(Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField()))


def _any_of(parts: list[Q]) -> Q:
    combined = parts[0]
    for part in parts[1:]:
        combined |= part
    return combined


def _no_sql(rule: Any, op: str, value: Any) -> Q | None:
    return None


def _text_q(rule: Any, op: str, value: Any) -> Q | None:
    if rule.trigger in COMMENT_TRIGGERS:
        return None  # the comment is the event's, not the ticket's
    return Q(title__icontains=value) | Q(description__icontains=value)


def _tags_q(rule: Any, op: str, value: Any) -> Q | None:
    through = Ticket.tags.through.objects.filter(ticket_id=OuterRef("pk"))
    if op == "is_empty":
        return ~Q(Exists(through))
    wanted = [value] if op == "contains" else value
    matching = _any_of([Q(tag__name__iexact=v) for v in wanted])
    return Q(Exists(through.filter(matching)))


def _domain_q(rule: Any, op: str, value: Any) -> Q | None:
    wanted = [value] if op == "is" else value
    return _any_of([Q(requester__email__iendswith=f"@{v}") for v in wanted])


_SPECIAL_Q: dict[str, Callable[[Any, str, Any], Q | None]] = {
    "business_hours": _no_sql,
    "comment": _no_sql,
    "text": _text_q,
    "tags": _tags_q,
    "requester_domain": _domain_q,
}


def _builtin_q(rule: Any, name: str, op: str, value: Any) -> Q | None:
    if name in _SPECIAL_Q:
        return _SPECIAL_Q[name](rule, op, value)
    spec = FIELDS[name]
    column = spec.column
    if op == "is_empty":
        empty = Q(**{f"{column}__isnull": True})
        return empty | Q(**{column: ""}) if spec.kind == "text" else empty
    if op in ("is", "in"):
        return _equal_q(spec, [value] if op == "is" else value)
    if op == "contains":
        return Q(**{f"{column}__icontains": value})
    if name == "priority":
        rank = _PRIORITY_RANK[value]
        above = [p for p, r in _PRIORITY_RANK.items() if (r > rank if op == "gt" else r < rank)]
        return Q(priority__in=above)
    return Q(**{f"{column}__{op}": datetime.datetime.fromisoformat(value)})


def _equal_q(spec: BuiltIn, wanted: list[Any]) -> Q:
    column = spec.column
    if spec.kind == "text":
        return _any_of([Q(**{f"{column}__iexact": v}) for v in wanted])
    present = [v for v in wanted if v is not None]
    q = Q(**{f"{column}__in": present})
    if None in wanted:
        q = q | Q(**{f"{column}__isnull": True}) if present else Q(**{f"{column}__isnull": True})
    return q


def _custom_q(key: str, op: str, value: Any) -> Q:
    """A custom field's condition in SQL. Each part starts from "the key is there" and
    the JSON type, so that it is true or false, never NULL: ``NOT`` of a NULL would drop
    rows that Python's negation keeps."""
    has = Q(custom_fields__has_key=key)
    jsonb = KeyTransform(key, "custom_fields")
    text = KT(f"custom_fields__{key}")
    if op == "is_empty":
        return (
            ~has
            | Q(custom_fields__contains={key: None})
            | Q(Exact(jsonb, Value("", JSONField())))
            | Q(Exact(jsonb, Value([], JSONField())))
        )
    if op in ("is", "in"):
        parts = []
        for v in [value] if op == "is" else value:
            if isinstance(v, bool):
                parts.append(Q(custom_fields__contains={key: v}))
            elif isinstance(v, str):
                parts.append(has & _typeof(key, "string") & Q(IExact(text, v)))
            else:
                parts.append(has & Q(Exact(_number_sql(key), float(v))))
        return _any_of(parts)
    if op == "contains":
        in_list = has & _typeof(key, "array") & Q(custom_fields__contains={key: [value]})
        in_text = has & _typeof(key, "string") & Q(IContains(text, value))
        return in_list | in_text
    compare = GreaterThan if op == "gt" else LessThan
    if isinstance(value, str):  # dates as text: the same order as Python's str
        as_text = Collate(text, "C")
        return (
            has
            & _typeof(key, "string")
            & Q(Regex(text, f"^{_DATE_TEXT}$"))
            & Q(compare(as_text, Value(value)))
        )
    return has & Q(compare(_number_sql(key), float(value)))


def _typeof(key: str, kind: str) -> Q:
    typeof = Func(
        KeyTransform(key, "custom_fields"), function="jsonb_typeof", output_field=CharField()
    )
    return Q(Exact(typeof, kind))


def _number_sql(key: str) -> Case:
    """``_as_number`` in SQL: the value as a float when its text is only a number (a JSON
    number's text always is; true, false and other text are not), else NULL. The CASE
    keeps the cast from ever seeing text that is not a number."""
    text = KT(f"custom_fields__{key}")
    return Case(
        When(
            Q(custom_fields__has_key=key)
            & ~_typeof(key, "boolean")
            & Q(Regex(text, f"^{_NUMBER_TEXT}$")),
            then=Cast(text, FloatField()),
        ),
        default=None,
        output_field=FloatField(),
    )
