"""The requester's whole story, in Debian's chromium, on the desk's real processes.

gunicorn serves the pages, the outbox relay and a Celery worker send the mail through
an SMTP server on loopback (aiosmtpd), and every link the requester opens is read back
from the message that server received:

an agent opens a ticket for Rosa through the API -> the invitation reaches the SMTP
server -> Rosa opens its link, presses "Sign in", lands on "My requests", opens the
ticket and replies with a PNG -> the agent answers, writes an internal note and
resolves the ticket through the API -> Rosa's page shows the answer, never the note ->
the survey mail arrives -> Rosa opens its "good" link, confirms and adds a comment ->
the rating is on the ticket, in the database and in the admin's panel. Greta, whose
language is German, gets her invitation, an asked-for sign-in link and her survey in
German, and reads the portal and the survey's pages in German.

Screenshots of the main steps at 375 and 1440 px: var/screenshots/story-*.png.
"""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.conf import settings
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.email_integration.servers import SMTPServer, start_smtp
from tests.support.browser import browser, login, screenshot
from tests.support.processes import (
    RELAY_READY,
    ScratchDatabase,
    celery_worker_cmd,
    free_port,
    get_json,
    gunicorn_cmd,
    relay_cmd,
    run,
    running,
)
from tests.test_end_to_end_story import call, redis_url, wait_for

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.subprocess, pytest.mark.browser]

# Written only in the agent's internal note: it must never reach a requester's page.
MARKER = "zq-story-internal-7731"
PASSWORD = "correct horse battery staple"
LINK = re.compile(r"(https?://\S+/portal/signin/link/\S+)")
GOOD_LINK = re.compile(r"(https?://\S+/satisfaction/\S+/good/)")
# A 1x1 PNG, the file Rosa attaches.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

# An attachment's answer to the page's own session: status, type and body (base64).
FETCH = """
const [url, done] = arguments;
fetch(url, {credentials: "same-origin"}).then(async (r) => {
  const bytes = new Uint8Array(await r.arrayBuffer());
  done({status: r.status, type: r.headers.get("Content-Type") || "",
        body: btoa(String.fromCharCode(...bytes))});
}).catch((e) => done({status: 0, type: "", body: "", error: String(e)}));
"""

SETUP = """
from rest_framework.authtoken.models import Token
from nixflow.models import Role, Stage, User, Workflow
from nixflow.services import requester_get_or_create, user_create

agent = user_create(username="agent", email="agent@desk.test", role=Role.AGENT,
                    password="{password}", first_name="Ada", last_name="Agent")
print("TOKEN", Token.objects.create(user=agent).key)
print("AGENT", agent.pk)
rosa, _ = requester_get_or_create(email="rosa@example.com", name="Rosa Rivera")
print("ROSA", rosa.pk)
greta, _ = requester_get_or_create(email="greta@example.com", name="Greta Gruber")
User.objects.filter(pk=greta.pk).update(language="de")
print("GRETA", greta.pk)
workflow = Workflow.objects.get(is_default=True)
print("RESOLVED", Stage.objects.get(workflow=workflow, name="Resolved").pk)
"""


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    server = start_smtp()
    yield server
    server.controller.stop()


def mail_to(smtp: SMTPServer, address: str, subject: str) -> EmailMessage:
    """The first message to ``address`` whose subject holds ``subject``, once the SMTP
    server has it."""

    def found() -> EmailMessage | None:
        for _sender, recipients, message in smtp.messages:
            if address in recipients and subject in str(message["Subject"]):
                return message
        return None

    message = wait_for(f"the mail '{subject}' to {address}", found, timeout=90)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, message
    return str(body.get_content())


def mailed_link(message: EmailMessage, pattern: re.Pattern[str] = LINK) -> str:
    found = pattern.search(text_of(message))
    assert found is not None, text_of(message)
    return found.group(1)


def wait_for_title(driver: webdriver.Chrome, text: str) -> None:
    WebDriverWait(driver, 20).until(expected_conditions.title_contains(text))


def main_text(driver: webdriver.Chrome) -> str:
    return str(driver.find_element(By.TAG_NAME, "main").text)


def shots(driver: webdriver.Chrome, name: str) -> None:
    for width in (1440, 375):
        screenshot(driver, f"story-{name}", width)


def test_a_requester_signs_in_from_the_mail_replies_with_a_file_and_rates_the_resolution(
    scratch_db: ScratchDatabase, smtp: SMTPServer, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    db = scratch_db
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    broker = redis_url()
    env = db.env(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=smtp.host,
        EMAIL_PORT=str(smtp.port),
        EMAIL_USE_TLS="false",
        SITE_URL=base,  # the links in the mail name this desk
        **({"CELERY_BROKER_URL": broker} if broker else {}),
    )
    setup = run([sys.executable, "manage.py", "shell", "-c", SETUP.format(password=PASSWORD)], env)
    assert setup.returncode == 0, setup.output
    ids = dict(line.split()[:2] for line in setup.output.splitlines() if line[:1].isupper())
    token = ids["TOKEN"]

    with (
        running(celery_worker_cmd(), env, " ready."),
        running(relay_cmd(), env, RELAY_READY),
        running(gunicorn_cmd(port), env, "Booting worker"),
    ):
        wait_for("the web server", lambda: _answers(base + "/healthz"), timeout=30)

        # 1. An agent opens a ticket for Rosa, who has never signed in: she is invited.
        status, ticket = call(
            base, "POST", "/api/tickets/", token,
            {"title": "Laptop does not start", "description": "Black screen since Monday.",
             "requester": int(ids["ROSA"]), "assignee": int(ids["AGENT"])},
        )  # fmt: skip
        assert status == 201, ticket
        key = ticket["key"]
        [(ticket_id,)] = db.sql(
            "SELECT id FROM nixflow_ticket WHERE requester_id = %s", [int(ids["ROSA"])]
        )
        invitation = mail_to(smtp, "rosa@example.com", "Follow your request online")
        assert key in str(invitation["Subject"])
        link = mailed_link(invitation)
        assert link.startswith(base + "/portal/signin/link/")

        # 2. In chromium she opens the link, signs in, opens the ticket, replies with a file.
        browser.delete_all_cookies()
        browser.set_window_size(1440, 900)
        browser.get(link)
        assert "This link signs you in as Rosa Rivera." in main_text(browser)
        shots(browser, "link")
        browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
        wait_for_title(browser, "My requests")
        assert browser.current_url.rstrip("/") == base + "/portal"
        shots(browser, "list")
        browser.get(link)  # the invitation worked once
        wait_for_title(browser, "This link does not work")
        browser.get(f"{base}/portal/")
        wait_for_title(browser, "My requests")
        browser.find_element(By.LINK_TEXT, "Laptop does not start").click()
        wait_for_title(browser, key)

        photo = tmp_path / "screen-photo.png"
        photo.write_bytes(PNG)
        browser.find_element(By.ID, "reply-body").send_keys("A photo of the black screen.")
        browser.find_element(By.ID, "reply-files").send_keys(str(photo))
        browser.find_element(By.CSS_SELECTOR, ".reply-form button[type=submit]").click()
        WebDriverWait(browser, 20).until(
            expected_conditions.text_to_be_present_in_element(
                (By.CSS_SELECTOR, ".portal-messages"), "Your reply was sent."
            )
        )
        conversation = browser.find_element(By.CSS_SELECTOR, ".conversation").text
        assert "A photo of the black screen." in conversation
        assert "screen-photo.png" in conversation
        assert db.sql(
            "SELECT a.filename FROM nixflow_attachment a JOIN nixflow_comment c "
            "ON c.id = a.comment_id WHERE c.body = 'A photo of the black screen.'"
        ) == [("screen-photo.png",)]
        # The file comes back as it was sent, to her own session.
        href = browser.find_element(By.LINK_TEXT, "screen-photo.png").get_attribute("href")
        fetched = browser.execute_async_script(FETCH, href)
        assert fetched["status"] == 200, fetched
        assert fetched["type"].startswith("image/png"), fetched
        assert base64.b64decode(fetched["body"]) == PNG
        shots(browser, "reply")

        # 3. The agent answers, writes an internal note and resolves the ticket.
        for body, internal in (
            ("A new power adapter is on its way to you.", False),
            (f"Adapter from the spare stock, do not bill. {MARKER}", True),
        ):
            status, comment = call(
                base, "POST", f"/api/tickets/{key}/comments/", token,
                {"body": body, "is_internal": internal},
            )  # fmt: skip
            assert status == 201, comment
        status, moved = call(
            base, "POST", f"/api/tickets/{key}/transition/", token,
            {"stage": int(ids["RESOLVED"])},
        )  # fmt: skip
        assert status == 200, moved

        # The note is on the ticket (so its absence below means something).
        assert db.sql(
            "SELECT is_internal FROM nixflow_comment WHERE ticket_id = %s AND body LIKE %s",
            [ticket_id, f"%{MARKER}%"],
        ) == [(True,)]
        browser.refresh()
        wait_for_title(browser, key)
        assert "A new power adapter is on its way to you." in main_text(browser)
        assert MARKER not in browser.page_source
        assert "spare stock" not in browser.page_source
        shots(browser, "resolved")

        # 4. The survey mail arrives; Rosa answers "good" and adds a comment.
        survey = mail_to(smtp, "rosa@example.com", "How did we do?")
        assert key in str(survey["Subject"])
        assert survey["Content-Language"] == "en"
        good = mailed_link(survey, GOOD_LINK)
        browser.get(good)
        wait_for_title(browser, "How did we do?")
        assert browser.find_element(By.ID, "id_rating_0").is_selected()
        shots(browser, "survey")
        browser.find_element(By.CSS_SELECTOR, ".survey-form button[type=submit]").click()
        wait_for_title(browser, "Thank you")
        browser.find_element(By.LINK_TEXT, "Change your answer or add a comment").click()
        wait_for_title(browser, "How did we do?")
        browser.find_element(By.ID, "id_comment").send_keys("Fast and friendly, thank you.")
        browser.find_element(By.CSS_SELECTOR, ".survey-form button[type=submit]").click()
        wait_for_title(browser, "Thank you")
        assert "Fast and friendly" in main_text(browser)
        shots(browser, "thanks")
        assert db.sql(
            "SELECT r.rating, r.comment FROM csat_rating r JOIN csat_survey s "
            "ON s.id = r.survey_id WHERE s.ticket_id = %s",
            [ticket_id],
        ) == [("good", "Fast and friendly, thank you.")]

        # ... and the agent sees it on the ticket's admin page.
        login(browser, base, "agent", PASSWORD)
        browser.get(f"{base}/admin/nixflow/ticket/{ticket_id}/change/")
        panel = browser.find_element(By.CSS_SELECTOR, ".nf-csat")
        assert panel.text.startswith("Good")
        assert "credited to agent" in panel.text
        comment_shown = browser.find_element(By.CSS_SELECTOR, ".nf-csat-comment").text
        assert "Fast and friendly, thank you." in comment_shown
        browser.execute_script("arguments[0].scrollIntoView()", panel)
        screenshot(browser, "story-admin", 1440)

        # 5. Greta reads German: her invitation, the link she asks for, and the portal.
        status, greta_ticket = call(
            base, "POST", "/api/tickets/", token,
            {"title": "Drucker druckt nicht", "requester": int(ids["GRETA"])},
        )  # fmt: skip
        assert status == 201, greta_ticket
        invitation = mail_to(smtp, "greta@example.com", "Verfolgen Sie Ihre Anfrage online")
        assert "Greta Gruber" in text_of(invitation)
        assert "Öffnen Sie diesen Link, um sich anzumelden:" in text_of(invitation)

        browser.delete_all_cookies()
        browser.get(f"{base}/portal/signin/")
        # Her browser asks for German, as a German reader's does.
        browser.add_cookie({"name": settings.LANGUAGE_COOKIE_NAME, "value": "de", "path": "/"})
        browser.get(f"{base}/portal/signin/")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
        shots(browser, "de-signin")
        browser.find_element(By.ID, "id_email").send_keys("greta@example.com")
        browser.find_element(By.CSS_SELECTOR, "input[value=link] ~ button").click()
        wait_for_title(browser, "Sehen Sie in Ihr Postfach")
        signin = mail_to(smtp, "greta@example.com", "Ihr Anmeldelink")
        assert "Öffnen Sie diesen Link, um sich anzumelden:" in text_of(signin)
        browser.get(mailed_link(signin))
        assert "Dieser Link meldet Sie als Greta Gruber an." in main_text(browser)
        shots(browser, "de-link")
        browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
        WebDriverWait(browser, 20).until(lambda d: "/signin/" not in d.current_url)
        # The portal in her own language, whatever the browser asks for from now on.
        browser.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
        browser.get(f"{base}/portal/")
        wait_for_title(browser, "Meine Anfragen")
        shots(browser, "de-list")
        browser.find_element(By.LINK_TEXT, "Drucker druckt nicht").click()
        wait_for_title(browser, greta_ticket["key"])
        assert "Ihre Antwort" in main_text(browser)
        shots(browser, "de-ticket")

        # Her ticket resolved, the survey and its page are German too.
        status, moved = call(
            base, "POST", f"/api/tickets/{greta_ticket['key']}/transition/", token,
            {"stage": int(ids["RESOLVED"])},
        )  # fmt: skip
        assert status == 200, moved
        survey = mail_to(smtp, "greta@example.com", "Wie zufrieden waren Sie?")
        assert survey["Content-Language"] == "de"
        browser.get(mailed_link(survey, GOOD_LINK))
        wait_for_title(browser, "Wie zufrieden waren Sie?")
        shots(browser, "de-survey")
        browser.find_element(By.CSS_SELECTOR, ".survey-form button[type=submit]").click()
        wait_for_title(browser, "Vielen Dank")
        assert "Vielen Dank für Ihre Antwort" in main_text(browser)
        shots(browser, "de-thanks")


def _answers(url: str) -> bool:
    try:
        return get_json(url)[0] == 200
    except OSError:
        return False
