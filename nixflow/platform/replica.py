"""An optional read replica (DATABASE_REPLICA_URL) for reports and dashboards.

Only reads that say so go to the replica: code wraps them in ``replica_reads()``, and
the router sends the ORM's reads inside it to the ``replica`` alias. Everything else --
every write, and every read that must see what was just written (a ticket page after
its save, a permission check) -- stays on the primary. A router that sent all reads to
the replica would show an agent a reply missing right after sending it, for as long as
the replica lags.

A replica that cannot be reached costs no error page: ``replica_reads()`` tries its
connection first and, when that fails, logs it and lets the reads run on the primary.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

REPLICA = "replica"
ROUTER = "nixflow.platform.replica.ReplicaRouter"

# The alias reads go to inside replica_reads(); None outside it.
_reading_from: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nixflow_replica_reads", default=None
)


def settings_from_env(env: Any, *, databases: dict[str, Any]) -> dict[str, Any]:
    """The settings a read replica adds; none while DATABASE_REPLICA_URL is unset.

    The replica alias gets the primary's connection settings (CONN_MAX_AGE, health
    checks) and a short connect timeout (``connect_timeout`` in the URL overrides it),
    so that a replica that is down costs a report a few seconds, not a minute."""
    url = env.str("DATABASE_REPLICA_URL", default="")
    if not url:
        return {"DATABASES": databases}
    replica = env.db_url_config(url)
    primary = databases[DEFAULT_DB_ALIAS]
    replica.setdefault("CONN_MAX_AGE", primary.get("CONN_MAX_AGE", 0))
    replica["CONN_HEALTH_CHECKS"] = True
    replica.setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_REPLICA_CONNECT_TIMEOUT", default=3)
    )
    # Tests never create a database on the replica: it is a copy of the primary's.
    replica["TEST"] = {"MIRROR": DEFAULT_DB_ALIAS}
    return {"DATABASES": {**databases, REPLICA: replica}, "DATABASE_ROUTERS": [ROUTER]}


def configured() -> bool:
    return REPLICA in connections.settings


@contextmanager
def replica_reads() -> Iterator[str]:
    """Run the ORM's reads inside on the replica when one is configured and answers;
    yields the alias they go to (for raw cursors and ``transaction.atomic(using=)``)."""
    alias = DEFAULT_DB_ALIAS
    if configured() and not connections[DEFAULT_DB_ALIAS].in_atomic_block:
        try:
            connections[REPLICA].ensure_connection()
            alias = REPLICA
        except OperationalError as error:
            logger.warning(
                "The read replica cannot be reached; reading from the primary: %s", error
            )
            connections[REPLICA].close()
    token = _reading_from.set(alias)
    try:
        yield alias
    finally:
        _reading_from.reset(token)


class ReplicaRouter:
    """Reads inside ``replica_reads()`` go to the replica; all else to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return _reading_from.get()

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # Both aliases hold the same rows: a row read from the replica may be linked to
        # one read from the primary.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # The replica is read-only and replays the primary's migrations.
        return db == DEFAULT_DB_ALIAS


def reads_connection() -> BaseDatabaseWrapper:
    """The connection raw SQL reads go to: the replica's inside ``replica_reads()`` (when
    it answered), the primary's elsewhere."""
    return connections[_reading_from.get() or DEFAULT_DB_ALIAS]
