"""Benchmark databases kept between runs: loading a million tickets takes a quarter of
an hour or more, so the benchmarks that need one (admin_desk, ticket_search) keep it
under a name per size and record on it, with ``COMMENT ON DATABASE``, what was loaded.
The next run with the same parameters reuses it (``open_kept`` starts such a run)."""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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


def load_recorded(
    database: str, wanted: dict[str, Any], *, started: float, output: str, load: list[float]
) -> dict[str, Any]:
    """Record a load that just succeeded on its database (``record_load``): what was
    ``wanted``, when, how long since ``started`` (``time.monotonic()``), the loader's last
    line of ``output`` and the load averages sampled in ``load``; say the summary and return
    the figures a benchmark reports, marked not reused."""
    from bench.tickets_api import say

    info = {
        **wanted,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_seconds": round(time.monotonic() - started, 1),
        "load_summary": output.strip().splitlines()[-1],
        "load_average_during_load": [round(x, 2) for x in load],
    }
    record_load(database, info)
    say(f"   {info['load_summary']}")
    return {**info, "reused": False}


def use(database: str) -> None:
    """Point this process's Django at ``database`` (the benchmarks that time pages in
    process: the client's requests then read the kept data)."""
    from django.db import connections

    connections["default"].close()
    connections["default"].settings_dict["NAME"] = database


@dataclass(frozen=True)
class Opened:
    load: dict[str, Any]  # what prepare returned: the load's figures, reused or not
    server_version: str


def open_kept(
    args: argparse.Namespace,
    cleanup: contextlib.ExitStack,
    prepare: Callable[[argparse.Namespace, dict[str, str]], dict[str, Any]],
) -> Opened | None:
    """What each kept-database benchmark's run starts with: a scratch var dir, the child
    processes' environment on ``args.database``, the drop at the end with ``--drop``, the
    load (``prepare``, which reuses what matches), then Django pointed at it. None when
    ``--load-only`` says to stop there."""
    from bench.tickets_api import child_env, say
    from tests.support.processes import database_url, drop_database

    var_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-bench-")))
    env = child_env(database_url(args.database), var_dir)
    if args.drop:
        cleanup.callback(drop_database, args.database)
    load = prepare(args, env)
    if getattr(args, "load_only", False):
        say("== loaded; --load-only: nothing timed")
        return None
    use(args.database)
    from django.db import connection

    cleanup.callback(connection.close)  # closed before the drop above (last in, first out)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    return Opened(load=load, server_version=server_version)


def add_kept_arguments(parser: argparse.ArgumentParser, *, results: Path, prefix: str) -> None:
    """The options every kept-database benchmark takes; ``kept_database_name`` then
    names the database when ``--database`` did not."""
    parser.add_argument("--fresh", action="store_true", help="Rebuild the kept database.")
    parser.add_argument("--drop", action="store_true", help="Drop the database at the end.")
    parser.add_argument("--load-only", action="store_true", help="Load or migrate; time nothing.")
    parser.add_argument("--output", type=Path, default=results)
    parser.add_argument("--database", help=f"Database name (default {prefix}_<size>).")


def kept_database_name(args: argparse.Namespace, prefix: str, size: int) -> str:
    """``--database``, else one database per size: ``<prefix>_<size>``."""
    return str(args.database or f"{prefix}_{size}")
