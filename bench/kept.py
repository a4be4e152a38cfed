"""Benchmark databases kept between runs: loading a million tickets takes a quarter of
an hour or more, so the benchmarks that need one (admin_desk, ticket_search) keep it
under a name per size and record on it, with ``COMMENT ON DATABASE``, what was loaded.
The next run with the same parameters reuses it."""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import Any


def wanted_load(args: argparse.Namespace, version: int) -> dict[str, Any]:
    """The parameters a kept database must have been loaded with to be reused."""
    return {
        "tickets": args.tickets,
        "comments_per_ticket": args.comments_per_ticket,
        "seed": args.seed,
        "version": version,
    }


def recorded_load(database: str) -> dict[str, Any] | None:
    """What ``record_load`` wrote on ``database``; None when nothing (or no database)."""
    from tests.support.processes import admin_connection

    with admin_connection() as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [database],
        ).fetchone()
    if row is None or not row[0]:
        return None
    with contextlib.suppress(ValueError):
        return json.loads(row[0])
    return None


def record_load(database: str, info: dict[str, Any]) -> None:
    """Write ``info`` on the database, once its load succeeded."""
    from psycopg import sql

    from tests.support.processes import admin_connection

    with admin_connection(database) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(database), sql.Literal(json.dumps(info))
            )
        )
