"""The schema guard in real processes: manage.py, gunicorn, the Celery worker and beat.

Every test owns a scratch database cloned from the session's migrated template, with the
`incident` test app installed (tests/incident: the original system's Ticket and the SLA
models that shipped without a migration).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.processes import (
    Outcome,
    ScratchDatabase,
    celery_beat_cmd,
    celery_worker_cmd,
    get_json,
    refused_components,
    running,
    web_server,
)

pytestmark = pytest.mark.subprocess

REFUSAL = "refuses to start: the database schema does not match the code."


def assert_refused(outcomes: dict[str, Outcome], *needles: str) -> None:
    expected_codes = {"web": 3, "worker": 78, "beat": 78}  # gunicorn: worker boot error
    for component, outcome in outcomes.items():
        assert outcome.returncode == expected_codes[component], (component, outcome.output)
        assert REFUSAL in outcome.output, (component, outcome.output)
        for needle in needles:
            assert needle in outcome.output, (component, needle, outcome.output)


def assert_green(db: ScratchDatabase, migrations: str = "v2") -> None:
    """check passes, and web, worker and beat start on ``db``."""
    check = db.manage("check", migrations=migrations)
    assert check.returncode == 0, check.output
    assert "System check identified no issues" in check.output
    with web_server(db, migrations) as base:
        assert get_json(base + "/readyz") == (200, {"status": "ready"})
    env = db.env(migrations)
    with running(celery_worker_cmd(), env, " ready."):
        pass
    with running(celery_beat_cmd(db.var_dir), env, "beat: Ticking with max interval"):
        pass


def test_original_incident_models_without_migration_refused_until_migration_shipped(
    scratch_db: ScratchDatabase,
) -> None:
    # The release before: Ticket only. Roll the scratch database back to it.
    assert scratch_db.manage("migrate", "incident", "0001").returncode == 0

    # The bad release: SLA models in the code, no migration for them. Exactly as in
    # production, `migrate` has nothing to do and exits 0...
    deploy = scratch_db.manage("migrate", "--noinput", migrations="v1")
    assert deploy.returncode == 0, deploy.output
    assert "No migrations to apply." in deploy.output

    # ...but `check` fails, naming the models and the fix,
    check = scratch_db.manage("check", migrations="v1")
    assert check.returncode == 1, check.output
    assert "nixflow.E002" in check.output
    assert "Models in app 'incident' have changes that no migration captures" in check.output
    assert "Create model SLAPolicy" in check.output
    assert "Create model SLAMetric" in check.output
    assert "python manage.py makemigrations incident" in check.output
    # ...and the API and the worker never start to crash on "table does not exist".
    assert_refused(refused_components(scratch_db, "v1"), "Create model SLAPolicy")

    # The tools that fix it keep working in that state.
    assert scratch_db.manage("showmigrations", "incident", migrations="v1").returncode == 0
    sqlmigrate = scratch_db.manage("sqlmigrate", "incident", "0001", migrations="v1")
    assert sqlmigrate.returncode == 0
    assert 'CREATE TABLE "incident_ticket"' in sqlmigrate.output

    # The fixed release ships 0002: now the guard asks for it to be applied...
    check = scratch_db.manage("check", migrations="v2")
    assert check.returncode == 1
    assert "App 'incident' has unapplied migrations: 0002_add_sla." in check.output
    assert_refused(refused_components(scratch_db, "v2"), "0002_add_sla")

    # ...and once it is, everything is green.
    assert scratch_db.manage("migrate", "--noinput").returncode == 0
    assert scratch_db.sql("SELECT to_regclass('incident_slapolicy') IS NOT NULL") == [(True,)]
    assert_green(scratch_db)


def _fake_applied_migration(db: ScratchDatabase) -> None:
    assert db.manage("migrate", "incident", "0001").returncode == 0
    assert db.manage("migrate", "incident", "0002", "--fake").returncode == 0


def _fix_fake_applied_migration(db: ScratchDatabase) -> None:
    # The fix the guard prints for it.
    assert db.manage("migrate", "incident", "0001_initial", "--fake").returncode == 0
    assert db.manage("migrate", "incident").returncode == 0


def _drop_column(db: ScratchDatabase) -> None:
    db.sql("ALTER TABLE incident_slametric DROP COLUMN deadline")


def _restore_column(db: ScratchDatabase) -> None:
    db.sql("ALTER TABLE incident_slametric ADD COLUMN deadline timestamptz NOT NULL")
    db.sql("CREATE INDEX ON incident_slametric (deadline)")


def _unapply_migration(db: ScratchDatabase) -> None:
    assert db.manage("migrate", "incident", "0001").returncode == 0


def _apply_migrations(db: ScratchDatabase) -> None:
    assert db.manage("migrate", "--noinput").returncode == 0


def _database_ahead(db: ScratchDatabase) -> None:
    db.sql(
        "INSERT INTO django_migrations (app, name, applied) "
        "VALUES ('incident', '0003_from_a_newer_release', now())"
    )


def _database_ahead_without_a_column(db: ScratchDatabase) -> None:
    # A newer release's migration dropped a column this code still uses.
    _database_ahead(db)
    _drop_column(db)


def _prune_unknown(db: ScratchDatabase) -> None:
    db.sql("DELETE FROM django_migrations WHERE name = '0003_from_a_newer_release'")


def _restore_column_and_prune(db: ScratchDatabase) -> None:
    _restore_column(db)
    _prune_unknown(db)


DRIFTS: dict[str, tuple[Callable, Callable, list[str]]] = {
    "unapplied migration": (
        _unapply_migration,
        _apply_migrations,
        ["nixflow.E001", "App 'incident' has unapplied migrations: 0002_add_sla."],
    ),
    "migration applied with --fake": (
        _fake_applied_migration,
        _fix_fake_applied_migration,
        [
            "nixflow.E003",
            "Table 'incident_slapolicy' of model incident.SLAPolicy is missing",
            "migration incident.0002_add_sla that creates it is recorded as applied",
            "python manage.py migrate incident 0001_initial --fake",
        ],
    ),
    "column dropped by hand": (
        _drop_column,
        _restore_column,
        [
            "nixflow.E003",
            "Column incident_slametric.deadline (field incident.SLAMetric.deadline) is missing",
        ],
    ),
    "database ahead of the code, without a column this code uses": (
        _database_ahead_without_a_column,
        _restore_column_and_prune,
        [
            "nixflow.E004",
            "Column incident_slametric.deadline (field incident.SLAMetric.deadline) is missing",
            (
                "The database is ahead of the code (it has applied migrations this code does "
                "not have: incident: 0003_from_a_newer_release)"
            ),
        ],
    ),
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_each_drift_is_named_by_check_refused_by_web_worker_beat_and_cleared_by_its_fix(
    scratch_db: ScratchDatabase, drift: str
) -> None:
    cause, fix, needles = DRIFTS[drift]
    # A server already running when the schema drifts stays up but reports not ready.
    with web_server(scratch_db) as base:
        cause(scratch_db)
        status, body = get_json(base + "/readyz")
        assert status == 503, body
        assert body["status"] == "unavailable"
        assert needles[1] in " ".join(p["message"] for p in body["problems"]), body

        check = scratch_db.manage("check")
        assert check.returncode == 1, check.output
        for needle in needles:
            assert needle in check.output, check.output
        assert_refused(refused_components(scratch_db), needles[1])

        fix(scratch_db)
        assert get_json(base + "/readyz") == (200, {"status": "ready"})
    assert_green(scratch_db)


def test_readyz_turns_503_when_the_schema_drifts_under_a_running_server(
    scratch_db: ScratchDatabase,
) -> None:
    with web_server(scratch_db) as base:
        assert get_json(base + "/readyz") == (200, {"status": "ready"})

        # Someone drops 0002's tables by hand while the server runs.
        scratch_db.sql("DROP TABLE incident_slametric, incident_slapolicy")
        status, body = get_json(base + "/readyz")
        assert status == 503
        assert body["status"] == "unavailable"
        assert body["problems"][0]["kind"] == "missing_schema"
        assert "incident_slapolicy" in body["problems"][0]["message"]
        assert body["problems"][0]["fix"].startswith("If the migration was faked")
        assert get_json(base + "/healthz") == (200, {"status": "ok"})

        _fix_fake_applied_migration(scratch_db)
        assert get_json(base + "/readyz") == (200, {"status": "ready"})


def test_database_ahead_but_compatible_keeps_web_worker_and_beat_running_with_a_warning(
    scratch_db: ScratchDatabase,
) -> None:
    # A rolling deploy: a newer release applied an additive migration; this one serves on.
    with web_server(scratch_db) as base:
        _database_ahead(scratch_db)
        scratch_db.sql("ALTER TABLE incident_ticket ADD COLUMN newer_note text NULL")
        status, body = get_json(base + "/readyz")
        assert status == 200, body
        assert [w["check_id"] for w in body["warnings"]] == ["nixflow.W004"]
        assert "0003_from_a_newer_release" in body["warnings"][0]["message"]

        check = scratch_db.manage("check")
        assert check.returncode == 0, check.output
        assert "nixflow.W004" in check.output

        env = scratch_db.env()
        for command, marker in [
            (celery_worker_cmd(), " ready."),
            (celery_beat_cmd(scratch_db.var_dir), "beat: Ticking with max interval"),
        ]:
            with running(command, env, marker):
                pass
        logged = "\n".join(p.read_text() for p in scratch_db.var_dir.glob("*.log"))
        assert logged.count("runs on a database that differs from the code, compatibly") >= 2
        assert "nixflow.W004" in logged
