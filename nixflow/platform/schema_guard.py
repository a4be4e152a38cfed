"""The schema guard: NixFlow refuses to run on a database that does not match its code.

NixFlow exists because of one incident: a release added models without a migration,
the deploy's ``migrate`` said "No migrations to apply", and the API and the worker then
crashed on "relation does not exist". Django alone lets every step of that pass:
``migrate`` exits 0 with unmigrated model changes, the ``database``-tagged checks are off
by default, and Celery's Django fixup runs the system checks and ignores their result.

``inspect()`` looks for the ways code and database can disagree:

1. ``unapplied_migrations`` - migrations on disk that the database has not applied
   (an error; pending *post-deploy* migrations are only a warning, ``W005``, while the
   live schema already has everything the code uses: see ``docs/deploy.md``);
2. ``unmigrated_model_changes`` - models that differ from what their migrations build
   (what ``makemigrations --check`` finds: the incident itself);
3. ``missing_schema`` - tables, columns, indexes or constraints that the *applied*
   migrations promise but the live database lacks (``migrate --fake``, a hand-dropped
   table or column);
4. the database is *ahead*: migrations recorded as applied that this code does not have.
   That is the normal state of a rolling deploy (the new release migrated, the old
   processes still serve), so the guard then compares what this code's models use with
   the live schema (``schema_compat``): when everything is there with a compatible type
   and nullability, and no unknown column would make this code's inserts fail, it is a
   warning (``W004``) and the processes keep serving; otherwise it is an error
   (``E004``) naming each missing or changed column, table, index or constraint.

Each problem names what is wrong and the command that fixes it. The same report is used
by ``manage.py check`` (``nixflow.E001``-``E006``, ``W004``, ``W005``), by ``runserver``
and the WSGI/ASGI entry points (gunicorn), by the Celery worker and beat (they refuse to
start on an error and log a warning) and by ``/readyz`` (503 with the errors as JSON, or
200 with the warnings).

Kind 3 compares the live database with the migration state of the applied migrations,
not with the models, so that a model change that has no migration yet is reported once,
as kind 2, with the right fix. While the database is ahead, kind 3 is left to kind 4:
a newer release may have removed on purpose what the old migrations created, and what
matters then is whether this code still uses it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddConstraint, AddField, AddIndex, CreateModel
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState

from nixflow.platform import schema_compat
from nixflow.platform.deploy_stages import is_post_deploy

MIGRATE = "python manage.py migrate"
ERROR = "error"
WARNING = "warning"

logger = logging.getLogger("nixflow.schema_guard")


@dataclass(frozen=True)
class SchemaProblem:
    kind: str
    check_id: str
    message: str
    fix: str
    severity: str = ERROR

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class SchemaDriftError(ImproperlyConfigured):
    """Raised by the web entry points when the schema does not match the code."""


def find_problems(using: str = DEFAULT_DB_ALIAS) -> list[SchemaProblem]:
    """The errors of ``inspect``: what makes a process refuse to run."""
    return [problem for problem in inspect(using) if problem.is_error]


def inspect(using: str = DEFAULT_DB_ALIAS) -> list[SchemaProblem]:
    """Every way the database ``using`` disagrees with the code (errors and warnings),
    in a stable order."""
    connection = connections[using]
    try:
        executor = MigrationExecutor(connection)
    except DatabaseError as exc:
        return [_unreachable(using, exc)]
    loader = executor.loader
    problems: list[SchemaProblem] = []
    try:
        loader.check_consistent_history(connection)
    except InconsistentMigrationHistory as exc:
        problems.append(
            SchemaProblem(
                kind="inconsistent_history",
                check_id="nixflow.E006",
                message=str(exc),
                fix="Restore the database from a backup taken before the out-of-order "
                "migration, or apply the missing dependency with the code that has it.",
            )
        )
    conflicts = loader.detect_conflicts()
    unknown = _unknown_applied(loader)
    try:
        if conflicts:
            problems.extend(_conflicts(conflicts))
        else:
            problems.extend(_unapplied_migrations(executor, connection))
            problems.extend(_unmigrated_model_changes(loader))
        if unknown:
            problems.extend(_database_ahead(unknown, loader, connection))
        else:
            problems.extend(_missing_schema(loader, connection))
    except DatabaseError as exc:
        return [_unreachable(using, exc)]
    return problems


def describe_warnings(problems: Iterable[SchemaProblem], *, component: str) -> str:
    """The message a process logs when it starts (or keeps running) despite warnings."""
    lines = [f"NixFlow {component} runs on a database that differs from the code, compatibly:"]
    for problem in problems:
        lines.append(f"  - [{problem.check_id} {problem.kind}] {problem.message}")
        lines.append(f"    Next: {problem.fix}")
    return "\n".join(lines)


def _log_warnings(problems: list[SchemaProblem], component: str) -> None:
    warnings = [p for p in problems if not p.is_error]
    if warnings:
        logger.warning(describe_warnings(warnings, component=component))


def describe(problems: Iterable[SchemaProblem], *, component: str) -> str:
    """The one message every refusing component prints."""
    lines = [f"NixFlow {component} refuses to start: the database schema does not match the code."]
    for problem in problems:
        lines.append(f"  - [{problem.check_id} {problem.kind}] {problem.message}")
        lines.append(f"    Fix: {problem.fix}")
    lines.append("Run `python manage.py check` for the full report.")
    return "\n".join(lines)


def raise_if_drifted(component: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """For WSGI/ASGI servers: an exception at import makes gunicorn stop booting."""
    problems = inspect(using)
    errors = [p for p in problems if p.is_error]
    if errors:
        raise SchemaDriftError(describe(errors, component=component))
    _log_warnings(problems, component)


def exit_if_drifted(component: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """For processes whose framework swallows exceptions (Celery signals): exit 78.

    Writes to the process's real stderr: Celery replaces ``sys.stderr`` with a logging
    proxy that would lose the message when the process exits right after.
    """
    problems = inspect(using)
    errors = [p for p in problems if p.is_error]
    stream = sys.__stderr__ or sys.stderr
    if errors:
        stream.write(describe(errors, component=component) + "\n")
        stream.flush()
        raise SystemExit(78)  # EX_CONFIG from sysexits.h
    warnings = [p for p in problems if not p.is_error]
    if warnings:
        stream.write(describe_warnings(warnings, component=component) + "\n")
        stream.flush()


def schema_check(
    app_configs: Any = None, databases: Iterable[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """The system check behind ``manage.py check`` (see the ``check`` command).

    It is not registered globally: ``migrate`` runs the system checks too, and it must
    keep working on a drifted database, since it is how drift gets fixed.
    """
    messages: list[checks.CheckMessage] = []
    for alias in databases or [DEFAULT_DB_ALIAS]:
        for problem in inspect(alias):
            level = checks.Error if problem.is_error else checks.Warning
            messages.append(
                level(
                    problem.message
                    if alias == DEFAULT_DB_ALIAS
                    else f"[{alias}] {problem.message}",
                    hint=f"Fix: {problem.fix}" if problem.is_error else problem.fix,
                    id=problem.check_id,
                )
            )
    return messages


_readiness_cache: dict[str, tuple[float, list[SchemaProblem]]] = {}


def cached_problems(using: str = DEFAULT_DB_ALIAS) -> list[SchemaProblem]:
    """``inspect`` for probes, remembered ``NIXFLOW_READYZ_CACHE_SECONDS``."""
    ttl = settings.NIXFLOW_READYZ_CACHE_SECONDS
    now = time.monotonic()
    hit = _readiness_cache.get(using)
    if ttl > 0 and hit is not None and now - hit[0] < ttl:
        return hit[1]
    problems = inspect(using)
    _readiness_cache[using] = (now, problems)
    return problems


# --- the kinds -------------------------------------------------------------------------


def _unreachable(using: str, exc: Exception) -> SchemaProblem:
    return SchemaProblem(
        kind="database_unavailable",
        check_id="nixflow.E005",
        message=f"Database {using!r} cannot be queried: {str(exc).strip()}",
        fix="Check DATABASE_URL and that PostgreSQL is running and reachable.",
    )


def _conflicts(conflicts: dict[str, list[str]]) -> list[SchemaProblem]:
    return [
        SchemaProblem(
            kind="conflicting_migrations",
            check_id="nixflow.E006",
            message=f"App {app!r} has conflicting migrations: {', '.join(sorted(names))}.",
            fix=f"python manage.py makemigrations --merge {app}",
        )
        for app, names in sorted(conflicts.items())
    ]


def _unapplied_migrations(executor: MigrationExecutor, connection: Any) -> list[SchemaProblem]:
    plan = [m for m, _backwards in executor.migration_plan(executor.loader.graph.leaf_nodes())]
    if not plan:
        return []
    if all(is_post_deploy(m) for m in plan):
        # The contract step of a release: it may wait until every process runs this
        # release, as long as the live schema already has everything the code uses.
        needed = schema_compat.incompatibilities(connection, executor.loader.migrated_apps)
        if not needed:
            return [_post_deploy_pending(plan)]
    by_app: dict[str, list[str]] = defaultdict(list)
    for migration in plan:
        by_app[migration.app_label].append(migration.name)
    return [
        SchemaProblem(
            kind="unapplied_migrations",
            check_id="nixflow.E001",
            message=f"App {app!r} has unapplied migrations: {', '.join(names)}.",
            fix=MIGRATE,
        )
        for app, names in sorted(by_app.items())
    ]


def _post_deploy_pending(plan: list[Any]) -> SchemaProblem:
    names = ", ".join(f"{m.app_label}.{m.name}" for m in plan)
    return SchemaProblem(
        kind="post_deploy_migrations_pending",
        check_id="nixflow.W005",
        message=f"Post-deploy migrations are not applied yet: {names}. This code does not "
        "need them: the live schema has everything it uses.",
        fix=f"Once every web, worker and beat process runs this release: {MIGRATE} --post-deploy",
        severity=WARNING,
    )


def _unmigrated_model_changes(loader: MigrationLoader) -> list[SchemaProblem]:
    # Exactly what `makemigrations --check` compares: the state the migrations on disk
    # build against the models in the code.
    autodetector = MigrationAutodetector(
        loader.project_state(),
        ProjectState.from_apps(global_apps),
        NonInteractiveMigrationQuestioner(specified_apps=None, dry_run=True),
    )
    changes = autodetector.changes(graph=loader.graph)
    problems = []
    for app, migrations in sorted(changes.items()):
        operations = [op.describe() for migration in migrations for op in migration.operations]
        problems.append(
            SchemaProblem(
                kind="unmigrated_model_changes",
                check_id="nixflow.E002",
                message=f"Models in app {app!r} have changes that no migration captures: "
                f"{'; '.join(operations)}.",
                fix=f"python manage.py makemigrations {app}, commit the migration, then {MIGRATE}",
            )
        )
    return problems


def _unknown_applied(loader: MigrationLoader) -> dict[str, list[str]]:
    # Rows of squashed-away migrations stay in django_migrations while their squash
    # still lists them in `replaces`; those are known. Apps the code does not install
    # at all are not checked: code that lacks an app does not touch its tables.
    replaced = {key for m in loader.replacements.values() for key in m.replaces}
    unknown: dict[str, list[str]] = defaultdict(list)
    for app, name in sorted(loader.applied_migrations):
        if app not in loader.migrated_apps:
            continue
        if (app, name) not in loader.graph.nodes and (app, name) not in replaced:
            unknown[app].append(name)
    return dict(unknown)


def _database_ahead(
    unknown: dict[str, list[str]], loader: MigrationLoader, connection: Any
) -> list[SchemaProblem]:
    ahead = "; ".join(f"{app}: {', '.join(names)}" for app, names in sorted(unknown.items()))
    needed = schema_compat.incompatibilities(connection, loader.migrated_apps)
    if needed:
        return [
            SchemaProblem(
                kind="incompatible_schema",
                check_id="nixflow.E004",
                message=f"{what}. The database is ahead of the code (it has applied "
                f"migrations this code does not have: {ahead}) and no longer matches "
                "what this code uses.",
                fix="Replace these processes with the release that has these migrations. "
                "If that release is not ready, restore the schema this code needs (the "
                "newer release's migrations broke the running release: see docs/deploy.md).",
            )
            for what in needed
        ]
    return [
        SchemaProblem(
            kind="unknown_applied_migrations",
            check_id="nixflow.W004",
            message=f"The database has applied migrations of app {app!r} that this code "
            f"does not have: {', '.join(names)} (the database is ahead of the code). "
            "Everything this code uses is present and compatible, so it keeps serving.",
            fix="Nothing while a rolling deploy is under way: replace these processes with "
            "the release that has these migrations. If they were squashed away on purpose, "
            f"run: {MIGRATE} --prune",
            severity=WARNING,
        )
        for app, names in sorted(unknown.items())
    ]


def _missing_schema(loader: MigrationLoader, connection: Any) -> list[SchemaProblem]:
    applied = [key for key in loader.applied_migrations if key in loader.graph.nodes]
    if not applied:
        return []
    state = loader.graph.make_state(nodes=applied, at_end=True, real_apps=loader.unmigrated_apps)
    live = _LiveSchema(connection)
    problems = []
    for model in state.apps.get_models(include_auto_created=True):
        meta = model._meta
        if (
            meta.app_label not in loader.migrated_apps
            or not meta.managed
            or meta.proxy
            or meta.swapped
        ):
            continue
        problems.extend(_model_problems(model, live, loader, applied))
    return problems


class _LiveSchema:
    """What the live database has, read once per table through Django's introspection."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        with connection.cursor() as cursor:
            self.tables = set(connection.introspection.table_names(cursor))
        self._columns: dict[str, set[str]] = {}
        self._constraints: dict[str, dict[str, dict[str, Any]]] = {}

    def columns(self, table: str) -> set[str]:
        if table not in self._columns:
            with self.connection.cursor() as cursor:
                description = self.connection.introspection.get_table_description(cursor, table)
            self._columns[table] = {column.name for column in description}
        return self._columns[table]

    def constraints(self, table: str) -> dict[str, dict[str, Any]]:
        if table not in self._constraints:
            with self.connection.cursor() as cursor:
                self._constraints[table] = self.connection.introspection.get_constraints(
                    cursor, table
                )
        return self._constraints[table]


def _model_problems(
    model: type[models.Model],
    live: _LiveSchema,
    loader: MigrationLoader,
    applied: list[tuple[str, str]],
) -> list[SchemaProblem]:
    meta = model._meta
    label = f"{meta.app_label}.{meta.object_name}"
    table = meta.db_table
    if table not in live.tables:
        return [
            _missing(
                f"Table {table!r} of model {label} is missing from the database",
                loader,
                applied,
                meta,
            )
        ]

    problems = []
    columns = live.columns(table)
    for field in meta.local_concrete_fields:
        if field.column not in columns:
            problems.append(
                _missing(
                    f"Column {table}.{field.column} (field {label}.{field.name}) is missing "
                    "from the database",
                    loader,
                    applied,
                    meta,
                    field_name=field.name,
                )
            )

    constraints = live.constraints(table)
    by_columns = [(tuple(c["columns"]), c) for c in constraints.values()]
    for name in [i.name for i in meta.indexes] + [c.name for c in meta.constraints]:
        if name not in constraints:
            problems.append(
                _missing(
                    f"Index or constraint {name!r} on table {table!r} (model {label}) is "
                    "missing from the database",
                    loader,
                    applied,
                    meta,
                    index_name=name,
                )
            )
    for field in meta.local_concrete_fields:
        if field.column not in columns:
            continue  # already reported as a missing column
        for what, matches in schema_compat.expected_on(field):
            if not any(cols == (field.column,) and matches(c) for cols, c in by_columns):
                problems.append(
                    _missing(
                        f"The {what} on {table}.{field.column} (field {label}.{field.name}) "
                        "is missing from the database",
                        loader,
                        applied,
                        meta,
                        field_name=field.name,
                    )
                )
    return problems


def _missing(
    what: str,
    loader: MigrationLoader,
    applied: list[tuple[str, str]],
    meta: Any,
    *,
    field_name: str | None = None,
    index_name: str | None = None,
) -> SchemaProblem:
    app_label = meta.app_label
    origin = _creating_migration(
        loader, applied, meta, field_name=field_name, index_name=index_name
    )
    if origin is None:
        message = f"{what}, though the migrations of app {app_label!r} that create it are applied."
        fix = (
            "Restore it from a backup, or recreate it with its statements from "
            f"`python manage.py sqlmigrate {app_label} <migration>`."
        )
        return SchemaProblem(
            kind="missing_schema", check_id="nixflow.E003", message=message, fix=fix
        )
    app, name = origin
    message = (
        f"{what}, though migration {app}.{name} that creates it is recorded as applied "
        "(applied with --fake, or dropped by hand)."
    )
    sqlmigrate = f"python manage.py sqlmigrate {app} {name}"
    if field_name is None and index_name is None:
        fix = (
            f"If the migration was faked: python manage.py migrate {app} "
            f"{_previous_in_app(loader, origin)} --fake && {MIGRATE} {app}. If the table was "
            f"dropped: restore it from a backup or recreate it with its statements from "
            f"`{sqlmigrate}`."
        )
    else:
        fix = f"Recreate it with its statement from `{sqlmigrate}`, or restore from a backup."
    return SchemaProblem(kind="missing_schema", check_id="nixflow.E003", message=message, fix=fix)


def _creating_migration(
    loader: MigrationLoader,
    applied: list[tuple[str, str]],
    meta: Any,
    *,
    field_name: str | None = None,
    index_name: str | None = None,
) -> tuple[str, str] | None:
    """The last applied migration of the model's app that creates the model, field or index."""
    app_label, model_name = meta.app_label, meta.model_name
    plan: list[tuple[str, str]] = []
    for key in sorted(k for k in applied if k[0] == app_label):
        plan.extend(k for k in loader.graph.forwards_plan(key) if k not in plan)
    found = None
    for key in plan:
        if key[0] != app_label:
            continue
        for op in loader.graph.nodes[key].operations:
            if _creates(op, model_name, field_name, index_name):
                found = key
    return found


def _creates(op: Any, model_name: str, field_name: str | None, index_name: str | None) -> bool:
    if isinstance(op, CreateModel):
        return op.name_lower == model_name and _create_model_has(op, field_name, index_name)
    if getattr(op, "model_name_lower", None) != model_name:
        return False
    if isinstance(op, AddField):
        return op.name == field_name
    if isinstance(op, AddIndex):
        return op.index.name == index_name
    if isinstance(op, AddConstraint):
        # django-stubs omits AddConstraint.constraint, which __init__ sets.
        return op.constraint.name == index_name  # type: ignore[attr-defined]
    return False


def _create_model_has(op: CreateModel, field_name: str | None, index_name: str | None) -> bool:
    if field_name is not None:
        return any(name == field_name for name, _ in op.fields)
    if index_name is not None:
        named = [*op.options.get("indexes", []), *op.options.get("constraints", [])]
        return any(item.name == index_name for item in named)
    return True


def _previous_in_app(loader: MigrationLoader, key: tuple[str, str]) -> str:
    parents = [p for p in loader.graph.node_map[key].parents if p.key[0] == key[0]]
    return parents[0].key[1] if parents else "zero"
