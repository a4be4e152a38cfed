"""What a custom ticket field's value may be, per type, and how it is stored.

Every value written to ``Ticket.custom_fields`` passes through ``value_clean`` first
(the services call it; nothing else writes the column), so that a value has exactly one
stored form and an equality filter (``custom_fields @> {"name": value}``, served by the
``nf_ticket_custom_fields`` GIN index) finds every ticket that holds it:

====================  =============================================================
type                  stored as
====================  =============================================================
text                  string, stripped, at most 1,000 characters
long_text             string, at most 20,000 characters (line breaks kept)
number                integer (JSON number), within ±(2**53 - 1) so that JavaScript
                      clients read it exactly
decimal               canonical string: ``"12.5"`` for 12.50, 12.500 or "1.25E1".
                      A JSON number would be a float to most clients (0.1 + 0.2), and
                      two spellings of one amount would not be equal to containment;
                      one canonical string is exact and compares equal
date                  ISO date string ``"2026-12-07"``
choice                one of the field's choices, as written there
multiple_choice       list of the field's choices, in the field's order, no repeats
                      (containment then finds a ticket by any one of them)
checkbox              true or false
user                  an active agent's user id (integer). Agents only: the field
                      names who inside the desk is responsible for something;
                      requesters are people outside it and many
url                   string, an http or https URL, at most 2,000 characters
====================  =============================================================

Empty means absent: ``None``, ``""``, an empty list clear the field (its key is removed
from the document), so "has no value" is one thing. A checkbox's ``false`` is a value
(the question was answered), but counts as empty for a required field: a required
checkbox must be ticked.

``value_parse`` reads the text of a query string or a form answer (``?field.count=3``)
into the same typed value, so filters compare like with like.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import Q

from nixflow.models import FieldType, TicketField, User

TEXT_MAX = 1_000
LONG_TEXT_MAX = 20_000
URL_MAX = 2_000
NUMBER_MAX = 2**53 - 1
# Digits a decimal may have in all (before and after the point).
DECIMAL_DIGITS = 30

_url = URLValidator(schemes=["http", "https"])
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_INTEGER = re.compile(r"^[+-]?[0-9]{1,16}$")


def is_empty(value: Any) -> bool:
    """Whether ``value`` means "no value" (the key is then absent)."""
    return value is None or value in ("", [])


def is_filled(field: TicketField, value: Any) -> bool:
    """Whether a stored value satisfies a required field (a checkbox must be ticked)."""
    if field.type == FieldType.CHECKBOX:
        return value is True
    return not is_empty(value)


def _refuse(field: TicketField, message: str) -> ValidationError:
    return ValidationError(f"{field.label}: {message}")


def _text(field: TicketField, value: Any, limit: int, *, strip: bool) -> str:
    if not isinstance(value, str):
        raise _refuse(field, "give text.")
    if "\x00" in value:
        raise _refuse(field, "text may not contain the NUL character.")
    text = value.strip() if strip else value
    if len(text) > limit:
        raise _refuse(field, f"at most {limit:,} characters (this has {len(text):,}).")
    return text


def _number(field: TicketField, value: Any) -> int:
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _refuse(field, "give a whole number.")
    if abs(value) > NUMBER_MAX:
        raise _refuse(field, f"a whole number between -{NUMBER_MAX} and {NUMBER_MAX}.")
    return value


def decimal_canonical(value: Decimal) -> str:
    """One text for one amount: no exponent, no trailing zeros after the point."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def _decimal(field: TicketField, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _refuse(field, "give a decimal number, e.g. 12.50.")
    try:
        # A float goes through its shortest text (0.1, not 0.1000000000000000055...).
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _refuse(field, "give a decimal number, e.g. 12.50.") from None
    if not number.is_finite():
        raise _refuse(field, "give a decimal number, e.g. 12.50.")
    _sign, digits, exponent = number.normalize().as_tuple()
    if (
        not isinstance(exponent, int)
        or max(len(digits), -exponent, len(digits) + exponent) > DECIMAL_DIGITS
    ):
        raise _refuse(field, f"at most {DECIMAL_DIGITS} digits.")
    return decimal_canonical(number)


def _date(field: TicketField, value: Any) -> str:
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise _refuse(field, "give a date as YYYY-MM-DD.")


def _choice(field: TicketField, value: Any) -> str:
    if not isinstance(value, str) or value not in field.choices:
        options = ", ".join(repr(c) for c in field.choices)
        raise _refuse(field, f"{value!r} is not one of its choices ({options}).")
    return value


def _choices(field: TicketField, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise _refuse(field, "give a list of its choices.")
    chosen = {_choice(field, item) for item in value}
    return [c for c in field.choices if c in chosen]


def _checkbox(field: TicketField, value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    if not isinstance(value, bool):
        raise _refuse(field, "give true or false.")
    return value


def _user(field: TicketField, value: Any) -> int:
    if isinstance(value, User):
        user: User | None = value
    else:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
            raise _refuse(field, "give an agent's user id.")
        user = User.objects.filter(pk=value).first()
    if user is None or not (user.is_agent and user.is_active):
        raise _refuse(field, f"user {getattr(user, 'pk', value)} is not an active agent.")
    return user.pk


def _url_value(field: TicketField, value: Any) -> str:
    text = _text(field, value, URL_MAX, strip=True)
    try:
        _url(text)
    except ValidationError:
        raise _refuse(field, "give an http:// or https:// address.") from None
    return text


def _long_text(field: TicketField, value: Any) -> str:
    text = _text(field, value, LONG_TEXT_MAX, strip=False)
    return text if text.strip() else ""


_RULES: dict[str, Callable[[TicketField, Any], Any]] = {
    FieldType.TEXT: lambda field, value: _text(field, value, TEXT_MAX, strip=True),
    FieldType.LONG_TEXT: _long_text,
    FieldType.NUMBER: _number,
    FieldType.DECIMAL: _decimal,
    FieldType.DATE: _date,
    FieldType.CHOICE: _choice,
    FieldType.MULTIPLE_CHOICE: _choices,
    FieldType.CHECKBOX: _checkbox,
    FieldType.USER: _user,
    FieldType.URL: _url_value,
}


def value_clean(field: TicketField, value: Any) -> Any:
    """``value`` as ``field`` stores it, or None for "no value"; a ValidationError says
    what is wrong in words that start with the field's label."""
    if is_empty(value):
        return None
    rule = _RULES.get(field.type)
    if rule is None:  # a type added to FieldType without its rule
        raise _refuse(field, f"unknown field type {field.type!r}.")
    cleaned = rule(field, value)
    return None if is_empty(cleaned) else cleaned


def value_parse(field: TicketField, text: str) -> Any:
    """A filter's text (``?field.<name>=<text>``) as the value stored for it. For a
    multiple choice field, one choice: the tickets whose list includes it (containment
    of ``[choice]`` in the stored list)."""
    if field.type == FieldType.MULTIPLE_CHOICE:
        return [_choice(field, text)]
    if field.type == FieldType.USER:
        # Any user id: a value may name an agent deactivated since it was set.
        if not (text.strip().isdigit() and 0 < int(text.strip()) < 2**63):
            raise _refuse(field, "give a user id.")
        return int(text.strip())
    value = value_clean(field, text)
    if value is None:
        raise _refuse(field, "give a value to filter by.")
    return value


def value_display(
    field: TicketField | None, value: Any, users: dict[int, str] | None = None
) -> str:
    """The text a person reads for a stored value (history, admin pages)."""
    if is_empty(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if field is not None and field.type == FieldType.USER and isinstance(value, int):
        return (users or {}).get(value) or str(value)
    return str(value)


def usernames(fields: Iterable[TicketField], *documents: dict[str, Any]) -> dict[int, str]:
    """The usernames of the user fields' values in ``documents`` (one query)."""
    ids = {
        doc[f.name]
        for f in fields
        if f.type == FieldType.USER
        for doc in documents
        if isinstance(doc.get(f.name), int)
    }
    if not ids:
        return {}
    return dict(User.objects.filter(pk__in=ids).values_list("pk", "username"))


# --- Which fields a ticket has, and applying values to its document -------------------
def fields_for_workflow(workflow_id: int, *, active_only: bool = True) -> dict[str, TicketField]:
    """The fields of a workflow's tickets by name: those listing it, and those listing no
    workflow (every workflow). Inactive ones too with ``active_only=False`` (to show the
    values they still hold)."""
    fields = TicketField.objects.filter(Q(workflows=None) | Q(workflows=workflow_id))
    if active_only:
        fields = fields.filter(is_active=True)
    return {f.name: f for f in fields.distinct().order_by("position", "name")}


def document_apply(
    *, document: dict[str, Any], workflow_id: int, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """``document`` (a ticket's ``custom_fields``) with ``values`` set: the new document
    and the changes as the history shows them, ``{"field.<name>": (old, new)}``.

    Every value is checked against its field; all the refusals come in one
    ValidationError under ``custom_fields``, each message starting with the field's label
    (or naming the unknown name). Fields that are inactive or not of the ticket's
    workflow are refused.
    """
    if not isinstance(values, dict):
        raise ValidationError({"custom_fields": "Give an object of field names and values."})
    if not values:
        return document, {}
    fields = fields_for_workflow(workflow_id)
    errors: list[str] = []
    new = dict(document)
    for name, value in values.items():
        field = fields.get(name)
        if field is None:
            errors.append(
                f"{name!r} is not a field of this ticket's workflow"
                + (f" (its fields: {', '.join(fields)})." if fields else "; it has none.")
            )
            continue
        try:
            cleaned = value_clean(field, value)
        except ValidationError as error:
            errors.extend(error.messages)
            continue
        if cleaned is None:
            new.pop(name, None)
        else:
            new[name] = cleaned
    if errors:
        raise ValidationError({"custom_fields": errors})
    changed = [n for n in values if document.get(n) != new.get(n)]
    users = usernames([fields[n] for n in changed], document, new)
    changes = {
        f"field.{n}": (
            value_display(fields[n], document.get(n), users),
            value_display(fields[n], new.get(n), users),
        )
        for n in changed
    }
    return new, changes


def missing_for_stage(*, document: dict[str, Any], stage_id: int) -> list[TicketField]:
    """The active fields required to enter the stage that ``document`` leaves empty."""
    required = TicketField.objects.filter(is_active=True, required_for_stages=stage_id)
    return [
        f for f in required.order_by("position", "name") if not is_filled(f, document.get(f.name))
    ]
