"""Does the live schema still have what this code's models use?

The schema guard asks this when the database is *ahead* of the code (a newer release has
migrated it: the normal state of a rolling deploy) and when only post-deploy migrations
are pending. It compares the running code's models -- not a migration state -- with
PostgreSQL's catalog, and returns one sentence per thing this code would trip over:

- a table of a model, or a column of a field, is missing;
- a column's type is not one the field can read and write (the same type after
  normalising PostgreSQL's spellings, or a wider one: ``varchar(n)`` -> ``varchar(m>=n)``
  or ``text``, ``smallint`` -> ``integer`` -> ``bigint``);
- a field the code may set to NULL is ``NOT NULL`` in the database;
- a column this code does not know is ``NOT NULL`` without a default (or identity, or
  generated expression): every insert of this code into that table would fail;
- an index or constraint the models name (``Meta.indexes``, ``Meta.constraints``), a
  field's unique constraint, foreign key or index, is missing.

What it does not judge: constraints the code does not know (a new CHECK may reject rows
the old code writes; the migration linter asks for them to be added ``NOT VALID`` and
written so the old release satisfies them), and a column that became nullable while the
field is not (the expand step of removing a column; the old code writes values, and reads
NULL only from rows the new release wrote).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps as global_apps
from django.db import models


@dataclass(frozen=True)
class LiveColumn:
    type: str
    not_null: bool
    has_default: bool


_COLUMNS_SQL = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = current_schema()::regnamespace
  AND c.relkind IN ('r', 'p')
  AND c.relname = ANY(%s)
"""


def used_models(migrated_apps: Iterable[str]) -> list[type[models.Model]]:
    """The models of the running code that own a table built by migrations."""
    apps = set(migrated_apps)
    return [
        model
        for model in global_apps.get_models(include_auto_created=True)
        if model._meta.app_label in apps
        and model._meta.managed
        and not model._meta.proxy
        and not model._meta.swapped
    ]


def incompatibilities(connection: Any, migrated_apps: Iterable[str]) -> list[str]:
    """One sentence per thing the running code uses that the live schema lacks."""
    used = used_models(migrated_apps)
    tables = sorted({model._meta.db_table for model in used})
    live: dict[str, dict[str, LiveColumn]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_COLUMNS_SQL, [tables])
        for table, column, type_, not_null, has_default in cursor.fetchall():
            live.setdefault(table, {})[column] = LiveColumn(type_, not_null, has_default)
    found: list[str] = []
    for model in used:
        found.extend(_model_incompatibilities(model, live, connection))
    return found


def _model_incompatibilities(
    model: type[models.Model], live: dict[str, dict[str, LiveColumn]], connection: Any
) -> list[str]:
    meta = model._meta
    label = f"{meta.app_label}.{meta.object_name}"
    table = meta.db_table
    if table not in live:
        return [f"Table {table!r} of model {label}, which this code uses, is missing"]
    columns = live[table]
    found = []
    known = set()
    for field in meta.local_concrete_fields:
        known.add(field.column)
        problem = _field_problem(field, columns.get(field.column), connection)
        if problem:
            found.append(f"Column {table}.{field.column} (field {label}.{field.name}) {problem}")
    for name, column in sorted(columns.items()):
        if name not in known and column.not_null and not column.has_default:
            found.append(
                f"Column {table}.{name}, which this code does not know, is NOT NULL without "
                f"a default: every insert of model {label} by this code would fail"
            )
    if not found:
        found.extend(_missing_indexes(model, connection))
    return found


def _field_problem(field: Any, column: LiveColumn | None, connection: Any) -> str | None:
    if column is None:
        return "is missing from the database"
    expected = field.db_type(connection)
    if expected is not None and not compatible_type(expected, column.type):
        return f"has type {column.type} in the database; this code expects {expected}"
    if field.null and column.not_null:
        return "is NOT NULL in the database; this code may write NULL to it"
    return None


_ALIASES = {
    "varchar": "character varying",
    "char": "character",
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "serial": "integer",
    "bigserial": "bigint",
    "smallserial": "smallint",
    "float8": "double precision",
    "float4": "real",
    "bool": "boolean",
    "decimal": "numeric",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "time": "time without time zone",
}
_WIDER_INTEGERS = {"smallint": 0, "integer": 1, "bigint": 2}


def normalise_type(db_type: str) -> tuple[str, str, str]:
    """``(base, arguments, array suffix)`` in PostgreSQL's own spelling."""
    text = re.sub(r"\s+", " ", db_type.strip().lower())
    match = re.fullmatch(r"([a-z_ ][a-z0-9_ ]*?)\s*(\(([^)]*)\))?\s*((\[\])*)", text)
    if match is None:
        return text, "", ""
    base = _ALIASES.get(match.group(1).strip(), match.group(1).strip())
    arguments = re.sub(r"\s*,\s*", ",", match.group(3) or "")
    return base, arguments, match.group(4) or ""


def compatible_type(expected: str, live: str) -> bool:
    """Whether a column of type ``live`` can hold what a field of type ``expected`` writes."""
    want, have = normalise_type(expected), normalise_type(live)
    if want == have:
        return True
    if want[2] != have[2]:
        return False
    if want[0] in _WIDER_INTEGERS and have[0] in _WIDER_INTEGERS:
        return _WIDER_INTEGERS[have[0]] >= _WIDER_INTEGERS[want[0]]
    if want[0] == "character varying" and have[0] in {"character varying", "text"}:
        return have[0] == "text" or not have[1] or int(have[1]) >= int(want[1] or 0)
    return False


def _missing_indexes(model: type[models.Model], connection: Any) -> list[str]:
    meta = model._meta
    label = f"{meta.app_label}.{meta.object_name}"
    table = meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    found = [
        f"Index or constraint {name!r} on table {table!r} (model {label}), which this code "
        "uses, is missing"
        for name in [i.name for i in meta.indexes] + [c.name for c in meta.constraints]
        if name not in constraints
    ]
    by_columns = [(tuple(c["columns"]), c) for c in constraints.values()]
    for field in meta.local_concrete_fields:
        for what, matches in expected_on(field):
            if not any(cols == (field.column,) and matches(c) for cols, c in by_columns):
                found.append(
                    f"The {what} on {table}.{field.column} (field {label}.{field.name}), "
                    "which this code relies on, is missing"
                )
    return found


def expected_on(field: Any) -> list[tuple[str, Callable[[dict[str, Any]], bool]]]:
    """The unique constraint, foreign key and index a field's column must have, each with
    a test of an introspected constraint (``get_constraints``) that provides it."""
    expected: list[tuple[str, Callable[[dict[str, Any]], bool]]] = []
    if field.unique and not field.primary_key:
        expected.append(("unique constraint", lambda c: bool(c["unique"])))
    if field.remote_field is not None and getattr(field, "db_constraint", False):
        expected.append(("foreign key", lambda c: bool(c["foreign_key"])))
    if field.db_index and not field.unique:
        expected.append(("index", lambda c: bool(c["index"])))
    return expected
