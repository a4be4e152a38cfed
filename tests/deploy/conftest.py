"""A "new release" for the deploy tests: a copy of this tree with one more change.

The code of the working tree is the *running* release; a copy of it, changed by the
test (a model field and its migration, a migration that drops a column), is the *next*
release. Processes of the running release run from the repository as every process test
does (``tests/support/processes.py``); those of the next release run from the copy
(``--chdir`` / ``--workdir`` and ``PYTHONPATH``), against the same scratch database.
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.processes import (
    REPO,
    VENV_BIN,
    Outcome,
    ScratchDatabase,
    free_port,
    get_json,
    gunicorn_cmd,
    run,
    running,
)

_NOT_CODE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "var",
    "staticfiles",
    "*_cache",
    "__pycache__",
    "node_modules",
    "*.egg-info",
    "bench",
    "docs",
)


@dataclass
class Release:
    """The next release: a copy of the code at ``root``."""

    root: Path

    def env(self, db: ScratchDatabase, **extra: str) -> dict[str, str]:
        return db.env(PYTHONPATH=str(self.root), **extra)

    def manage(self, db: ScratchDatabase, *args: str, timeout: int = 180) -> Outcome:
        command = [sys.executable, str(self.root / "manage.py"), *args]
        return run(command, self.env(db), timeout)

    def celery(self, *args: str) -> list[str]:
        return [str(VENV_BIN / "celery"), "--workdir", str(self.root), "-A", "nixflow", *args]

    @contextmanager
    def web_server(self, db: ScratchDatabase) -> Iterator[str]:
        port = free_port()
        command = [*gunicorn_cmd(port), "--chdir", str(self.root)]
        # gunicorn puts its start directory (the repository) first on sys.path, then
        # --chdir's folder before it -- unless that folder is already on the path, so
        # PYTHONPATH must not name it here.
        env = self.env(db)
        env.pop("PYTHONPATH")
        with running(command, env, "Booting worker"):
            base = f"http://127.0.0.1:{port}"
            wait_for(base + "/healthz")
            yield base

    def add_migration(self, app: str, name: str, body: str) -> str:
        """Write ``<app>/migrations/<next number>_<name>.py`` after the app's last one."""
        folder = self.root / app / "migrations"
        numbered = sorted(p.stem for p in folder.glob("[0-9][0-9][0-9][0-9]_*.py"))
        last = numbered[-1]
        stem = f"{int(last[:4]) + 1:04d}_{name}"
        header = "from django.db import migrations, models  # noqa: F401\n\n\n"
        dependency = f"    dependencies = [({app!r}, {last!r})]\n"
        (folder / f"{stem}.py").write_text(
            header + "class Migration(migrations.Migration):\n" + dependency + body
        )
        return stem


def copy_release(destination: Path) -> Release:
    shutil.copytree(REPO, destination, ignore=_NOT_CODE)
    return Release(destination)


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            get_json(url)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


ADDITIVE_FIELDS = """\
    deploy_note = models.TextField(null=True, blank=True)
    escalation_level = models.IntegerField(db_default=0)
"""


@pytest.fixture(scope="module")
def additive_release(tmp_path_factory: pytest.TempPathFactory, migrated_template: str) -> Release:
    """The next release adds two columns to the ticket table, the way the linter allows
    (nullable; NOT NULL with a database default), and has a post-deploy migration."""
    release = copy_release(tmp_path_factory.mktemp("release") / "next")
    models_py = release.root / "nixflow" / "models" / "tickets.py"
    source = models_py.read_text()
    anchor = "    closed_at = models.DateTimeField(null=True, blank=True)\n"
    assert source.count(anchor) == 1
    models_py.write_text(source.replace(anchor, anchor + ADDITIVE_FIELDS))
    template = ScratchDatabase(migrated_template, tmp_path_factory.mktemp("makemigrations"))
    made = release.manage(template, "makemigrations", "nixflow", "--name", "ticket_deploy_note")
    assert made.returncode == 0, made.output
    release.add_migration(
        "nixflow",
        "ticket_deploy_note_comment",
        "    post_deploy = True\n"
        "    operations = [\n"
        "        migrations.RunSQL(\n"
        "            \"COMMENT ON COLUMN nixflow_ticket.deploy_note IS 'for the deploy test'\",\n"
        "            migrations.RunSQL.noop,\n"
        "        )\n"
        "    ]\n",
    )
    return release


@pytest.fixture(scope="module")
def dropping_release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The next release drops a column the running release reads (a plain RemoveField)."""
    release = copy_release(tmp_path_factory.mktemp("release") / "next")
    release.add_migration(
        "nixflow",
        "drop_ticket_description",
        "    operations = [migrations.RemoveField('ticket', 'description')]\n",
    )
    return release


SEED = """
from rest_framework.authtoken.models import Token
from tests.factories import TicketFactory, UserFactory
user = UserFactory(username="deploy-probe")
TicketFactory(requester=user, title="Printer on fire")
print("TOKEN=" + Token.objects.create(user=user).key)
"""


def seed_api_user(db: ScratchDatabase) -> str:
    """A requester with one ticket and an API token, written by the running release."""
    outcome = db.manage("shell", "-c", SEED)
    assert outcome.returncode == 0, outcome.output
    match = re.search(r"TOKEN=(\w+)", outcome.output)
    assert match, outcome.output
    return match.group(1)


def api_status(base: str, token: str) -> int:
    return status_of(base + "/api/tickets/", {"Authorization": f"Token {token}"})


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of a GET; slow answers (a loaded machine) are waited for."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@dataclass
class Probe:
    """Asks ``/readyz`` and the ticket API of ``base`` every 0.1 s until stopped."""

    base: str
    token: str
    answers: list[tuple[str, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.answers.append(("readyz", status_of(self.base + "/readyz")))
                self.answers.append(("api", api_status(self.base, self.token)))
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                self.answers.append((f"unreachable: {error}", 0))
            self._stop.wait(0.1)

    @contextmanager
    def probing(self) -> Iterator[Probe]:
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(15)
