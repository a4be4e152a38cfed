"""Users: roles, the e-mail address that identifies a requester, and the demo desk."""

from __future__ import annotations

import stat
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from pytest_django.fixtures import Settings

from nixflow.management.commands.seed_demo import DEMO_USERS
from nixflow.models import Role, User
from nixflow.services import user_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# The logins seed_demo has always printed; its DEMO_USERS may list more people.
NAMED_DEMO_USERS = {
    "admin": "admin",
    "alice": "agent",
    "bob": "agent",
    "carol": "requester",
    "dave": "requester",
}


def test_createsuperuser_makes_an_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long and unguessable phrase")

    call_command(
        "createsuperuser",
        "--noinput",
        "--username=root",
        "--email=root@example.com",
        stdout=StringIO(),
    )

    user = User.objects.get(username="root")
    assert user.role == Role.ADMIN
    assert user.is_agent
    assert user.is_superuser
    assert user.is_staff
    assert user.check_password("a long and unguessable phrase")


@pytest.mark.parametrize(
    ("role", "is_agent"),
    [(Role.REQUESTER, False), (Role.AGENT, True), (Role.ADMIN, True)],
)
def test_agents_and_admins_work_tickets_requesters_do_not(role: Role, is_agent: bool) -> None:
    assert UserFactory(role=role).is_agent is is_agent


# --- e-mail addresses ------------------------------------------------------------------


def test_database_refuses_a_second_user_with_the_same_email_in_other_case() -> None:
    UserFactory(username="ann", email="Ann.Lee@Example.com")

    with pytest.raises(IntegrityError, match="nixflow_user_email_ci_unique"), transaction.atomic():
        User.objects.create(username="ann2", email="ann.lee@EXAMPLE.COM")


def test_users_without_an_email_do_not_collide() -> None:
    UserFactory(username="kiosk1", email="")
    UserFactory(username="kiosk2", email="")

    assert User.objects.filter(email="").count() == 2


def test_user_create_reports_a_taken_email_as_a_validation_error() -> None:
    user_create(username="ann", email="Ann.Lee@Example.com", role=Role.REQUESTER)

    with pytest.raises(ValidationError) as error:
        user_create(username="ann2", email="ann.lee@EXAMPLE.COM", role=Role.REQUESTER)

    assert error.value.messages == ["A user with this e-mail address already exists."]
    assert list(User.objects.values_list("username", flat=True)) == ["ann"]


# --- roles ---------------------------------------------------------------------------------


def test_database_refuses_an_unknown_role_even_when_validation_is_bypassed() -> None:
    user = UserFactory()

    with pytest.raises(IntegrityError, match="nixflow_user_role_valid"), transaction.atomic():
        User.objects.filter(pk=user.pk).update(role="superhero")


@pytest.mark.parametrize(
    ("role", "is_staff", "is_superuser"),
    [(Role.REQUESTER, False, False), (Role.AGENT, True, False), (Role.ADMIN, True, True)],
)
def test_user_create_gives_admin_site_access_by_role(
    role: Role, is_staff: bool, is_superuser: bool
) -> None:
    user = user_create(username="someone", email="someone@example.com", role=role)

    assert (user.is_staff, user.is_superuser) == (is_staff, is_superuser)
    assert not user.has_usable_password()


# --- the demo desk -------------------------------------------------------------------------


@pytest.fixture
def var_dir(settings: Settings, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path
    return tmp_path


def signs_in(username: str, password: str) -> User | None:
    # django-axes checks every sign-in against the request it came with.
    return authenticate(HttpRequest(), username=username, password=password)


def seed_demo(*args: str) -> str:
    """seed_demo without tickets: these tests are about its users and what it prints."""
    out = StringIO()
    call_command("seed_demo", "--tickets", "0", *args, stdout=out)
    return out.getvalue()


def test_seed_demo_creates_each_role_and_prints_a_login_that_works(var_dir: Path) -> None:
    output = seed_demo()

    roles = dict(User.objects.values_list("username", "role"))
    assert roles == {username: role for username, _, role, *_ in DEMO_USERS}
    assert NAMED_DEMO_USERS.items() <= roles.items()
    password_file = var_dir / "demo-password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert "Admin:    http://127.0.0.1:8000/admin/" in output
    assert f"Login:    admin / {password}" in output
    admin = signs_in("admin", password)
    assert admin is not None
    assert (admin.is_staff, admin.is_superuser) == (True, True)
    assert signs_in("carol", password) is not None


def test_seed_demo_links_point_at_the_given_base_url(var_dir: Path) -> None:
    output = seed_demo("--base-url", "https://desk.example.com/")

    assert "Admin:    https://desk.example.com/admin/" in output
    assert "API docs: https://desk.example.com/api/docs/" in output


def test_seed_demo_run_twice_leaves_the_same_users_and_password(var_dir: Path) -> None:
    first = seed_demo()
    count = User.objects.count()

    second = seed_demo()

    assert User.objects.count() == count == len(DEMO_USERS)
    assert "Demo users created: none (already there)" in second
    password = (var_dir / "demo-password").read_text().strip()
    assert f"admin / {password}" in first
    assert f"admin / {password}" in second
    assert signs_in("admin", password) is not None


def test_seed_demo_refuses_in_production(settings: Settings, var_dir: Path) -> None:
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="not in production"):
        seed_demo()

    assert not User.objects.exists()
    assert not (var_dir / "demo-password").exists()
