"""The schema guard in-process: `check`, /readyz and the commands that must keep working.

Each test changes the schema inside its own transaction (PostgreSQL DDL is
transactional), so the rollback at the end restores the test database.
"""

from __future__ import annotations

import importlib

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import Client
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings

from nixflow.platform import schema_guard

pytestmark = pytest.mark.django_db


def run_sql(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement)


def check_output() -> str:
    with pytest.raises(SystemCheckError) as failure:
        call_command("check")
    return str(failure.value)


def readyz(client: Client) -> tuple[int, dict]:
    response = client.get("/readyz")
    return response.status_code, response.json()


def test_check_passes_and_readyz_is_ready_on_a_migrated_database(client: Client) -> None:
    call_command("check")
    assert schema_guard.find_problems() == []
    assert readyz(client) == (200, {"status": "ready"})


def test_healthz_answers_without_the_database(client: Client) -> None:
    run_sql("DROP TABLE django_migrations")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_unapplied_migration_is_named_with_migrate_as_the_fix(client: Client) -> None:
    run_sql("DELETE FROM django_migrations WHERE app = 'sessions'")

    output = check_output()
    assert "nixflow.E001" in output
    assert "App 'sessions' has unapplied migrations: 0001_initial." in output
    assert "Fix: python manage.py migrate" in output

    status, body = readyz(client)
    assert status == 503
    assert body["status"] == "unavailable"
    assert [p["kind"] for p in body["problems"]] == ["unapplied_migrations"]
    assert body["problems"][0]["fix"] == "python manage.py migrate"


def test_column_dropped_by_hand_is_named_with_its_table(client: Client) -> None:
    run_sql("ALTER TABLE nixflow_user DROP COLUMN role CASCADE")

    output = check_output()
    assert "nixflow.E003" in output
    assert "Column nixflow_user.role (field nixflow.User.role) is missing" in output
    assert "sqlmigrate nixflow 0001_initial" in output

    status, body = readyz(client)
    assert status == 503
    assert {p["kind"] for p in body["problems"]} == {"missing_schema"}


def test_table_dropped_by_hand_is_named_with_the_migration_that_creates_it(
    client: Client,
) -> None:
    run_sql("DROP TABLE authtoken_token")

    output = check_output()
    assert "Table 'authtoken_token' of model authtoken.Token is missing" in output
    assert "migration authtoken.0001_initial that creates it is recorded as applied" in output
    assert "python manage.py migrate authtoken zero --fake" in output
    assert readyz(client)[0] == 503


def test_missing_named_constraint_and_foreign_key_are_reported(client: Client) -> None:
    run_sql("ALTER TABLE nixflow_user DROP CONSTRAINT nixflow_user_role_valid")
    run_sql(
        "ALTER TABLE authtoken_token DROP CONSTRAINT " + _constraint_name("authtoken_token", "f")
    )

    output = check_output()
    assert "'nixflow_user_role_valid' on table 'nixflow_user'" in output
    assert "foreign key on authtoken_token.user_id" in output


def _constraint_name(table: str, kind: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = %s",
            [table, kind],
        )
        return cursor.fetchone()[0]


def record_newer_release_migration() -> None:
    run_sql(
        "INSERT INTO django_migrations (app, name, applied) "
        "VALUES ('nixflow', '0999_from_a_newer_release', now())"
    )


def test_database_ahead_but_compatible_is_a_warning_and_readyz_stays_ready(
    client: Client,
) -> None:
    # What a newer release's additive migration leaves: a new table, a nullable column
    # and a NOT NULL column with a default. This code keeps working on all of them.
    record_newer_release_migration()
    run_sql("CREATE TABLE nixflow_newer_thing (id bigint PRIMARY KEY)")
    run_sql("ALTER TABLE nixflow_ticket ADD COLUMN newer_note text NULL")
    run_sql("ALTER TABLE nixflow_ticket ADD COLUMN newer_flag boolean NOT NULL DEFAULT false")

    call_command("check")  # warnings do not fail it
    assert schema_guard.find_problems() == []
    warnings = schema_guard.inspect()
    assert [(w.check_id, w.severity) for w in warnings] == [("nixflow.W004", "warning")]
    assert "0999_from_a_newer_release" in warnings[0].message
    assert "the database is ahead of the code" in warnings[0].message

    status, body = readyz(client)
    assert status == 200
    assert body["status"] == "ready"
    assert [w["check_id"] for w in body["warnings"]] == ["nixflow.W004"]


INCOMPATIBLE_CHANGES = {
    "a column this code reads was dropped": (
        "ALTER TABLE nixflow_ticket DROP COLUMN title CASCADE",
        "Column nixflow_ticket.title (field nixflow.Ticket.title) is missing from the database",
    ),
    "a NOT NULL column without a default that this code does not write": (
        "ALTER TABLE nixflow_ticket ADD COLUMN newer_code text NOT NULL",
        (
            "Column nixflow_ticket.newer_code, which this code does not know, is NOT NULL "
            "without a default: every insert of model nixflow.Ticket by this code would fail"
        ),
    ),
    "a column's type was narrowed": (
        "ALTER TABLE nixflow_ticket ALTER COLUMN title TYPE varchar(5) USING left(title, 5)",
        (
            "Column nixflow_ticket.title (field nixflow.Ticket.title) has type "
            "character varying(5) in the database; this code expects varchar("
        ),
    ),
    "a nullable field's column became NOT NULL": (
        "ALTER TABLE nixflow_ticket ALTER COLUMN resolved_at SET NOT NULL",
        "is NOT NULL in the database; this code may write NULL to it",
    ),
    "a table this code uses was dropped": (
        "DROP TABLE authtoken_token",
        "Table 'authtoken_token' of model authtoken.Token, which this code uses, is missing",
    ),
    "a named index this code declares was dropped": (
        "DROP INDEX sla_metric_at_risk",
        "Index or constraint 'sla_metric_at_risk' on table 'sla_slametric'",
    ),
}


@pytest.mark.parametrize("change", list(INCOMPATIBLE_CHANGES))
def test_database_ahead_and_incompatible_is_an_error_naming_what_changed(
    client: Client, change: str
) -> None:
    statement, needle = INCOMPATIBLE_CHANGES[change]
    record_newer_release_migration()
    run_sql(statement)

    output = check_output()
    assert "nixflow.E004" in output
    assert needle in output
    assert "0999_from_a_newer_release" in output

    status, body = readyz(client)
    assert status == 503
    assert body["problems"][0]["kind"] == "incompatible_schema"
    assert needle in " ".join(p["message"] for p in body["problems"])


def test_applied_migrations_of_apps_not_installed_are_not_drift() -> None:
    run_sql(
        "INSERT INTO django_migrations (app, name, applied) "
        "VALUES ('an_app_removed_long_ago', '0001_initial', now())"
    )
    assert schema_guard.find_problems() == []


def test_migrate_showmigrations_sqlmigrate_and_makemigrations_keep_working_on_drift() -> None:
    run_sql(
        "INSERT INTO django_migrations (app, name, applied) "
        "VALUES ('nixflow', '0999_from_a_newer_release', now())"
    )
    run_sql("DROP TABLE authtoken_token")

    call_command("migrate", verbosity=0)
    call_command("showmigrations", verbosity=0)
    call_command("sqlmigrate", "nixflow", "0001_initial", verbosity=0)
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)
    # ...while `check` still refuses: migrate did not hide the problems.
    assert "authtoken_token" in check_output()


def test_check_reports_every_problem_at_once() -> None:
    run_sql("DELETE FROM django_migrations WHERE app = 'sessions'")
    run_sql("DROP TABLE authtoken_token")
    kinds = [p.kind for p in schema_guard.find_problems()]
    assert kinds == ["unapplied_migrations", "missing_schema"]
    record_newer_release_migration()
    # With the database ahead, what this code uses is judged against the live schema.
    kinds = [p.kind for p in schema_guard.find_problems()]
    assert kinds == ["unapplied_migrations", "incompatible_schema"]


def test_check_skip_schema_runs_only_djangos_checks() -> None:
    run_sql("DROP TABLE authtoken_token")
    call_command("check", skip_schema=True)


def test_raise_if_drifted_carries_the_same_message_as_check() -> None:
    run_sql("DROP TABLE authtoken_token")
    with pytest.raises(schema_guard.SchemaDriftError) as refused:
        schema_guard.raise_if_drifted("web server")
    message = str(refused.value)
    assert message.startswith("NixFlow web server refuses to start")
    assert "Table 'authtoken_token' of model authtoken.Token is missing" in message
    assert "Run `python manage.py check` for the full report." in message


def test_readyz_caches_its_verdict_for_the_configured_seconds(
    client: Client, settings: Settings, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    settings.NIXFLOW_READYZ_CACHE_SECONDS = 60
    schema_guard._readiness_cache.clear()
    assert readyz(client)[0] == 200
    with django_assert_num_queries(0):
        assert readyz(client)[0] == 200
    schema_guard._readiness_cache.clear()


def test_every_model_change_in_the_project_has_a_migration() -> None:
    # The CI gate for rule 3, also run by `make test` before pytest.
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)


def mark_post_deploy(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    migration_class = importlib.import_module(module).Migration
    monkeypatch.setattr(migration_class, "post_deploy", True, raising=False)


def test_pending_post_deploy_migration_the_code_does_not_need_is_a_warning(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A contract step waiting for the rollout to finish: it changes nothing this code uses.
    mark_post_deploy(
        monkeypatch, "rest_framework.authtoken.migrations.0004_alter_tokenproxy_options"
    )
    run_sql("DELETE FROM django_migrations WHERE app = 'authtoken' AND name LIKE '0004%'")

    call_command("check")
    assert schema_guard.find_problems() == []
    (warning,) = schema_guard.inspect()
    assert warning.check_id == "nixflow.W005"
    assert "authtoken.0004_alter_tokenproxy_options" in warning.message
    assert warning.fix.endswith("python manage.py migrate --post-deploy")
    status, body = readyz(client)
    assert status == 200
    assert [w["check_id"] for w in body["warnings"]] == ["nixflow.W005"]


def test_pending_post_deploy_migration_the_code_needs_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mark_post_deploy(monkeypatch, "django.contrib.sessions.migrations.0001_initial")
    run_sql("DELETE FROM django_migrations WHERE app = 'sessions'")
    run_sql("DROP TABLE django_session")

    output = check_output()
    assert "nixflow.E001" in output
    assert "App 'sessions' has unapplied migrations: 0001_initial." in output
