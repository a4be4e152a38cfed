"""Real processes against scratch databases, for the schema-guard tests.

Each scratch database is cloned (``CREATE DATABASE ... TEMPLATE``) from a template that
one ``manage.py migrate`` built for this test session, so a test that drops tables or
fakes migrations owns its database and costs a clone, not a migrate.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
INCIDENT_SETTINGS = "tests.incident.settings"


def _server_params() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or db.get("OPTIONS", {}).get("host", "")
    return {
        "host": host,
        "port": str(db.get("PORT") or ""),
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
    }


def admin_connection(dbname: str = "postgres") -> psycopg.Connection:
    params = {k: v for k, v in _server_params().items() if v}
    return psycopg.connect(dbname=dbname, autocommit=True, **params)


def database_url(name: str) -> str:
    p = _server_params()
    auth = p["user"] + (f":{p['password']}" if p["password"] else "")
    if p["host"].startswith("/"):
        return f"postgresql://{auth}@/{name}?host={p['host']}"
    port = f":{p['port']}" if p["port"] else ""
    return f"postgresql://{auth}@{p['host']}{port}/{name}"


@dataclass
class ScratchDatabase:
    name: str
    var_dir: Path

    @property
    def url(self) -> str:
        return database_url(self.name)

    def sql(self, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url_params(), autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def url_params(self) -> str:
        p = {k: v for k, v in _server_params().items() if v}
        return psycopg.conninfo.make_conninfo(dbname=self.name, **p)

    def env(self, migrations: str = "v2", **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": INCIDENT_SETTINGS,
            "INCIDENT_MIGRATIONS": migrations,
            "DATABASE_URL": self.url,
            "NIXFLOW_VAR_DIR": str(self.var_dir),
            "NIXFLOW_READYZ_CACHE_SECONDS": "0",
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("CELERY_BROKER_URL", None)  # the filesystem broker under var_dir
        env.update(extra)
        return env

    def manage(self, *args: str, migrations: str = "v2", timeout: int = 300) -> Outcome:
        return run([sys.executable, "manage.py", *args], self.env(migrations), timeout)


@dataclass
class Outcome:
    returncode: int
    output: str


def run(cmd: list[str], env: dict[str, str], timeout: int = 300) -> Outcome:
    done = subprocess.run(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Outcome(done.returncode, done.stdout)


def create_database(name: str, template: str | None = None) -> None:
    with admin_connection() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with admin_connection() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def scratch_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the processes the guard must stop ------------------------------------------------


def gunicorn_cmd(port: int) -> list[str]:
    return [
        str(VENV_BIN / "gunicorn"),
        "nixflow.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
    ]


def celery_worker_cmd() -> list[str]:
    return [str(VENV_BIN / "celery"), "-A", "nixflow", "worker", "--pool", "solo", "-l", "INFO"]


def celery_beat_cmd(var_dir: Path) -> list[str]:
    return [
        str(VENV_BIN / "celery"),
        "-A",
        "nixflow",
        "beat",
        "-l",
        "DEBUG",
        "--pidfile",
        str(var_dir / "beat.pid"),
    ]


def relay_cmd() -> list[str]:
    """The outbox relay (eventlog.outbox): without it nothing queued reaches the worker."""
    return [sys.executable, "manage.py", "relay_outbox"]


RELAY_READY = "Outbox relay ready."


def refused_components(db: ScratchDatabase, migrations: str = "v2") -> dict[str, Outcome]:
    """Start web, worker and beat on ``db``; each must exit on its own."""
    env = db.env(migrations)
    return {
        "web": run(gunicorn_cmd(free_port()), env, timeout=60),
        "worker": run(celery_worker_cmd(), env, timeout=60),
        "beat": run(celery_beat_cmd(db.var_dir), env, timeout=60),
    }


@contextmanager
def running(
    cmd: list[str], env: dict[str, str], ready_marker: str, timeout: float = 60
) -> Iterator[subprocess.Popen[str]]:
    """Start ``cmd`` and yield once ``ready_marker`` appears in its output."""
    log = open(Path(env["NIXFLOW_VAR_DIR"]) / f"{uuid.uuid4().hex}.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            log.seek(0)
            output = log.read()
            if ready_marker in output:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{cmd[0]} did not become ready:\n{output}")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def web_server(db: ScratchDatabase, migrations: str = "v2") -> Iterator[str]:
    """gunicorn on ``db``; yields its base URL once /healthz answers."""
    port = free_port()
    with running(gunicorn_cmd(port), db.env(migrations), "Booting worker"):
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                get_json(base + "/healthz")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # still booting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base


def get_json(url: str) -> tuple[int, Any]:
    import json

    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
