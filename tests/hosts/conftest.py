"""Fixtures of the several-hosts tests: a database of the test's own, cloned from the
test database pytest-django migrated (no second ``migrate`` per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, connections

from tests.support.processes import ScratchDatabase, create_database, drop_database, scratch_name

SETTINGS = "tests.hosts.settings"


@pytest.fixture
def host_db(transactional_db: None, tmp_path: Path) -> Iterator[ScratchDatabase]:
    """A migrated database of the test's own; its processes run ``tests.hosts.settings``.

    A clone of the test database (``transactional_db``: no transaction held open on it,
    which CREATE DATABASE ... TEMPLATE refuses)."""
    template = connection.settings_dict["NAME"]
    connections.close_all()
    name = scratch_name("nixflow_hosts")
    create_database(name, template=template)
    yield ScratchDatabase(name, tmp_path)
    drop_database(name)


def host_env(db: ScratchDatabase, var_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of one host's process on ``db``: its own var dir."""
    env = db.env(DJANGO_SETTINGS_MODULE=SETTINGS, **extra)
    env.pop("INCIDENT_MIGRATIONS", None)
    if var_dir is not None:
        var_dir.mkdir(parents=True, exist_ok=True)
        env["NIXFLOW_VAR_DIR"] = str(var_dir)
    return env


from tests.support.s3 import s3_server  # noqa: E402, F401  (the fixture, for test_two_hosts)
