"""The admin: only admins export or erase; the erasure asks for the address again; the
people list has both as actions for admins and not for agents."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from nixflow.models import Role, User
from privacy.models import PrivacyRequest, RequestKind
from tests.factories import UserFactory
from tests.support.browser import (
    browser,
    login,
    message_containing,
    page_containing,
    screenshot,
)

__all__ = ["browser"]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
EXPORT = "/admin/privacy/privacyrequest/export/"
ERASE = "/admin/privacy/privacyrequest/erase/"
PEOPLE = "/admin/nixflow/user/"


@pytest.fixture
def person(db: None) -> User:
    return UserFactory(
        username="zelda",
        email="zelda@example.org",
        first_name="Zelda",
        last_name="Quartermain",
        role=Role.REQUESTER,
    )


def signed_in(role: str) -> Client:
    client = Client()
    client.force_login(UserFactory(username=f"the-{role}", role=role, is_staff=True))
    return client


def test_agents_can_neither_export_nor_erase_nor_see_the_actions(person: User) -> None:
    agent = signed_in(Role.AGENT)

    assert agent.get(EXPORT).status_code == 403
    assert agent.post(EXPORT, {"email": person.email}).status_code == 403
    assert agent.get(ERASE, {"email": person.email}).status_code == 403
    assert agent.post(ERASE, {"email": person.email, "confirm": person.email}).status_code == 403
    assert agent.get("/admin/privacy/privacyrequest/").status_code == 403
    people = agent.get(PEOPLE).content.decode()
    assert "erase_personal_data" not in people
    response = agent.post(
        PEOPLE, {"action": "erase_personal_data", "_selected_action": [person.pk]}
    )
    assert response.status_code in (200, 302)
    assert User.objects.get(pk=person.pk).email == "zelda@example.org"
    assert not PrivacyRequest.objects.exists()


def test_an_admin_downloads_the_export(person: User) -> None:
    admin = signed_in(Role.ADMIN)

    response = admin.post(EXPORT, {"email": "Zelda@Example.org"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        user = json.loads(archive.read("tickets.json"))["user"]
    assert user["last_name"] == "Quartermain"
    assert PrivacyRequest.objects.get().kind == RequestKind.EXPORT


def test_the_export_page_says_when_the_address_is_unknown(db: None) -> None:
    response = signed_in(Role.ADMIN).post(EXPORT, {"email": "nobody@example.org"})

    assert response.status_code == 200
    assert "holds nothing about" in response.content.decode()
    assert not PrivacyRequest.objects.exists()


def test_the_erasure_needs_the_address_typed_again(person: User) -> None:
    admin = signed_in(Role.ADMIN)
    page = admin.get(ERASE, {"email": person.email}).content.decode()
    assert "Erase zelda@example.org?" in page
    assert "The user record" in page

    wrong = admin.post(ERASE, {"email": person.email, "confirm": "zelda@example.com"})

    assert "This is not the address being erased." in wrong.content.decode()
    assert User.objects.get(pk=person.pk).email == "zelda@example.org"

    done = admin.post(ERASE, {"email": person.email, "confirm": " ZELDA@example.org "})

    request = PrivacyRequest.objects.get(kind=RequestKind.ERASURE)
    assert done.status_code == 302
    assert done["Location"] == f"/admin/privacy/privacyrequest/{request.pk}/change/"
    erased = User.objects.get(pk=person.pk)
    assert (erased.email, erased.first_name, erased.username) == ("", "", f"erased-{person.pk}")


def test_a_staff_account_needs_the_staff_box(db: None) -> None:
    colleague = UserFactory(username="colleague", email="colleague@desk.test", role=Role.AGENT)
    admin = signed_in(Role.ADMIN)
    page = admin.get(ERASE, {"email": colleague.email}).content.decode()
    assert 'name="include_staff"' in page

    refused = admin.post(ERASE, {"email": colleague.email, "confirm": colleague.email})

    assert "staff account" in refused.content.decode()
    assert User.objects.get(pk=colleague.pk).email == colleague.email
    admin.post(ERASE, {"email": colleague.email, "confirm": colleague.email, "include_staff": "on"})
    assert User.objects.get(pk=colleague.pk).email == ""


def test_the_people_list_actions_lead_to_the_download_and_the_confirmation(
    person: User,
) -> None:
    admin = signed_in(Role.ADMIN)
    assert "erase_personal_data" in admin.get(PEOPLE).content.decode()

    exported = admin.post(
        PEOPLE, {"action": "export_personal_data", "_selected_action": [person.pk]}
    )
    erasing = admin.post(PEOPLE, {"action": "erase_personal_data", "_selected_action": [person.pk]})

    assert exported["Content-Type"] == "application/zip"
    assert erasing.status_code == 302
    assert erasing["Location"] == f"{ERASE}?email=zelda%40example.org"
    # Nothing was erased by choosing the action: the confirmation comes first.
    assert User.objects.get(pk=person.pk).email == "zelda@example.org"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_erases_a_person_in_the_browser(browser: WebDriver, live_server: object) -> None:
    person = UserFactory(
        username="zelda", email="zelda@example.org", first_name="Zelda", last_name="Quartermain"
    )
    admin = UserFactory(username="boss", role=Role.ADMIN, is_staff=True)
    base = live_server.url  # type: ignore[attr-defined]
    login(browser, base, admin.username, PASSWORD)
    browser.get(f"{base}/admin/privacy/privacyrequest/")
    browser.find_element(By.CSS_SELECTOR, ".object-tools a[href$='/erase/']").click()
    browser.find_element(By.NAME, "email").send_keys(person.email)
    for width in (1440, 375):
        screenshot(browser, "privacy-erase-start", width)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "Erase zelda@example.org?" in page_containing(browser, "Erase zelda@example.org?")
    browser.find_element(By.NAME, "confirm").send_keys(person.email)
    for width in (1440, 375):
        screenshot(browser, "privacy-erase-confirm", width)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "Erased:" in message_containing(browser, "Erased:")
    for width in (1440, 375):
        screenshot(browser, "privacy-request", width)
    assert User.objects.get(pk=person.pk).email == ""
