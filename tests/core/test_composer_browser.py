"""The reply composer in a real browser (headless chromium against a live server): an
agent inserts a composer tool's draft in place (the script, no reload), sends it with
"Send and set <stage>", and finds the reply in the timeline with the message saying the
requester was mailed. Screenshots at 1440 px and 375 px go to ``var/screenshots/``
for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpRequest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from nixflow import services
from nixflow.models import Comment, Ticket, User
from nixflow.toolkit.composer import (
    ComposerTool,
    Draft,
    register_composer_tool,
    unregister_composer_tool,
)
from tests.support.browser import browser, login

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


@pytest.fixture
def greeting() -> Iterator[None]:
    """A composer tool registered by the test, as the macros app registers its own."""

    def draft(request: HttpRequest, ticket: Ticket, value: str) -> Draft:
        return Draft(body=f"Hello, we are on {ticket.key}.", changes=["nothing else"])

    register_composer_tool(
        ComposerTool(
            name="greeting",
            label="Greeting",
            choices=lambda request, ticket: [("hello", "Hello")],
            draft=draft,
            on_send=lambda request, ticket, value: [],
        )
    )
    yield
    unregister_composer_tool("greeting")


def shoot(driver: WebDriver, name: str, width: int) -> Path:
    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(width, 1000)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 140, 6000))
    path = folder / f"{name}-{width}.png"
    driver.save_screenshot(str(path))
    # The conversation and composer alone, legible at full size.
    conversation = driver.find_element(By.CSS_SELECTOR, ".nf-conversation")
    conversation.screenshot(str(folder / f"{name}-{width}-conversation.png"))
    return path


def test_an_agent_sends_a_reply_and_sees_it_in_the_timeline(
    browser: WebDriver, live_server: object, agent: User, requester: User, greeting: None
) -> None:
    ticket = services.ticket_create(requester=requester, title="VPN drops hourly", actor=requester)
    services.comment_create(ticket=ticket, author=requester, body="It dropped again at 9:00.")
    services.comment_create(
        ticket=ticket, author=agent, body="Probably the new gateway.", is_internal=True
    )
    login(browser, live_server.url, agent.username, PASSWORD)
    browser.get(f"{live_server.url}/admin/nixflow/ticket/{ticket.pk}/change/")
    shoot(browser, "ticket-page", 1440)
    shoot(browser, "ticket-page", 375)
    browser.set_window_size(1280, 1024)

    # Insert in place: the page is not reloaded (a marker on window survives).
    browser.execute_script("window.nfMarker = 1")
    Select(browser.find_element(By.NAME, "tool_greeting")).select_by_value("hello")
    browser.find_element(By.CSS_SELECTOR, 'button[value="insert:greeting"]').click()
    body = browser.find_element(By.CSS_SELECTOR, "#reply-composer textarea")
    WebDriverWait(browser, 10).until(lambda d: body.get_attribute("value"))
    assert body.get_attribute("value") == f"Hello, we are on {ticket.key}."
    assert browser.execute_script("return window.nfMarker") == 1
    assert browser.find_element(By.NAME, "composer_greeting").get_attribute("value") == "hello"

    body.send_keys(" Please restart the client.")
    browser.find_element(
        By.XPATH, '//button[normalize-space()="Send and set Waiting on requester"]'
    ).click()

    WebDriverWait(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success")
    )
    message = browser.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    assert message == (
        f"Reply sent to {requester.email}. {ticket.key} is now Waiting on requester."
    )
    entries = browser.find_elements(By.CSS_SELECTOR, ".nf-timeline-list > .nf-entry")
    kinds = [entry.get_attribute("data-kind") for entry in entries]
    texts = [entry.text for entry in entries]
    assert kinds[-4:] == ["public", "internal", "public", "system"]
    assert f"Hello, we are on {ticket.key}. Please restart the client." in texts[-2]
    assert "Stage: New → Waiting on requester" in texts[-1]
    reply = Comment.objects.filter(ticket=ticket, author=agent, is_internal=False).get()
    assert reply.body == f"Hello, we are on {ticket.key}. Please restart the client."
    shoot(browser, "ticket-after-reply", 1440)
    shoot(browser, "ticket-after-reply", 375)


def test_a_reply_on_a_closed_ticket_asks_before_reopening(
    browser: WebDriver, live_server: object, agent: User, requester: User
) -> None:
    ticket = services.ticket_create(requester=requester, title="Old laptop", actor=requester)
    closed = ticket.workflow.stages.get(name="Closed")
    services.ticket_transition(ticket=ticket, to_stage=closed, actor=agent)
    login(browser, live_server.url, agent.username, PASSWORD)
    browser.get(f"{live_server.url}/admin/nixflow/ticket/{ticket.pk}/change/")

    browser.find_element(By.CSS_SELECTOR, "#reply-composer textarea").send_keys("One more thing")
    browser.find_element(By.XPATH, '//div[@class="nf-composer-actions"]/button[.="Send"]').click()

    notice = browser.find_element(By.CSS_SELECTOR, '[data-testid="composer-notice"]').text
    assert notice.startswith(f"{ticket.key} is Closed. Reopen it with your reply")
    body = browser.find_element(By.CSS_SELECTOR, "#reply-composer textarea")
    assert body.get_attribute("value") == "One more thing"
    assert not Comment.objects.filter(ticket=ticket).exists()
    shoot(browser, "ticket-reopen-question", 1440)
    shoot(browser, "ticket-reopen-question", 375)
    browser.set_window_size(1280, 1024)

    question = browser.find_element(By.CSS_SELECTOR, '[data-testid="composer-question"]')
    question.find_element(By.XPATH, './button[.="Send and reopen"]').click()

    WebDriverWait(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success")
    )
    ticket.refresh_from_db()
    assert ticket.stage.name == "Open"
    assert Comment.objects.get(ticket=ticket).body == "One more thing"
