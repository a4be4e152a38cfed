"""How the language of a page is chosen: the person's own ``User.language``, then the
language cookie the chooser sets, then ``Accept-Language``, then LANGUAGE_CODE; and the
chooser itself (/language/): a plain link for anonymous readers, a form that saves the
choice for signed-in people, and only local addresses to go back to.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By

from eventlog.models import EventLog
from nixflow.models import User
from nixflow.toolkit.language import language_for
from tests.factories import UserFactory
from tests.support.axe import assert_accessible
from tests.support.browser import browser, screenshot  # noqa: F401 -- the shared fixture

pytestmark = pytest.mark.django_db

COOKIE = settings.LANGUAGE_COOKIE_NAME
HELP = "/help/"


def page(client: Client, url: str = HELP, **headers: str) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_accept_language_de_gives_a_german_help_page() -> None:
    html = page(Client(), accept_language="de-DE,de;q=0.9,en;q=0.5")
    assert '<html lang="de">' in html
    assert "Zum Inhalt springen" in html  # "Skip to content"
    assert 'aria-label="Sprache"' in html  # the chooser, named in German
    # Each language is named in itself, whatever the page's.
    assert 'lang="en" hreflang="en">English</a>' in html
    assert 'lang="de" aria-current="true">Deutsch</span>' in html


def test_without_a_choice_the_page_is_in_the_desks_language() -> None:
    html = page(Client())
    assert '<html lang="en">' in html
    assert "Skip to content" in html


def test_an_unknown_accept_language_falls_back_to_the_desks_language() -> None:
    html = page(Client(), accept_language="tlh,xx;q=0.8")
    assert '<html lang="en">' in html


def test_the_persons_own_language_beats_accept_language(client: Client) -> None:
    client.force_login(UserFactory(username="anna", language="de"))
    html = page(client, accept_language="en-GB,en;q=0.9")
    assert '<html lang="de">' in html
    assert "Abmelden" in html  # "Sign out"


def test_a_person_without_a_language_gets_their_browsers(client: Client) -> None:
    client.force_login(UserFactory(username="carol"))
    assert '<html lang="de">' in page(client, accept_language="de")


def test_a_language_no_longer_offered_is_ignored(client: Client) -> None:
    client.force_login(UserFactory(username="old", language="fr"))
    assert '<html lang="en">' in page(client, accept_language="en")
    assert language_for(User(language="fr")) == settings.LANGUAGE_CODE


def test_anonymous_readers_choose_by_a_plain_link_that_sets_the_cookie() -> None:
    client = Client()
    html = page(client, "/help/?q=vpn")
    link = '<a href="/language/?language=de&amp;next=/help/%3Fq%3Dvpn" lang="de" hreflang="de">'
    assert link in html
    assert 'name="csrfmiddlewaretoken"' not in html  # no token: cached pages stay so

    response = client.get("/language/", {"language": "de", "next": "/help/?q=vpn"})
    assert response.status_code == 302
    assert response["Location"] == "/help/?q=vpn"
    assert response.cookies[COOKIE].value == "de"
    assert "no-store" in response["Cache-Control"]
    assert '<html lang="de">' in page(client)  # the cookie, before Accept-Language


def test_the_cookie_beats_accept_language() -> None:
    client = Client()
    client.cookies[COOKIE] = "de"
    assert '<html lang="de">' in page(client, accept_language="en")


def test_signed_in_people_choose_with_a_form_that_saves_their_language(client: Client) -> None:
    carol = UserFactory(username="carol")
    client.force_login(carol)
    html = page(client)
    assert '<form class="inline-form" method="post" action="/language/">' in html
    assert '<button type="submit" class="link-button" name="language" value="de" lang="de">' in (
        html
    )

    response = client.post("/language/", {"language": "de", "next": "/help/"})
    assert response.status_code == 302
    carol.refresh_from_db()
    assert carol.language == "de"
    event = EventLog.objects.get(type="user.updated", subject_id=str(carol.pk))
    assert event.payload == {"fields": ["language"], "changes": {"language": ["", "de"]}}
    assert event.actor_id == carol.pk


def test_a_get_never_changes_a_signed_in_persons_saved_language(client: Client) -> None:
    anna = UserFactory(username="anna", language="de")
    client.force_login(anna)
    client.get("/language/", {"language": "en", "next": HELP})
    anna.refresh_from_db()
    assert anna.language == "de"


def test_the_form_needs_its_csrf_token() -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="carol"))
    assert client.post("/language/", {"language": "de"}).status_code == 403


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/help/",
        "javascript:alert(1)",
        "http://testserver.evil.example/",
        "",
    ],
)
def test_only_a_local_address_is_followed_after_choosing(target: str) -> None:
    response = Client().get("/language/", {"language": "de", "next": target})
    assert response.status_code == 302
    assert response["Location"] == HELP


def test_an_unknown_language_gets_a_page_to_choose_from_not_an_error() -> None:
    response = Client().get("/language/", {"language": "xx", "next": "/forms/"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "That language is not available here." in html
    assert "/language/?language=de&amp;next=/forms/" in html
    assert COOKIE not in response.cookies
    assert Client().get("/language/").status_code == 200


def test_an_unknown_language_posted_changes_nothing(client: Client) -> None:
    carol = UserFactory(username="carol")
    client.force_login(carol)
    assert client.post("/language/", {"language": "../../etc"}).status_code == 400
    carol.refresh_from_db()
    assert carol.language == ""


def test_the_form_pages_follow_the_language_too() -> None:
    html = page(Client(), "/forms/", accept_language="de")
    assert '<html lang="de">' in html
    assert "<h1>Formulare</h1>" in html


def test_the_chooser_adds_no_cookie_to_an_anonymous_page() -> None:
    """The help center's anonymous pages are cached by ETag: the chooser, a link there,
    must not give them a CSRF cookie (they vary by cookie anyway: signed in, people see
    them otherwise)."""
    response = Client().get(HELP, headers={"accept-language": "de"})
    assert response.status_code == 200
    assert not response.cookies
    assert "csrfmiddlewaretoken" not in response.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_language_page_is_accessible_at_both_widths(
    live_server: LiveServer,
    browser: webdriver.Chrome,  # noqa: F811 -- the shared fixture, imported above
) -> None:
    browser.delete_all_cookies()
    assert_accessible(browser, f"{live_server.url}/language/?language=xx&next=/forms/")
    screenshot(browser, "language-unknown", 375)
    browser.find_element(By.CSS_SELECTOR, "main a[hreflang=de]").click()
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
    assert browser.current_url == f"{live_server.url}/forms/"
