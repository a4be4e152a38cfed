"""Before ``migrate``: which pending migrations are safe under the running release?

``deploy_plan()`` lists the migrations the database has not applied, in the order
``migrate`` would apply them, each with its stage (pre- or post-deploy), the linter's
findings (``migration_lint``) and the tables it touches with PostgreSQL's estimate of
their rows (``pg_class.reltuples``, kept by ``ANALYZE``/autovacuum), and a verdict:

- ``safe``: nothing the linter refuses, or only on tables that do not exist yet;
- ``locks``: it would hold a lock that stalls writes (index or constraint built in
  place, column rewritten) -- for as long as the table is big;
- ``breaks``: the running release would fail on the result (a dropped, renamed or NOT
  NULL column).

``manage.py deploy_plan`` prints it; ``check --deploy`` warns about each unsafe one
(``nixflow.W006``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from nixflow.platform.deploy_stages import is_post_deploy
from nixflow.platform.migration_lint import Finding, lint_node, table_of

BREAKING = {"ML001", "ML002", "ML003"}


@dataclass
class PendingMigration:
    app: str
    name: str
    post_deploy: bool
    findings: list[Finding] = field(default_factory=list)
    rows: dict[str, int | None] = field(default_factory=dict)  # None: table does not exist

    @property
    def stage(self) -> str:
        return "post-deploy" if self.post_deploy else "pre-deploy"

    @property
    def unsafe(self) -> list[Finding]:
        """Findings that matter on this database: not allow-listed, on existing tables."""
        return [
            f
            for f in self.findings
            if not f.allowed and (f.table is None or self.rows.get(f.table) is not None)
        ]

    @property
    def verdict(self) -> str:
        rules = {f.rule for f in self.unsafe}
        if rules & BREAKING:
            return "breaks"
        return "locks" if rules else "safe"

    def line(self) -> str:
        tables = ", ".join(f"{t} ({_rows(n)})" for t, n in sorted(self.rows.items())) or "-"
        return f"{self.app}.{self.name} [{self.stage}] {self.verdict}; tables: {tables}"


def deploy_plan(using: str = DEFAULT_DB_ALIAS) -> list[PendingMigration]:
    connection = connections[using]
    executor = MigrationExecutor(connection)
    loader = executor.loader
    pending = []
    for migration, _backwards in executor.migration_plan(loader.graph.leaf_nodes()):
        key = (migration.app_label, migration.name)
        item = PendingMigration(key[0], key[1], is_post_deploy(migration), lint_node(loader, key))
        tables = _tables_touched(loader, key) | {f.table for f in item.findings if f.table}
        item.rows = _estimated_rows(connection, tables)
        pending.append(item)
    return pending


def _tables_touched(loader: Any, key: tuple[str, str]) -> set[str]:
    state = loader.project_state(key, at_end=False)
    tables = set()
    for operation in loader.graph.nodes[key].operations:
        model_name = getattr(operation, "model_name_lower", None) or getattr(
            operation, "name_lower", None
        )
        if model_name and (key[0], model_name) in state.models:
            tables.add(table_of(state, (key[0], model_name)))
        operation.state_forwards(key[0], state)
    return tables


def _estimated_rows(connection: Any, tables: set[str]) -> dict[str, int | None]:
    estimates: dict[str, int | None] = dict.fromkeys(tables)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class "
            "WHERE relnamespace = current_schema()::regnamespace AND relname = ANY(%s)",
            [sorted(tables)],
        )
        for table, rows in cursor.fetchall():
            estimates[table] = max(rows, 0)  # -1: never analysed; treat as small
    return estimates


def _rows(estimate: int | None) -> str:
    return "new table" if estimate is None else f"~{estimate} rows"
