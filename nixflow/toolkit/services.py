"""Steps that the services of every app share.

``model_update`` is the middle of every ``<thing>_update`` service: after the service has
checked who may act and locked the row, it compares the requested values with the row,
sets the ones that differ, validates and saves only those columns, and hands back what
changed (old and new value per field) for the service's history rows and event payload.
``changes_payload`` and ``payload_value`` turn such values into what an event stores.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Model

M = TypeVar("M", bound=Model)

# field name -> (old value, new value)
Changes = dict[str, tuple[Any, Any]]


def _full_clean(instance: Model) -> None:
    instance.full_clean()


def model_update(
    *,
    instance: M,
    data: Mapping[str, Any],
    allowed: Collection[str] | None = None,
    also_set: Mapping[str, Any] | None = None,
    validate: Callable[[M], object] | None = _full_clean,
    save: bool = True,
) -> Changes:
    """Set the fields of ``data`` that differ on ``instance`` and save only those.

    - ``allowed``: the fields a caller may change; any other key in ``data`` is refused
      with a ValidationError naming it (None: the service checked ``data`` itself).
    - ``also_set``: set and saved too, but only when something in ``data`` changed, and
      not reported (an ``updated`` timestamp).
    - ``validate``: called with the changed instance before saving (default
      ``full_clean()``; a service that leaves constraints to the database passes its own;
      None skips it). A ValidationError leaves the row unsaved.
    - ``save=False``: set the fields but leave saving to the caller, who saves them
      together with other columns (``update_fields=[*changes, ...]``).

    Values are compared with ``!=`` on the attribute (related objects by primary key, as
    Django compares model instances). Returns the changed fields with their old and new
    values, in ``data``'s order; an empty dict means nothing was saved.
    """
    if allowed is not None:
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ValidationError(f"These fields cannot be changed here: {', '.join(unknown)}.")
    changes: Changes = {}
    for name, value in data.items():
        old = getattr(instance, name)
        if old != value:
            changes[name] = (old, value)
            setattr(instance, name, value)
    if not changes:
        return changes
    for name, value in (also_set or {}).items():
        setattr(instance, name, value)
    if validate is not None:
        validate(instance)
    if save:
        instance.save(update_fields=[*changes, *(also_set or {})])
    return changes


def payload_value(value: Any) -> Any:
    """A value as an event payload stores it (JSON): a row by its primary key, dates and
    times in ISO format, lists and dicts element by element."""
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [payload_value(item) for item in value]
    if isinstance(value, dict):
        return {key: payload_value(item) for key, item in value.items()}
    return value


def changes_payload(changes: Changes, *, hide: Collection[str] = ()) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` of ``model_update``'s result for an event payload, without
    the ``hide`` fields (personal data the append-only log must not keep)."""
    return {
        name: [payload_value(old), payload_value(new)]
        for name, (old, new) in changes.items()
        if name not in hide
    }
