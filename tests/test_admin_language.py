"""The admin in the agent's own language: the headings, buttons and messages we wrote are
German for an agent whose User.language is "de" (Django's own admin strings too), and
English, as written, for an agent who chose English.

What German says is the catalogs' business: the test asks the catalogs for each string
and checks that they translate it and that the page shows that translation, so that a
string left out of a catalog, or a page that does not translate it, fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, pgettext, pgettext_lazy
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from macros import services as macro_services
from macros.models import Macro, Scope
from nixflow.models import Ticket, User
from nixflow.toolkit import panels
from nixflow.toolkit.admin import report_failures
from nixflow.toolkit.formats import format_duration, format_left
from tests.factories import AdminFactory, AgentFactory, RequesterFactory
from tests.helpers import new_ticket
from tests.support.browser import browser, login, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = pytest.mark.django_db

DESK = "admin:index"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def german(text: str, context: str | None = None) -> str:
    """``text`` as the German catalogs have it; fails when they do not translate it."""
    with translation.override("de"):
        shown = pgettext(context, text) if context else gettext(text)
    assert shown != text, f"no German for {text!r}"
    return shown


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def german_agent(db: None) -> User:
    return AgentFactory(username="greta", language="de")


@pytest.fixture
def english_agent(db: None) -> User:
    return AgentFactory(username="emma", language="en")


@pytest.fixture
def desk_ticket(german_agent: User) -> Ticket:
    return new_ticket(RequesterFactory())


@pytest.fixture
def macro(german_agent: User) -> Macro:
    return macro_services.macro_create(
        actor=None,
        data={"name": "Greeting", "body": "Hello", "scope": Scope.GLOBAL},
    )


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


# --- German --------------------------------------------------------------------------------
def test_a_german_agent_reads_the_desk_in_german(client: Client, german_agent: User) -> None:
    html = page(signed_in(client, german_agent), reverse(DESK))
    for heading in ("Your work", "Saved views", "Records and settings", "My open tickets"):
        assert german(heading) in html
    assert "Your work" not in html
    assert 'lang="de"' in html
    assert "Abmelden" in html  # Django's own German: "Log out"


def test_a_german_agent_reads_the_ticket_page_in_german(
    client: Client, german_agent: User, desk_ticket: Ticket
) -> None:
    url = reverse("admin:nixflow_ticket_change", args=[desk_ticket.pk])
    html = page(signed_in(client, german_agent), url)
    assert german("Conversation") in html
    assert german("Reply", "noun") in html
    assert german("Send as") in html
    assert german("Send", "button") in html
    assert german("Links and merges") in html
    # Panels keep their English slug whatever the language: scripts and tests find them.
    assert 'data-panel="links-and-merges"' in html
    assert ">Conversation<" not in html


def test_a_german_agent_reads_the_ticket_list_in_german(
    client: Client, german_agent: User, desk_ticket: Ticket
) -> None:
    html = page(signed_in(client, german_agent), reverse("admin:nixflow_ticket_changelist"))
    assert german("Save this view") in html
    assert german("Assign to me") in html  # the action bar
    assert german("Apply a macro (choose it next to the action)") in html  # the macros app's


def test_a_german_agent_reads_a_macro_in_german(
    client: Client, german_agent: User, macro: Macro
) -> None:
    url = reverse("admin:macros_macro_change", args=[macro.pk])
    html = page(signed_in(client, german_agent), url)
    for text in ("Who may use it", "Changes when applied", "Preview and use"):
        assert german(text) in html
    assert german("Nothing but the reply.") in html
    assert "Who may use it" not in html
    # The catalog's own words, so that the test fails if the German is wrong, not only
    # missing.
    assert "Wer es verwenden darf" in html


def test_a_german_agent_gets_german_messages(
    client: Client, german_agent: User, desk_ticket: Ticket
) -> None:
    client = signed_in(client, german_agent)
    response = client.post(
        reverse("admin:nixflow_ticket_changelist"),
        {"action": "apply_macro", "_selected_action": [desk_ticket.pk], "macro": ""},
        follow=True,
    )
    assert response.status_code == 200
    assert "Wählen Sie neben der Aktion ein Makro aus." in response.content.decode()


def test_a_german_agent_reads_the_composer_and_the_feature_panels_in_german(
    client: Client, german_agent: User, desk_ticket: Ticket
) -> None:
    url = reverse("admin:nixflow_ticket_change", args=[desk_ticket.pk])
    html = page(signed_in(client, german_agent), url)
    assert "Öffentliche Antwort (der Anfragende liest sie)" in html
    assert german("Write your reply…") in html
    for text in ("SLA clocks", "No SLA policy applies to this ticket.", "Satisfaction"):
        assert german(text) in html
    assert german("No satisfaction survey for this ticket.") in html
    assert "Public reply (the requester reads it)" not in html


def test_a_german_agent_reads_the_sla_filter_and_the_feature_links_in_german(
    client: Client, german_agent: User, desk_ticket: Ticket
) -> None:
    html = page(signed_in(client, german_agent), reverse("admin:nixflow_ticket_changelist"))
    assert german("At risk") in html  # the SLA filter's choices
    assert german("No clock") in html
    desk = page(signed_in(client, german_agent), reverse(DESK))
    assert german("Knowledge base searches") in desk
    assert german("Notifications") in desk


def test_durations_and_deadlines_read_in_the_active_language() -> None:
    with translation.override("de"):
        assert format_duration(8100) == "2 Std. 15 Min."
        assert format_duration(93_600) == "1 T. 2 Std."
        assert format_left(-2400) == "überfällig seit 40 Min."
        assert format_left(600) == "noch 10 Min."
    with translation.override("en"):
        assert format_duration(8100) == "2 h 15 min"
        assert format_duration(30) == "0 min"
        assert format_left(-2400) == "overdue 40 min"


class _Messages:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def message_user(self, request: Any, message: str, level: int) -> None:
        self.sent.append(message)


def test_a_bulk_actions_failures_are_reported_in_the_active_language() -> None:
    failures = [f"NF-{n}: Nein." for n in range(1, 13)]
    german_admin, english_admin = _Messages(), _Messages()
    with translation.override("de"):
        report_failures(german_admin, None, "Could not move", failures)  # type: ignore[arg-type]
    with translation.override("en"):
        report_failures(english_admin, None, "Could not move", failures[:1])  # type: ignore[arg-type]
    assert german_admin.sent[0].startswith("Verschieben fehlgeschlagen (12 Tickets): NF-1: Nein.;")
    assert german_admin.sent[0].endswith("NF-10: Nein; und 2 weitere.")
    assert english_admin.sent == ["Could not move 1 ticket: NF-1: Nein."]


# --- English -------------------------------------------------------------------------------
def test_an_english_agent_reads_the_desk_in_english(client: Client, english_agent: User) -> None:
    html = page(signed_in(client, english_agent), reverse(DESK))
    for heading in ("Your work", "Saved views", "Records and settings", "My open tickets"):
        assert heading in html
    assert german("Your work") not in html
    assert "Log out" in html


def test_an_english_agent_reads_a_macro_in_english(
    client: Client, english_agent: User, macro: Macro
) -> None:
    html = page(
        signed_in(client, english_agent), reverse("admin:macros_macro_change", args=[macro.pk])
    )
    assert "Who may use it" in html
    assert "Nothing but the reply." in html
    assert "Wer es verwenden darf" not in html


def test_an_english_agent_reads_the_ticket_page_in_english(
    client: Client, english_agent: User, desk_ticket: Ticket
) -> None:
    url = reverse("admin:nixflow_ticket_change", args=[desk_ticket.pk])
    html = page(signed_in(client, english_agent), url)
    assert ">Conversation<" in html
    assert ">Links and merges<" in html


def test_an_admin_sets_a_persons_language_on_their_user_page(client: Client) -> None:
    agent = AgentFactory(username="newcomer")
    html = page(
        signed_in(client, AdminFactory()), reverse("admin:nixflow_user_change", args=[agent.pk])
    )
    assert 'name="language"' in html
    assert '<option value="de">Deutsch</option>' in html


# --- The registries of translated titles ------------------------------------------------
def test_a_panel_with_a_translated_title_is_found_by_its_english_title_in_any_language() -> None:
    title = pgettext_lazy("fieldset", "Work")  # any string the catalogs translate
    panels.register_ticket_panel(title, lambda request, ticket: "", order=999)
    try:
        with translation.override("de"):
            assert "Work" in panels._panels
            panels.unregister_ticket_panel("Work")
        assert "Work" not in panels._panels
    finally:
        panels.unregister_ticket_panel("Work")


# --- In a browser ----------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_german_agent_sees_the_desk_and_a_ticket_in_german_in_a_browser(
    browser: WebDriver, live_server: Any
) -> None:
    """Signed in through the login page, the German agent's desk and ticket page are
    German at 1440 and 375 px (screenshots in var/screenshots/admin-de-*.png). Headings
    are compared without case: the desk's stylesheet capitalises some."""
    greta = AgentFactory(username="greta", language="de")
    ticket = new_ticket(RequesterFactory(), title="Drucker brennt")
    login(browser, live_server.url, "greta", PASSWORD)
    browser.get(f"{live_server.url}{reverse(DESK)}")
    assert (
        browser.find_element(By.ID, "nf-queues-title").text.casefold()
        == german("Your work").casefold()
    )
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
    for width in (1440, 375):
        screenshot(browser, "admin-de-desk", width)
    browser.get(f"{live_server.url}{reverse('admin:nixflow_ticket_change', args=[ticket.pk])}")
    assert (
        browser.find_element(By.ID, "nf-timeline-title").text.casefold()
        == german("Conversation").casefold()
    )
    assert (
        browser.find_element(By.ID, "nf-composer-title").text.casefold()
        == german("Reply", "noun").casefold()
    )
    for width in (1440, 375):
        screenshot(browser, "admin-de-ticket", width)
    assert greta.language == "de"
