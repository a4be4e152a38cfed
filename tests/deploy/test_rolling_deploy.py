"""A rolling deploy with real processes: the running release keeps serving while the
next release migrates, an incompatible migration is refused and, if forced, reported,
and ``migrate`` gives up a lock rather than stall the desk.

The running release is the code of this tree; the next release is a copy of it with a
change (``conftest.py``). Both run against one scratch database.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.deploy.conftest import Probe, Release, api_status, seed_api_user
from tests.support.processes import (
    VENV_BIN,
    ScratchDatabase,
    celery_beat_cmd,
    celery_worker_cmd,
    get_json,
    refused_components,
    running,
    web_server,
)

pytestmark = pytest.mark.subprocess


def logs(db: ScratchDatabase) -> str:
    return "\n".join(p.read_text() for p in Path(db.var_dir).glob("*.log"))


def test_running_release_keeps_serving_through_an_additive_migration_then_is_replaced(
    scratch_db: ScratchDatabase, additive_release: Release
) -> None:
    token = seed_api_user(scratch_db)
    env = scratch_db.env()
    with (
        web_server(scratch_db) as old_web,
        running(celery_worker_cmd(), env, " ready.") as old_worker,
        running(celery_beat_cmd(scratch_db.var_dir), env, "beat: Ticking") as old_beat,
    ):
        assert get_json(old_web + "/readyz") == (200, {"status": "ready"})
        with Probe(old_web, token).probing() as probe:
            # The operator's steps, run with the next release's code.
            plan = additive_release.manage(scratch_db, "deploy_plan")
            assert plan.returncode == 0, plan.output
            assert "_ticket_deploy_note [pre-deploy] safe; tables: nixflow_ticket (~" in plan.output
            assert "_ticket_deploy_note_comment [post-deploy] safe" in plan.output
            before = len(probe.answers)
            migrate = additive_release.manage(scratch_db, "migrate", "--pre-deploy", "--noinput")
            assert migrate.returncode == 0, migrate.output
            assert "Held for `migrate --post-deploy`" in migrate.output
            migrated = len(probe.answers)
            deadline = time.monotonic() + 60
            while len(probe.answers) < migrated + 4 and time.monotonic() < deadline:
                time.sleep(0.2)
        # Every answer, before, during and after the migration, was a 200.
        assert 0 < before < migrated < len(probe.answers) - 3, (before, migrated, probe.answers)
        assert {status for _, status in probe.answers} == {200}, probe.answers
        columns = scratch_db.sql(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'nixflow_ticket' AND column_name IN "
            "('deploy_note', 'escalation_level') ORDER BY 1"
        )
        assert columns == [("deploy_note",), ("escalation_level",)]

        # Still ready, saying why the database differs.
        status, body = get_json(old_web + "/readyz")
        assert status == 200
        assert body["status"] == "ready"
        (warning,) = body["warnings"]
        assert warning["check_id"] == "nixflow.W004"
        assert "_ticket_deploy_note" in warning["message"]
        # The old worker and beat kept running; a worker of the old release started now
        # starts as well, and logs the warning.
        assert old_worker.poll() is None
        assert old_beat.poll() is None
        with running(celery_worker_cmd(), env, " ready."):
            assert "nixflow.W004" in logs(scratch_db)
        assert scratch_db.manage("check").returncode == 0

        # The next release comes up beside the old one, ready; post-deploy work pending.
        with additive_release.web_server(scratch_db) as new_web:
            status, body = get_json(new_web + "/readyz")
            assert status == 200, body
            assert [w["check_id"] for w in body["warnings"]] == ["nixflow.W005"]
            assert api_status(new_web, token) == 200
            assert api_status(old_web, token) == 200

    # The old processes are gone; the new worker and beat start, then the contract step.
    new_env = additive_release.env(scratch_db)
    with (
        additive_release.web_server(scratch_db) as new_web,
        running(
            additive_release.celery("worker", "--pool", "solo", "-l", "INFO"),
            new_env,
            " ready.",
            timeout=180,
        ),
        running(
            additive_release.celery(
                "beat", "-l", "DEBUG", "--pidfile", str(scratch_db.var_dir / "beat2.pid")
            ),
            new_env,
            "beat: Ticking",
            timeout=180,
        ),
    ):
        # They run the next release's code: to them only the post-deploy step is pending.
        for component in ("Celery worker", "Celery beat"):
            started = f"{component} runs on a database that differs from the code, compatibly:"
            assert f"{started}\n  - [nixflow.W005" in logs(scratch_db), component
        post = additive_release.manage(scratch_db, "migrate", "--post-deploy", "--noinput")
        assert post.returncode == 0, post.output
        assert "_ticket_deploy_note_comment... OK" in post.output
        assert get_json(new_web + "/readyz") == (200, {"status": "ready"})
        assert api_status(new_web, token) == 200


def test_a_migration_dropping_a_column_the_running_release_reads_is_refused_and_if_forced_named(
    scratch_db: ScratchDatabase, dropping_release: Release
) -> None:
    lint = dropping_release.manage(scratch_db, "lint_migrations")
    assert lint.returncode == 1, lint.output
    assert "_drop_ticket_description: ML002 drop: drops column description of nixflow_ticket" in (
        lint.output
    )
    plan = dropping_release.manage(scratch_db, "deploy_plan")
    assert plan.returncode == 1, plan.output
    assert "_drop_ticket_description [pre-deploy] breaks" in plan.output
    check = dropping_release.manage(scratch_db, "check", "--deploy")
    assert "nixflow.W006" in check.output, check.output
    assert "_drop_ticket_description (pre-deploy) breaks the running release" in check.output

    token = seed_api_user(scratch_db)
    with web_server(scratch_db) as old_web:
        forced = dropping_release.manage(scratch_db, "migrate", "--noinput")
        assert forced.returncode == 0, forced.output

        status, body = get_json(old_web + "/readyz")
        assert status == 503, body
        needle = "Column nixflow_ticket.description (field nixflow.Ticket.description) is missing"
        assert needle in " ".join(p["message"] for p in body["problems"])
        assert {p["check_id"] for p in body["problems"]} == {"nixflow.E004"}
        assert api_status(old_web, token) == 500  # what the 503 warned the balancer about

    # Processes of the old release refuse to start, naming the column.
    for component, outcome in refused_components(scratch_db).items():
        assert outcome.returncode in {3, 78}, (component, outcome.output)
        assert "nixflow_ticket.description" in outcome.output, (component, outcome.output)


def test_migrate_gives_up_a_lock_held_by_a_long_transaction_without_stalling_writers(
    scratch_db: ScratchDatabase, additive_release: Release
) -> None:
    seed_api_user(scratch_db)
    # A long transaction (a report, a forgotten psql session) reads the ticket table.
    holder = psycopg.connect(scratch_db.url_params())
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE nixflow_ticket IN ACCESS SHARE MODE")
    holder_pid = holder.info.backend_pid
    try:
        env = additive_release.env(scratch_db)
        command = [
            str(VENV_BIN / "python"),
            str(additive_release.root / "manage.py"),
            "migrate",
            "--pre-deploy",
            "--noinput",
            "--lock-timeout",
            "1s",
            "--lock-retries",
            "2",
            "--retry-pause",
            "0.5",
        ]
        started = time.monotonic()
        migrate = subprocess.Popen(
            command,
            cwd=additive_release.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Meanwhile a writer inserts a ticket: it may wait behind migrate's lock request,
        # but never longer than the lock timeout, not for the long transaction.
        time.sleep(1.2)
        inserted: list[float] = []

        def write() -> None:
            begin = time.monotonic()
            with psycopg.connect(scratch_db.url_params(), autocommit=True) as writer:
                writer.execute(
                    "INSERT INTO nixflow_ticket (title, description, priority, workflow_id, "
                    "stage_id, requester_id, source, created, updated) "
                    "SELECT 'Written while migrate waits', '', priority, workflow_id, stage_id, "
                    "requester_id, source, now(), now() FROM nixflow_ticket LIMIT 1"
                )
            inserted.append(time.monotonic() - begin)

        writer_thread = threading.Thread(target=write)
        writer_thread.start()
        writer_thread.join(10)
        assert inserted, "the insert was blocked"
        assert inserted[0] < 2.5, inserted
        output, _ = migrate.communicate(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()

    assert migrate.returncode == 1, output
    assert "could not get its lock within lock_timeout 1s" in output
    assert f"pid {holder_pid} holds AccessShareLock on nixflow_ticket" in output
    assert "LOCK TABLE nixflow_ticket IN ACCESS SHARE MODE" in output
    assert "Gave up after 3 tries" in output
    assert "Try 1 of 3; again in 0.5s" in output
    assert elapsed < 20, output
    # Nothing of the migration was applied, and the row written meanwhile is there.
    assert scratch_db.sql(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'nixflow_ticket' AND column_name = 'deploy_note'"
    ) == [(0,)]
    assert scratch_db.sql(
        "SELECT count(*) FROM nixflow_ticket WHERE title = 'Written while migrate waits'"
    ) == [(1,)]

    # Once the long transaction is over, the same command goes through.
    again = additive_release.manage(scratch_db, "migrate", "--pre-deploy", "--noinput")
    assert again.returncode == 0, again.output
