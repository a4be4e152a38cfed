"""The migration linter: migrations must be safe to apply under the running release.

During a deploy without downtime, ``migrate`` runs while the previous release still
serves (``docs/deploy.md``). A migration is safe then when the old code keeps working on
the new schema, and when no statement holds a lock that stalls the old code's writes for
longer than a moment. The rules (``python manage.py lint_migrations``; ``make lint``):

ML001 not-null-column
    ``AddField`` of a NOT NULL column without ``db_default`` on an existing table: the
    old release inserts rows without it, and they fail. (``default=`` does not help:
    Django only uses it to fill the existing rows, then drops it.) Also a ``ForgetField``
    of a column that is NOT NULL without a database default.
ML002 drop
    ``RemoveField``, ``DeleteModel`` or ``DROP COLUMN``/``DROP TABLE`` SQL: the old
    release still reads the column. Allowed in a post-deploy migration (it runs once the
    old release is gone) when the column is nullable or has a ``db_default`` -- the new
    release, which no longer knows it, must be able to insert until the drop -- and for
    ``DropForgotten`` after a ``ForgetField``/``ForgetModel`` in an earlier migration
    (``migration_ops``).
ML003 rename
    ``RenameField``, ``RenameModel``, ``AlterModelTable``, a changed ``db_column``: to the
    old release that is a drop. Add the new column, write both, then forget the old one.
ML004 blocking-index
    an index built on an existing table without ``CONCURRENTLY`` (``AddIndex``, a field
    gaining ``db_index``/``unique``, ``AddField`` of an indexed field, ``CREATE INDEX``
    SQL): it blocks every write to the table while it builds.
ML005 validating-constraint
    ``AddConstraint`` on an existing table: it checks every row under a lock that blocks
    writes. Add check constraints with ``AddConstraintNotValid`` and validate them in a
    later migration with ``ValidateConstraint``; build a unique index concurrently.
ML006 column-rewrite
    ``AlterField`` that changes a column's type or makes it NOT NULL: PostgreSQL rewrites
    or scans the table under ACCESS EXCLUSIVE, and the old release may write NULL.
ML007 concurrent-in-transaction
    ``AddIndexConcurrently``/``RemoveIndexConcurrently`` in a migration without
    ``atomic = False``: PostgreSQL refuses ``CONCURRENTLY`` inside a transaction.

A table created earlier in the same migration is new and empty, so the rules about
existing tables do not apply to it. ``RunPython`` and most ``RunSQL`` cannot be judged;
``RunSQL`` is searched for index builds, drops and renames only.

Why our own linter (decided for issue 15): django-migration-linter judges the SQL from
``sqlmigrate`` and knows neither ``CONCURRENTLY``/``NOT VALID`` operations nor a two-step
removal across releases; django-pg-zero-downtime-migrations replaces the database backend
and rewrites operations at run time, which hides an unsafe migration instead of failing
CI; squawk lints SQL files and needs a separate binary and a SQL dump per migration;
django-syzygy's pre/post-deploy stages are the model for ``post_deploy`` here. The rules
above fit in one module that reads Django's operation objects, which say exactly what a
migration does and to which table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.postgres.operations import (
    AddConstraintNotValid,
    AddIndexConcurrently,
    RemoveIndexConcurrently,
)
from django.db import connection, migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.models import NOT_PROVIDED

from nixflow.platform.deploy_stages import is_post_deploy
from nixflow.platform.migration_ops import DropForgotten, ForgetField, ForgetModel
from nixflow.platform.schema_compat import compatible_type

# Migrations that break the rules and were applied before the rules existed. Each ran on
# tables that were empty or brand new at the time (the first releases, before NixFlow
# served anyone), so they locked nothing and broke no running release. They are kept as
# they are: rewriting an applied migration changes history that databases recorded.
ALLOWED: dict[tuple[str, str], str] = {
    ("knowledge", "0003_article_list_indexes"): "builds two indexes on the article table "
    "without CONCURRENTLY; it shipped before any NixFlow database held articles beyond "
    "demo data, so the build took milliseconds.",
    ("sla", "0003_daily_tally"): "builds four indexes on the SLA clock table without "
    "CONCURRENTLY; it shipped before any NixFlow database served a desk, on tables with "
    "demo data only.",
}
RULES = {
    "ML001": "not-null-column",
    "ML002": "drop",
    "ML003": "rename",
    "ML004": "blocking-index",
    "ML005": "validating-constraint",
    "ML006": "column-rewrite",
    "ML007": "concurrent-in-transaction",
}

FIXES = {
    "ML001": "Give the field a db_default=..., or make it null=True; backfill, then tighten "
    "it in a later release.",
    "ML002": "Remove it in two releases: ForgetField/ForgetModel first, DropForgotten in a "
    "later release's post-deploy migration (docs/deploy.md).",
    "ML003": "Add the new column or table, write both from the code, backfill, then remove "
    "the old one in two releases.",
    "ML004": "Build it with AddIndexConcurrently in a migration with atomic = False (for a "
    "field: db_index=False on the field and a separate concurrent index).",
    "ML005": "Use AddConstraintNotValid, then ValidateConstraint in a later migration; for "
    "a unique constraint, CREATE UNIQUE INDEX CONCURRENTLY first.",
    "ML006": "Add a new column of the new type, backfill, and switch over in two releases; "
    "for NOT NULL add a CHECK (col IS NOT NULL) NOT VALID constraint and validate it.",
    "ML007": "Set atomic = False on the migration.",
}


@dataclass(frozen=True)
class Finding:
    app: str
    migration: str
    rule: str
    message: str
    table: str | None = None
    allowed: str | None = None

    @property
    def fix(self) -> str:
        return FIXES[self.rule]

    def line(self) -> str:
        return f"{self.app}.{self.migration}: {self.rule} {RULES[self.rule]}: {self.message}"


@dataclass
class _Context:
    app_label: str
    migration: Any
    state: ProjectState
    forgotten: set[tuple[str, str | None]]
    created: set[tuple[str, str]] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)

    def add(self, rule: str, message: str, table: str | None = None) -> None:
        self.findings.append(
            Finding(self.app_label, self.migration.name, rule, message, table=table)
        )

    def existing(self, model_name: str) -> str | None:
        """The table of ``model_name`` when it existed before this migration."""
        key = (self.app_label, model_name.lower())
        if key in self.created or key not in self.state.models:
            return None
        return table_of(self.state, key)


def table_of(state: ProjectState, key: tuple[str, str]) -> str:
    model = state.models[key]
    return model.options.get("db_table") or f"{key[0]}_{key[1]}"


def project_apps() -> list[str]:
    """Labels of the apps whose code lives in this repository (not third-party ones)."""
    from django.apps import apps

    base = Path(settings.BASE_DIR).resolve()
    return sorted(
        config.label
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(base)
        # A virtualenv inside the checkout (.venv, .venv-3.13) holds third-party apps.
        and "site-packages" not in Path(config.path).resolve().relative_to(base).parts
    )


def lint_project(
    loader: MigrationLoader | None = None, app_labels: Iterable[str] | None = None
) -> list[Finding]:
    """Every finding in the migrations of ``app_labels`` (default: the project's apps)."""
    loader = loader or MigrationLoader(None, ignore_no_migrations=True)
    labels = set(app_labels or project_apps())
    findings: list[Finding] = []
    for key in sorted(k for k in loader.graph.nodes if k[0] in labels):
        findings.extend(lint_node(loader, key))
    return findings


def lint_node(loader: MigrationLoader, key: tuple[str, str]) -> list[Finding]:
    """The findings of one migration of the graph, with the allow-list applied."""
    migration = loader.graph.nodes[key]
    state = loader.project_state(key, at_end=False)
    forgotten = _forgotten_before(loader, key)
    allowed = ALLOWED.get(key)
    return [
        Finding(f.app, f.migration, f.rule, f.message, f.table, allowed)
        for f in lint_migration(migration, state, forgotten=forgotten)
    ]


def lint_migration(
    migration: Any,
    state: ProjectState,
    *,
    forgotten: set[tuple[str, str | None]] | None = None,
) -> list[Finding]:
    """The findings of ``migration`` applied on ``state`` (which this changes)."""
    ctx = _Context(migration.app_label, migration, state, forgotten or set())
    for operation, reaches_database, moves_state in _flatten(migration.operations):
        if reaches_database:
            _lint_operation(operation, ctx)
        if moves_state:
            operation.state_forwards(ctx.app_label, ctx.state)
    return ctx.findings


def _flatten(operations: list[Any]) -> Iterator[tuple[Any, bool, bool]]:
    """Each operation, whether it reaches the database, whether it moves the migration
    state. Of a SeparateDatabaseAndState
    only the database half is linted (that is what runs under the live release); its
    state half only moves the linter's state, whatever it says (a state-only AddField
    of a column a RunSQL made is not a table rewrite)."""
    for operation in operations:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            for db_operation in operation.database_operations:
                yield db_operation, True, False
            for state_operation in operation.state_operations:
                yield state_operation, False, True
        else:
            yield operation, True, True


def _forgotten_before(loader: MigrationLoader, key: tuple[str, str]) -> set[tuple[str, str | None]]:
    """Columns and tables that migrations *before* ``key`` forgot (see migration_ops)."""
    forgotten: set[tuple[str, str | None]] = set()
    for earlier in loader.graph.forwards_plan(key)[:-1]:
        migration = loader.graph.nodes[earlier]
        state = loader.project_state(earlier, at_end=False)
        for operation in migration.operations:
            forgotten.update(_forgets(operation, earlier[0], state))
            operation.state_forwards(earlier[0], state)
    return forgotten


def _forgets(operation: Any, app_label: str, state: ProjectState) -> set[tuple[str, str | None]]:
    if isinstance(operation, ForgetField):
        key = (app_label, operation.model_name_lower)
        model = state.models[key]
        column = model.fields[operation.name].db_column or _column_name(
            model.fields[operation.name], operation.name
        )
        return {(table_of(state, key), column)}
    if isinstance(operation, ForgetModel):
        return {(table_of(state, (app_label, operation.name_lower)), None)}
    return set()


def _column_name(model_field: Any, name: str) -> str:
    # A relation's column is "<name>_id"; get_attname_column would need a bound field.
    return f"{name}_id" if model_field.is_relation and model_field.many_to_one else name


# --- the rules ------------------------------------------------------------------------


def _lint_operation(operation: Any, ctx: _Context) -> None:
    for kinds, rule in _RULES_BY_OPERATION:
        if isinstance(operation, kinds):
            rule(operation, ctx)
            return


def _create_model(operation: Any, ctx: _Context) -> None:
    ctx.created.add((ctx.app_label, operation.name_lower))


def _nothing(operation: Any, ctx: _Context) -> None:
    pass


def _add_field(operation: Any, ctx: _Context) -> None:
    table = ctx.existing(operation.model_name)
    new = operation.field
    if table is None or new.many_to_many or getattr(new, "generated", False):
        return
    column = new.db_column or _column_name(new, operation.name)
    if not new.null and new.db_default is NOT_PROVIDED:
        ctx.add(
            "ML001",
            f"adds NOT NULL column {table}.{column} without a db_default; the running "
            "release's inserts would fail",
            table,
        )
    if new.db_index or new.unique:
        what = "unique constraint" if new.unique else "index"
        ctx.add(
            "ML004",
            f"adds column {table}.{column} with a {what}, built without CONCURRENTLY on an "
            "existing table",
            table,
        )


def _forget_field(operation: ForgetField, ctx: _Context) -> None:
    key = (ctx.app_label, operation.model_name_lower)
    old = ctx.state.models[key].fields[operation.name]
    if not old.null and old.db_default is NOT_PROVIDED:
        table = table_of(ctx.state, key)
        ctx.add(
            "ML001",
            f"forgets field {operation.model_name}.{operation.name} whose column in {table} is "
            "NOT NULL without a db_default; this release's inserts would fail",
            table,
        )


def _drop(operation: Any, ctx: _Context) -> None:
    model_name = getattr(operation, "model_name", None) or operation.name
    table = ctx.existing(model_name)
    if table is None:
        return
    post_deploy = is_post_deploy(ctx.migration)
    if isinstance(operation, migrations.RemoveField):
        old = ctx.state.models[(ctx.app_label, operation.model_name_lower)].fields[operation.name]
        if post_deploy and (old.null or old.db_default is not NOT_PROVIDED):
            return  # the contract step: the new release, which runs alone by then, omits it
        what = f"drops column {operation.name} of {table}"
        if post_deploy:
            what += " (NOT NULL without a db_default, so the new release cannot insert before)"
    else:
        if post_deploy:
            return  # the new release, which runs alone by then, has no model for it
        what = f"drops table {table}"
    ctx.add("ML002", f"{what}, which the running release still uses", table)


def _drop_forgotten(operation: DropForgotten, ctx: _Context) -> None:
    if (operation.table, operation.column) in ctx.forgotten:
        return
    what = operation.table + (f".{operation.column}" if operation.column else "")
    ctx.add(
        "ML002",
        f"drops {what}, which no earlier migration forgot (ForgetField/ForgetModel)",
        operation.table,
    )


def _rename(operation: Any, ctx: _Context) -> None:
    model_name = getattr(operation, "model_name", None) or getattr(operation, "old_name", None)
    if isinstance(operation, migrations.AlterModelTable):
        model_name = operation.name
    table = ctx.existing(model_name or "")
    if table is not None:
        ctx.add("ML003", f"{operation.describe()} on {table}", table)


def _alter_field(operation: Any, ctx: _Context) -> None:
    table = ctx.existing(operation.model_name)
    if table is None:
        return
    old = ctx.state.models[(ctx.app_label, operation.model_name_lower)].fields[operation.name]
    new = operation.field
    column = f"{table}.{new.db_column or _column_name(new, operation.name)}"
    if (old.db_column or operation.name) != (new.db_column or operation.name):
        ctx.add("ML003", f"renames column {table}.{old.db_column or operation.name}", table)
    if _type_changes(old, new):
        ctx.add("ML006", f"changes the type of {column}", table)
    if old.null and not new.null:
        ctx.add("ML006", f"makes {column} NOT NULL", table)
    if (new.unique and not old.unique) or (
        getattr(new, "db_index", False) and not getattr(old, "db_index", False) and not new.unique
    ):
        ctx.add("ML004", f"adds an index on {column} without CONCURRENTLY", table)


def _type_changes(old: Any, new: Any) -> bool:
    old_path, _, old_kwargs = old.deconstruct()[1:]
    new_path, _, new_kwargs = new.deconstruct()[1:]
    if not (old.is_relation or new.is_relation):
        # The column type decides; a new Python class over the same type changes nothing.
        # db_type() reads the backend's type names only: no query, no connection.
        return not compatible_type(old.db_type(connection), new.db_type(connection) or "")
    if old_path != new_path:
        return True
    if (new_kwargs.get("max_length") or 0) < (old_kwargs.get("max_length") or 0):
        return True  # widening a varchar is a catalog change only; narrowing rewrites
    return any(old_kwargs.get(k) != new_kwargs.get(k) for k in ("max_digits", "decimal_places"))


def _add_index(operation: Any, ctx: _Context) -> None:
    if isinstance(operation, AddIndexConcurrently):
        _concurrently_needs_no_transaction(operation, ctx)
        return
    table = ctx.existing(operation.model_name)
    if table is not None:
        ctx.add(
            "ML004", f"builds index {operation.index.name} on {table} without CONCURRENTLY", table
        )


def _concurrently_needs_no_transaction(operation: Any, ctx: _Context) -> None:
    if getattr(ctx.migration, "atomic", True):
        ctx.add("ML007", f"{operation.describe()} in an atomic migration")


def _add_constraint(operation: Any, ctx: _Context) -> None:
    if isinstance(operation, AddConstraintNotValid):
        return
    table = ctx.existing(operation.model_name)
    if table is not None:
        name = operation.constraint.name
        ctx.add(
            "ML005",
            f"adds constraint {name} on {table} and checks every row under a write lock",
            table,
        )


def _together(operation: Any, ctx: _Context) -> None:
    table = ctx.existing(operation.name)
    if table is None:
        return
    option = operation.option_name
    before = set(ctx.state.models[(ctx.app_label, operation.name_lower)].options.get(option, []))
    if set(operation.option_value or []) - before:
        ctx.add("ML004", f"{operation.describe()} builds an index without CONCURRENTLY", table)


_CREATE_INDEX = re.compile(r"\bCREATE\s+(UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)", re.IGNORECASE)
_DROPS = re.compile(r"\b(DROP\s+(COLUMN|TABLE)|RENAME\s+(COLUMN|TO))\b", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"\bCREATE\s+(UNLOGGED\s+)?TABLE\b", re.IGNORECASE)


# Renaming an index changes no table and nothing the running release reads (it names
# no index): the way to rebuild an index concurrently under its own name.
_ALTER_INDEX = re.compile(r"^\s*ALTER\s+INDEX\b", re.IGNORECASE)


def _run_sql(operation: Any, ctx: _Context) -> None:
    text = "\n".join(s for s in _statements(operation.sql) if not _ALTER_INDEX.match(s))
    if _CREATE_INDEX.search(text) and not _CREATE_TABLE.search(text):
        ctx.add("ML004", "runs CREATE INDEX without CONCURRENTLY")
    match = _DROPS.search(text)
    if match:
        ctx.add("ML002" if "DROP" in match.group(1).upper() else "ML003", f"runs {match.group(1)}")


def _statements(sql: Any) -> Iterator[str]:
    if isinstance(sql, str):
        yield sql
    elif isinstance(sql, list | tuple):
        for item in sql:
            yield item[0] if isinstance(item, list | tuple) else str(item)


# The first matching entry decides, so subclasses come before their base classes.
_RULES_BY_OPERATION: list[tuple[type | tuple[type, ...], Callable[[Any, _Context], None]]] = [
    (migrations.CreateModel, _create_model),
    (migrations.AddField, _add_field),
    (ForgetField, _forget_field),
    (ForgetModel, _nothing),
    ((migrations.RemoveField, migrations.DeleteModel), _drop),
    (DropForgotten, _drop_forgotten),
    ((migrations.RenameField, migrations.RenameModel, migrations.AlterModelTable), _rename),
    (migrations.AlterField, _alter_field),
    (migrations.AddIndex, _add_index),
    (RemoveIndexConcurrently, _concurrently_needs_no_transaction),
    (migrations.AddConstraint, _add_constraint),
    ((migrations.AlterUniqueTogether, migrations.AlterIndexTogether), _together),
    (migrations.RunSQL, _run_sql),
]
