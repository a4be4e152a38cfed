"""What the configuration services (policies, calendars) share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.text import capfirst

from nixflow.models import User
from nixflow.toolkit.auth import require_admin as toolkit_require_admin
from nixflow.toolkit.services import Changes, payload_value

Row = dict[str, Any]


def require_admin(actor: User | None) -> None:
    """The SLA configuration is the admins' (and superusers'); None is the system (demo
    data, data migrations), which may change it too."""
    toolkit_require_admin(actor, "change the SLA configuration")


plain = payload_value  # the toolkit's: a row by its pk, dates ISO, lists and dicts deep


def changes_payload(changes: Changes) -> dict[str, Any]:
    return {"changes": {name: [plain(old), plain(new)] for name, (old, new) in changes.items()}}


def distinct(values: Sequence[str]) -> list[str]:
    """A condition list without repeats, in the order given."""
    return list(dict.fromkeys(values))


def checked_rows(
    model: type[models.Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    fields: Sequence[str],
    parent: str,
    label: str,
) -> list[Row]:
    """Nested rows (a policy's targets, a calendar's intervals) validated as their model
    does, except for the parent they will get: each as a dict of ``fields``. A refusal
    names the row, keyed by ``label`` (the API's name of the list)."""
    checked = []
    for number, row in enumerate(rows, start=1):
        instance = model(**{name: row[name] for name in fields if name in row})
        try:
            instance.full_clean(exclude=[parent], validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            shown = "; ".join(f"{name}: {' '.join(m)}" for name, m in error.message_dict.items())
            raise ValidationError({label: [f"Row {number}: {shown}"]}) from error
        # As cleaned (a time given as text becomes a time), defaults filled in.
        checked.append({name: getattr(instance, name) for name in fields})
    return checked


@contextmanager
def name_taken_as_error(model: type[models.Model]) -> Iterator[None]:
    """A concurrent save of the same name (past full_clean's check) as a field error,
    not a 500. The block runs in a savepoint so that the transaction stays usable."""
    constraint = f"{model._meta.db_table}_name_key"
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        if constraint not in str(error):
            raise
        message = f"{capfirst(model._meta.verbose_name)} with this name already exists."
        raise ValidationError({"name": [message]}) from error
