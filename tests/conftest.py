from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from nixflow.models import Role, Stage, Ticket, User, Workflow
from tests.factories import UserFactory, default_workflow
from tests.helpers import as_user, new_ticket
from tests.support.processes import (
    ScratchDatabase,
    create_database,
    drop_database,
    run,
    scratch_name,
)


@pytest.fixture(autouse=True, scope="session")
def _flush_past_append_only_triggers() -> Iterator[None]:
    """Let transactional tests' teardown TRUNCATE the event log.

    The event log's triggers refuse TRUNCATE (eventlog migration 0002), and Django
    empties the test database with TRUNCATE after each transactional test. Only for that
    flush, and only in the test database, triggers are switched off for the flushing
    transaction (session_replication_role needs a superuser, which the tests' own
    PostgreSQL user is). Tests that the triggers work run outside a flush.
    """
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        original(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _default_workflow(request: pytest.FixtureRequest) -> None:
    """Every test that uses the database finds the default workflow, as a fresh install
    does (a transactional test's flush removes it, and --reuse-db keeps the database)."""
    if request.node.get_closest_marker("django_db") is not None:
        request.getfixturevalue("_django_db_helper")
    elif "transactional_db" in request.fixturenames:
        request.getfixturevalue("transactional_db")
    elif "db" in request.fixturenames:
        request.getfixturevalue("db")
    else:
        return
    default_workflow()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    # PBKDF2's deliberate slowness protects stored passwords, not test users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _readyz_without_cache(settings: Settings) -> None:
    settings.NIXFLOW_READYZ_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def _cache_of_its_own(settings: Settings) -> None:
    """An empty in-memory cache for each test (the live server's thread shares it).

    Rate limits count in the cache, and every test client comes from 127.0.0.1: with the
    file cache under var/, requests of earlier tests, earlier runs and other xdist workers
    would count against this one. The rates stay as configured; tests/test_security.py
    shows each limit at work.
    """
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}
    }
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def agent(db: None) -> User:
    return UserFactory(username="agent", role=Role.AGENT)


@pytest.fixture
def requester(db: None) -> User:
    return UserFactory(username="requester", role=Role.REQUESTER)


@pytest.fixture
def other_requester(db: None) -> User:
    return UserFactory(username="other", role=Role.REQUESTER)


@pytest.fixture
def requester_api(requester: User) -> APIClient:
    """An API client signed in as ``requester``."""
    return as_user(APIClient(), requester)


@pytest.fixture
def agent_api(agent: User) -> APIClient:
    """An API client signed in as ``agent``."""
    return as_user(APIClient(), agent)


@pytest.fixture
def admin_api(admin_user: User) -> APIClient:
    """An API client signed in as pytest-django's ``admin_user`` (a superuser, whose
    role createsuperuser makes admin)."""
    return as_user(APIClient(), admin_user)


@pytest.fixture
def agent_client(client: Client, agent: User) -> Client:
    """A browser session of ``agent``, for the admin and other pages."""
    client.force_login(agent)
    return client


@pytest.fixture
def ticket(requester: User, workflow: Workflow) -> Ticket:
    """``requester``'s ticket "Printer on fire", opened by them through the service."""
    return new_ticket(requester)


@pytest.fixture
def workflow(db: None) -> Workflow:
    return default_workflow()


@pytest.fixture
def stages(workflow: Workflow) -> dict[str, Stage]:
    """The default workflow's stages by name: New, Open, Waiting on requester, ..."""
    return {stage.name: stage for stage in workflow.stages.all()}


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated once per session (with the incident app), to clone from."""
    # Unique per session: two test runs on one server (two checkouts, or xdist workers)
    # must never clone from, or drop, each other's template.
    name = scratch_name("nixflow_tpl")
    create_database(name)
    db = ScratchDatabase(name, tmp_path_factory.mktemp("template"))
    outcome = run([sys.executable, "manage.py", "migrate", "--noinput"], db.env())
    assert outcome.returncode == 0, outcome.output
    yield name
    drop_database(name)


@pytest.fixture
def scratch_db(migrated_template: str, tmp_path: Path) -> Iterator[ScratchDatabase]:
    """A fully migrated database of the test's own, with its own var/ directory."""
    name = scratch_name("nixflow_scratch")
    create_database(name, template=migrated_template)
    yield ScratchDatabase(name, tmp_path)
    drop_database(name)
