"""User services: one requester per address for mail and forms, and admins' changes to
users, each recorded in the event log."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from eventlog.models import EventLog
from nixflow import events
from nixflow.models import Role, User
from nixflow.services import (
    requester_get_or_create,
    user_create,
    user_set_time_zone,
    user_update,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_an_address_that_has_a_user_finds_them_whatever_its_case() -> None:
    carol = UserFactory(username="carol", email="Carol@Example.com")

    user, created = requester_get_or_create(email="carol@EXAMPLE.com", name="Someone Else")

    assert (user, created) == (carol, False)
    assert user.first_name == ""  # a found user is not changed


def test_a_new_address_becomes_a_requester_without_a_password_named_after_it() -> None:
    user, created = requester_get_or_create(email="Dave.Lee@Example.com", name=" Dave  Lee ")

    assert created
    assert (user.username, user.email, user.role) == (
        "dave.lee@example.com",
        "Dave.Lee@example.com",  # Django lower-cases the domain only
        Role.REQUESTER,
    )
    assert (user.first_name, user.last_name) == ("Dave", "Lee")
    assert not user.has_usable_password()
    assert not user.is_staff
    event = EventLog.objects.get(type=events.USER_CREATED, subject_id=str(user.pk))
    assert event.payload == {"username": "dave.lee@example.com", "role": "requester"}


def test_a_taken_username_gets_a_random_suffix_instead() -> None:
    UserFactory(username="erin@example.com", email="someone-else@example.com")

    user, created = requester_get_or_create(email="erin@example.com")

    assert created
    assert user.username.startswith("erin@example.com-")
    assert len(user.username) == len("erin@example.com-") + 6


def test_a_caller_that_looked_up_already_gets_the_existing_user_when_it_appeared() -> None:
    """The race mail and forms meet: the address had no user when they looked, then a
    concurrent request created one. The unique index refuses a second account."""
    existing = UserFactory(username="frank", email="frank@example.com")

    user, created = requester_get_or_create(email="FRANK@example.com", look_up=False)

    assert (user, created) == (existing, False)
    assert User.objects.filter(email__iexact="frank@example.com").count() == 1


@pytest.mark.parametrize(
    ("traits", "is_agent", "is_active"),
    [({"role": Role.AGENT}, True, True), ({"is_active": False}, False, False)],
)
def test_the_caller_sees_whether_the_address_belongs_to_staff_or_an_inactive_account(
    traits: dict, is_agent: bool, is_active: bool
) -> None:
    """Forms refuse to act as such an account; the returned user says what it is."""
    UserFactory(username="grace", email="grace@example.com", **traits)

    user, created = requester_get_or_create(email="grace@example.com")

    assert not created
    assert (user.is_agent, user.is_active) == (is_agent, is_active)


def test_an_admin_changing_a_role_keeps_staff_in_step_and_records_the_change(
    admin_user: User,
) -> None:
    person = user_create(username="hank", email="hank@example.com", role=Role.REQUESTER)

    user_update(user=person, actor=admin_user, data={"role": Role.AGENT, "email": "h@example.com"})

    person.refresh_from_db()
    assert (person.role, person.is_staff, person.email) == (Role.AGENT, True, "h@example.com")
    event = EventLog.objects.get(type=events.USER_UPDATED, subject_id=str(person.pk))
    assert event.actor_id == admin_user.pk
    assert event.payload == {
        "fields": ["email", "is_staff", "role"],
        "changes": {"role": ["requester", "agent"], "is_staff": [False, True]},
    }


def test_an_unchanged_user_records_nothing(admin_user: User) -> None:
    person = UserFactory(role=Role.AGENT)

    user_update(user=person, actor=admin_user, data={"role": Role.AGENT})

    assert not EventLog.objects.filter(type=events.USER_UPDATED).exists()


def test_agents_cannot_change_users_and_admins_cannot_change_superusers(
    agent: User, admin_user: User
) -> None:
    person = UserFactory()
    admin_role = UserFactory(role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        user_update(user=person, actor=agent, data={"role": Role.AGENT})
    with pytest.raises(PermissionDenied):
        user_update(user=admin_user, actor=admin_role, data={"first_name": "Root"})


def test_an_admin_who_is_not_a_superuser_cannot_create_an_admin(agent: User) -> None:
    """An admin is a superuser: creating one is a superuser's decision."""
    role_admin = UserFactory(role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        user_create(username="boss", email="boss@example.com", role=Role.ADMIN, actor=role_admin)
    with pytest.raises(PermissionDenied):
        user_create(username="ag2", email="ag2@example.com", role=Role.AGENT, actor=agent)
    made = user_create(username="ag3", email="ag3@example.com", role=Role.AGENT, actor=role_admin)
    assert (made.is_staff, made.is_superuser) == (True, False)
    assert not User.objects.filter(username__in=["boss", "ag2"]).exists()


def test_people_set_their_own_time_zone_and_admins_anyones(admin_user: User) -> None:
    agent = UserFactory(role=Role.AGENT)
    other = UserFactory(role=Role.AGENT)

    user_set_time_zone(user=agent, time_zone=" Europe/Berlin ", actor=agent)
    user_set_time_zone(user=other, time_zone="Asia/Tokyo", actor=admin_user)

    agent.refresh_from_db()
    other.refresh_from_db()
    assert (agent.time_zone, other.time_zone) == ("Europe/Berlin", "Asia/Tokyo")
    event = EventLog.objects.get(type=events.USER_UPDATED, subject_id=str(agent.pk))
    assert (event.actor_id, event.payload["fields"]) == (agent.pk, ["time_zone"])
    assert event.payload["changes"] == {"time_zone": ["", "Europe/Berlin"]}
    with pytest.raises(PermissionDenied):
        user_set_time_zone(user=other, time_zone="UTC", actor=agent)
    with pytest.raises(ValidationError, match="not a time zone name"):
        user_set_time_zone(user=agent, time_zone="Mars/Olympus", actor=agent)
    other.refresh_from_db()
    assert other.time_zone == "Asia/Tokyo"
