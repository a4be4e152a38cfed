"""A backup restores: scripts/backup.sh then scripts/restore.sh into a fresh database,
after which the schema check, the event log's verification and the API pass.

Real parts: the scripts run pg_dump and pg_restore of the server's version against a
scratch database with tickets, comments, an attachment, events and seals.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.faults.stack import api_call
from tests.support.processes import (
    REPO,
    ScratchDatabase,
    drop_database,
    run,
    scratch_name,
    web_server,
)

pytestmark = pytest.mark.subprocess

FILL = """
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from eventlog import sealing
from nixflow import services
from nixflow.models import Role
from tests.factories import default_workflow

default_workflow()
agent = services.user_create(username="agent", email="agent@desk.test", role=Role.AGENT)
print("TOKEN", Token.objects.create(user=agent).key)
requester = services.user_create(username="dave", email="dave@example.com", role=Role.REQUESTER)
for n in range(5):
    ticket = services.ticket_create(requester=requester, title=f"Backed up {n}", actor=requester)
    services.comment_create(ticket=ticket, author=agent, body=f"Seen {n}")
log = SimpleUploadedFile("error.log", b"disk full\\n", content_type="text/plain")
services.comment_create(ticket=ticket, author=requester, body="The log", attachments=[log])
print("SEALS", len(sealing.seal_pending()))
# One more change after the seal: the restored log has an unsealed tail too.
services.ticket_update(ticket=ticket, actor=agent, data={"title": "Backed up, renamed"})
print("TICKET", ticket.key)
"""


@pytest.fixture
def restored_name() -> Iterator[str]:
    name = scratch_name("nixflow_restored")
    yield name
    drop_database(name)


def script(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / name), *args],
        cwd=REPO,
        env={**env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_backup_restores_into_a_fresh_database_that_checks_verifies_and_serves(
    scratch_db: ScratchDatabase, restored_name: str, tmp_path: Path
) -> None:
    filled = scratch_db.manage("shell", "-c", FILL)
    assert filled.returncode == 0, filled.output
    values = dict(line.split()[:2] for line in filled.output.splitlines() if line[:1].isupper())
    assert int(values["SEALS"]) >= 1
    counts = "SELECT (SELECT count(*) FROM eventlog_eventlog), (SELECT count(*) FROM eventlog_seal)"
    (events, seals) = scratch_db.sql(counts)[0]
    (media_file,) = scratch_db.sql("SELECT file FROM nixflow_attachment")[0]

    backup = script("backup.sh", str(tmp_path / "backup"), env=scratch_db.env())
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert {p.name for p in (tmp_path / "backup").iterdir()} == {
        "database.dump", "media.tar", "MANIFEST", "SHA256SUMS",
    }  # fmt: skip

    # A fresh place: another database and an empty media directory.
    restored = ScratchDatabase(restored_name, tmp_path / "restored")
    restored.var_dir.mkdir()
    restore = script("restore.sh", str(tmp_path / "backup"), restored_name, env=restored.env())
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert f"Event log intact: {events} events, {seals} seals verified." in restore.stdout

    assert restored.manage("check").returncode == 0
    assert restored.sql(counts) == [(events, seals)]
    restored_file = restored.var_dir / "media" / media_file
    assert restored_file.read_bytes() == b"disk full\n"
    assert_still_append_only(restored)

    token, key = values["TOKEN"], values["TICKET"]
    with web_server(restored) as base:
        response = api_call(base, token, "GET", f"/api/tickets/{key}/")
        assert response.status == 200, response
        assert response.body["title"] == "Backed up, renamed"
        created = api_call(base, token, "POST", "/api/tickets/", {"title": "After the restore"})
        assert created.status == 201, created  # the sequences continue past restored ids
    verified = restored.manage("verify_eventlog", "--seal")
    assert verified.returncode == 0, verified.output


def assert_still_append_only(db: ScratchDatabase) -> None:
    """The triggers came back with the restore: the log refuses edits as before."""
    for statement in (
        "UPDATE eventlog_eventlog SET type = 'forged.event'",
        "DELETE FROM eventlog_seal",
        "TRUNCATE eventlog_eventlog CASCADE",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.sql(statement)


def test_restore_refuses_a_database_that_has_tables(
    scratch_db: ScratchDatabase, tmp_path: Path
) -> None:
    backup = script("backup.sh", str(tmp_path / "backup"), env=scratch_db.env())
    assert backup.returncode == 0, backup.stderr
    restore = script("restore.sh", str(tmp_path / "backup"), scratch_db.name, env=scratch_db.env())
    assert restore.returncode != 0
    assert "exists and has" in restore.stdout + restore.stderr
    assert run([sys.executable, "manage.py", "check"], scratch_db.env()).returncode == 0
