"""Small helpers the sources share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from django.db import models

from privacy.person import Person


def iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def scrub_rows(
    queryset: models.QuerySet[Any],
    person: Person,
    fields: Sequence[str],
    *,
    local: bool = False,
    touched: set[int] | None = None,
    key: str = "pk",
) -> int:
    """Replace the person's mentions in ``fields`` of the rows that mention them; how
    many rows changed (their ``key`` values are added to ``touched``). One query finds
    the candidates, one writes them."""
    condition = models.Q()
    for name in fields:
        condition |= person.mentions(name, local=local)
    changed = []
    for row in queryset.filter(condition):
        before = [getattr(row, name) for name in fields]
        for name in fields:
            setattr(row, name, person.scrub_json(getattr(row, name), local=local))
        if [getattr(row, name) for name in fields] != before:
            changed.append(row)
    if changed:
        queryset.model._default_manager.bulk_update(changed, list(fields), batch_size=500)
        if touched is not None:
            touched.update(getattr(row, key) for row in changed)
    return len(changed)


def scrub_json_rows(
    queryset: models.QuerySet[Any], person: Person, fields: Sequence[str], *, local: bool = False
) -> int:
    """As ``scrub_rows`` for JSON columns, matched on their text."""
    from django.db.models.functions import Cast

    annotated = queryset.annotate(
        **{f"_text_{name}": Cast(name, models.TextField()) for name in fields}
    )
    condition = models.Q()
    for name in fields:
        condition |= person.mentions(f"_text_{name}", local=local)
    changed = []
    for row in annotated.filter(condition):
        for name in fields:
            setattr(row, name, person.scrub_json(getattr(row, name), local=local))
        changed.append(row)
    if changed:
        queryset.model._default_manager.bulk_update(changed, list(fields), batch_size=500)
    return len(changed)


def file_names(files: Iterable[Any]) -> list[str]:
    return [file.name for file in files if file]
