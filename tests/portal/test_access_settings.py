"""The person's own settings in the portal: name, language, time zone and a password.
A password is set without the old one only by someone who has none; whoever has one
gives it to change it, however they signed in."""

from __future__ import annotations

import pytest
from django.test import Client

from eventlog.models import EventLog
from nixflow.models import User
from nixflow.services import requester_get_or_create
from portal import access
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
SETTINGS = "/portal/settings/"
NEW = "a much longer passphrase 2026"


@pytest.fixture
def ann(db: None) -> User:
    return UserFactory(username="ann", email="ann@example.com", first_name="Ann")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def profile(**changes: str) -> dict[str, str]:
    return {
        "form": "profile",
        "first_name": "Ann",
        "last_name": "",
        "language": "",
        "time_zone": "",
        **changes,
    }


def test_anonymous_visitors_are_sent_to_sign_in_and_back() -> None:
    response = Client().get(SETTINGS)
    assert response.status_code == 302
    assert response["Location"] == "/portal/signin/?next=%2Fportal%2Fsettings%2F"


def test_name_language_and_time_zone_are_saved_and_recorded(ann: User) -> None:
    client = signed_in(ann)

    done = client.post(
        SETTINGS,
        profile(first_name="Anna", last_name="Berg", language="de", time_zone="Europe/Berlin"),
    )

    assert done.status_code == 302
    ann.refresh_from_db()
    assert (ann.first_name, ann.last_name, ann.language, ann.time_zone) == (
        "Anna",
        "Berg",
        "de",
        "Europe/Berlin",
    )
    recorded = EventLog.objects.filter(type="user.updated", subject_id=str(ann.pk))
    fields = sorted(f for e in recorded for f in e.payload["fields"])
    assert fields == ["first_name", "language", "last_name", "time_zone"]
    assert all(e.actor_id == ann.pk for e in recorded)
    # The page now speaks the chosen language, whatever the browser asks for.
    page = client.get(SETTINGS, HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="de">' in page.content.decode()


def test_browser_default_and_the_desks_zone_are_choices(ann: User) -> None:
    User.objects.filter(pk=ann.pk).update(language="de", time_zone="Europe/Berlin")
    signed_in(ann).post(SETTINGS, profile())
    ann.refresh_from_db()
    assert (ann.language, ann.time_zone) == ("", "")


def test_unknown_languages_and_zones_are_refused_with_a_message(ann: User) -> None:
    client = signed_in(ann)
    page = client.post(SETTINGS, profile(language="xx", time_zone="Mars/Olympus"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "There is a problem" in text
    assert "Select a valid choice. xx is not one of the available choices." in text
    ann.refresh_from_db()
    assert ann.language == ""


def test_someone_without_a_password_sets_one_without_an_old_one(db: None) -> None:
    nina, _ = requester_get_or_create(email="nina@example.com")
    client = Client()
    client.post(access.link_path(user=nina, token=access.signin_tokens.make_token(nina)))
    page = client.get(SETTINGS)
    assert "Set a password" in page.content.decode()
    assert 'name="old_password"' not in page.content.decode()

    done = client.post(SETTINGS, {"form": "password", "new_password1": NEW, "new_password2": NEW})

    assert done.status_code == 302
    nina.refresh_from_db()
    assert nina.check_password(NEW)
    assert client.get(SETTINGS).status_code == 200  # still signed in here


def test_a_link_sign_in_does_not_let_anyone_change_an_existing_password(ann: User) -> None:
    client = Client()
    client.post(access.link_path(user=ann, token=access.signin_tokens.make_token(ann)))
    assert int(client.session["_auth_user_id"]) == ann.pk

    refused = client.post(
        SETTINGS, {"form": "password", "new_password1": NEW, "new_password2": NEW}
    )

    assert refused.status_code == 200
    assert "This field is required." in refused.content.decode()
    ann.refresh_from_db()
    assert ann.check_password(PASSWORD)

    wrong = client.post(
        SETTINGS,
        {"form": "password", "old_password": "guess", "new_password1": NEW, "new_password2": NEW},
    )
    assert "Your old password was entered incorrectly." in wrong.content.decode()

    done = client.post(
        SETTINGS,
        {"form": "password", "old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )
    assert done.status_code == 302
    ann.refresh_from_db()
    assert ann.check_password(NEW)


def test_a_weak_password_is_refused_by_the_validators(db: None) -> None:
    nina, _ = requester_get_or_create(email="nina@example.com")
    client = signed_in(nina)
    page = client.post(
        SETTINGS, {"form": "password", "new_password1": "12345678", "new_password2": "12345678"}
    )
    assert page.status_code == 200
    assert "This password is too common." in page.content.decode()
    nina.refresh_from_db()
    assert not nina.has_usable_password()


def test_a_new_password_ends_the_links_mailed_before(ann: User) -> None:
    client = signed_in(ann)  # signing in moves last_login: make the link after it
    ann.refresh_from_db()
    link = access.link_path(user=ann, token=access.signin_tokens.make_token(ann))
    assert Client().get(link).status_code == 200

    client.post(
        SETTINGS,
        {"form": "password", "old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )

    assert Client().post(link).status_code == 404
