"""A macro in the ticket page's reply composer, in chromium: picked, inserted in place,
edited, sent; its changes made with the reply. Screenshots of the macro's admin page at
1440 and 375 px go to ``var/screenshots/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from macros.models import Macro
from nixflow import services
from nixflow.models import Comment, Priority, Ticket, User
from tests.macros.conftest import make_macro
from tests.support.browser import browser, login

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def shoot(driver: WebDriver, name: str, width: int) -> Path:
    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(width, 1000)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 140, 6000))
    path = folder / f"{name}-{width}.png"
    driver.save_screenshot(str(path))
    return path


def test_an_agent_applies_a_macro_from_the_composer(
    browser: WebDriver, live_server: object, agent: User, requester: User
) -> None:
    macro = make_macro(
        name="VPN checklist",
        body="Hi {{ requester.first_name }}, about {{ ticket.key }}: please restart the client.",
        set_priority=Priority.HIGH,
        add_tags=["vpn"],
    )
    ticket = services.ticket_create(requester=requester, title="VPN drops", actor=requester)
    login(browser, live_server.url, agent.username, PASSWORD)  # type: ignore[attr-defined]
    browser.get(f"{live_server.url}/admin/nixflow/ticket/{ticket.pk}/change/")  # type: ignore[attr-defined]

    Select(browser.find_element(By.NAME, "tool_macro")).select_by_visible_text("VPN checklist")
    browser.find_element(By.CSS_SELECTOR, 'button[value="insert:macro"]').click()
    body = browser.find_element(By.CSS_SELECTOR, "#reply-composer textarea")
    WebDriverWait(browser, 10).until(lambda d: body.get_attribute("value"))
    expected = f"Hi Ada, about {ticket.key}: please restart the client."
    assert body.get_attribute("value") == expected
    composer = browser.find_element(By.CSS_SELECTOR, "#reply-composer").text
    assert "Priority → High" in composer
    body.send_keys(" Thanks!")
    browser.find_element(By.XPATH, '//button[normalize-space()="Send"]').click()

    WebDriverWait(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success")
    )
    reply = Comment.objects.get(ticket=ticket, author=agent)
    assert reply.body == expected + " Thanks!"
    ticket = Ticket.objects.get(pk=ticket.pk)
    assert ticket.priority == Priority.HIGH
    assert list(ticket.tags.values_list("name", flat=True)) == ["vpn"]
    assert Macro.objects.get(pk=macro.pk).usage_count == 1


def test_the_macro_admin_page_at_both_widths(
    browser: WebDriver, live_server: object, agent: User
) -> None:
    macro = make_macro(
        agent,
        scope="personal",
        name="Waiting for logs",
        body="Hello {{ requester.first_name|default:'there' }},\n\ncould you send the logs "
        "for {{ ticket.key }}?\n\n{{ agent.name }}",
        add_tags=["needs-info"],
    )
    login(browser, live_server.url, agent.username, PASSWORD)  # type: ignore[attr-defined]
    browser.get(f"{live_server.url}/admin/macros/macro/{macro.pk}/change/")  # type: ignore[attr-defined]
    assert (
        "could you send the logs for NF-1042?"
        in browser.find_element(By.CSS_SELECTOR, ".macro-preview").text
    )
    for width in (1440, 375):
        shoot(browser, "macro-change", width)
    browser.get(f"{live_server.url}/admin/macros/macro/")  # type: ignore[attr-defined]
    for width in (1440, 375):
        shoot(browser, "macro-list", width)


def test_the_bulk_apply_page_follows_the_job_until_it_says_done(
    browser: WebDriver, live_server: object, agent: User, requester: User
) -> None:
    from macros import services as macro_services
    from tests.factories import default_workflow
    from tests.macros.test_bulk import run_chunks

    stages = {stage.name: stage for stage in default_workflow().stages.all()}
    macro = make_macro(name="Ask for the version", set_stage=stages["Waiting on requester"])
    tickets = [
        services.ticket_create(requester=requester, title=f"T{n}", actor=requester)
        for n in range(4)
    ]
    services.ticket_transition(ticket=tickets[2], to_stage=stages["Closed"], actor=agent)
    job = macro_services.macro_bulk_enqueue(macro=macro, tickets=tickets, actor=agent)
    login(browser, live_server.url, agent.username, PASSWORD)  # type: ignore[attr-defined]
    page = f"{live_server.url}/admin/macros/bulkapply/{job.pk}/change/"  # type: ignore[attr-defined]
    browser.get(page)
    assert "0 of 4 (0 applied, 0 refused), applying…" in browser.find_element(By.ID, "content").text
    for width in (1440, 375):
        shoot(browser, "macro-bulk-running", width)

    run_chunks(job)  # what the worker does; the page refreshes itself within 3 s
    WebDriverWait(browser, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success")
    )
    text = browser.find_element(By.ID, "content").text
    assert "4 of 4 (3 applied, 1 refused), done" in text
    assert f"{tickets[2].key}: " in text
    messages = browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert "Done: the macro 'Ask for the version' was applied to 3 tickets." in messages
    assert "1 ticket could not be changed" in messages
    for width in (1440, 375):
        shoot(browser, "macro-bulk-done", width)
