"""In Debian's chromium, on the demo desk (``seed_demo``: 90 days of tickets, ratings,
help-center traffic and mail): an agent opens each report from the reports' index, and
its headline figures are the database's own counts over the same desk days; the page
fits a 375 px phone as well as a 1440 px screen, and has no axe-core violations (WCAG
2.1 AA) at either. Screenshots in var/screenshots/reports-<name>-<width>.png.

The counts below are written out plainly, from the rows, independently of the reports'
code (tally, selectors): the last 30 desk days, today included, cut in the reports'
zone.
"""

from __future__ import annotations

import datetime
import zoneinfo
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Q
from django.test import override_settings
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.webdriver.common.by import By

from csat.models import Rating, RatingValue
from email_integration.models import EmailMessage, EmailMessageStatus, EmailMessageType
from knowledge.models import KnowledgeArticleView, KnowledgeSearchHistory
from nixflow.models import Comment, HistoryLog, Role, Ticket, User
from portal.models import DeflectionAttempt
from tests.support.axe import assert_accessible
from tests.support.browser import browser, login, screenshot

__all__ = ["browser"]  # the shared fixture, used by name below

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "reports in the browser 42"
REPORTS = ["volume", "backlog", "people", "satisfaction", "selfservice", "mail"]


def desk_range() -> tuple[datetime.datetime, datetime.datetime]:
    """[first instant, first instant after) of the last 30 desk days, today included."""
    zone = zoneinfo.ZoneInfo(
        getattr(settings, "NIXFLOW_REPORTS_TIME_ZONE", None) or settings.TIME_ZONE
    )
    today = timezone.now().astimezone(zone).date()
    first = today - datetime.timedelta(days=29)
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(
        today + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
    )
    return start, end


def percent(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def expected_figures() -> dict[str, dict[str, float | int | None]]:
    """Each report's headline figures, counted from the rows."""
    since, until = desk_range()
    within = {"created__gte": since, "created__lt": until}
    now = timezone.now()

    reopened = (
        HistoryLog.objects.filter(field="resolved_at", new_value="", **within)
        .exclude(old_value="")
        .count()
    )
    backlog = Ticket.objects.filter(resolved_at=None)
    day = datetime.timedelta(days=1)
    ratings = Rating.objects.filter(**within)
    good = ratings.filter(rating=RatingValue.GOOD).count()
    bad = ratings.filter(rating=RatingValue.BAD).count()
    searches = KnowledgeSearchHistory.objects.filter(**within)
    window = datetime.timedelta(
        minutes=int(getattr(settings, "PORTAL_DEFLECTION_WINDOW_MINUTES", 30))
    )
    # Deflected: a suggestion opened in the range (its window over by now), no request
    # filed from the page, and no ticket of the requester's from its start to the window's end.
    deflected = 0
    opened = DeflectionAttempt.objects.filter(
        first_opened_at__gte=since, first_opened_at__lt=min(until, now - window), ticket=None
    )
    for attempt in opened:
        assert attempt.first_opened_at is not None
        filed = Ticket.objects.filter(
            requester_id=attempt.requester_id,
            created__gte=attempt.created,
            created__lte=attempt.first_opened_at + window,
        )
        deflected += not filed.exists()
    mail = EmailMessage.objects.filter(received_at__gte=since, received_at__lt=until).exclude(
        message_type=EmailMessageType.OUTBOUND
    )
    not_bounce = ~Q(message_type=EmailMessageType.BOUNCE)
    return {
        "volume": {
            "created": Ticket.objects.filter(**within).count(),
            "resolved": Ticket.objects.filter(
                resolved_at__gte=since, resolved_at__lt=until
            ).count(),
            "reopened": reopened,
        },
        "backlog": {
            "open": backlog.count(),
            "under_1d": backlog.filter(created__gt=now - day).count(),
            "over_30d": backlog.filter(created__lte=now - 30 * day).count(),
        },
        "people": {
            "assigned": Ticket.objects.filter(**within).exclude(assignee=None).count(),
            "resolved": Ticket.objects.filter(
                resolved_at__gte=since, resolved_at__lt=until
            ).count(),
            "replies": Comment.objects.filter(
                is_internal=False, author__role__in=[Role.AGENT, Role.ADMIN], **within
            ).count(),
            "csat_count": good + bad,
            "csat_score": percent(good, good + bad),
        },
        "satisfaction": {
            "ratings": good + bad,
            "good": good,
            "bad": bad,
            "score": percent(good, good + bad),
        },
        "selfservice": {
            "searches": searches.count(),
            "no_result": searches.filter(results_count=0).count(),
            "views": KnowledgeArticleView.objects.filter(
                viewed_at__gte=since, viewed_at__lt=until
            ).count(),
            "attempts": DeflectionAttempt.objects.filter(**within).count(),
            "deflected": deflected,
        },
        "mail": {
            "received": mail.count(),
            "bounces": mail.filter(message_type=EmailMessageType.BOUNCE).count(),
            "loops": mail.filter(not_bounce, status=EmailMessageStatus.IGNORED).count(),
            "suspended": mail.filter(not_bounce, status=EmailMessageStatus.SUSPENDED).count(),
            "failed": mail.filter(not_bounce, status=EmailMessageStatus.FAILED).count(),
        },
    }


def shown(driver: webdriver.Chrome, key: str) -> float | int | None:
    """A headline figure's value as the page carries it (``data-value``)."""
    element = driver.find_element(By.CSS_SELECTOR, f'[data-testid="figure-{key}"]')
    assert element.is_displayed(), key
    value = element.get_attribute("data-value") or ""
    if value == "":
        return None
    number = float(value)
    return int(number) if number.is_integer() and "." not in value else number


@pytest.fixture
def demo_desk(tmp_path: Path) -> User:
    """The demo desk (fewer tickets than the default, same 90 days), and alice, one of
    its agents, with a password this test knows."""
    with override_settings(VAR_DIR=tmp_path):  # the demo's password file
        call_command("seed_demo", "--tickets", "150", stdout=StringIO(), stderr=StringIO())
    alice = User.objects.get(username="alice")
    alice.set_password(PASSWORD)
    alice.save(update_fields=["password"])
    return alice


@pytest.mark.timeout(900)
def test_each_report_shows_the_databases_figures_on_a_phone_and_a_screen_accessibly(
    live_server: LiveServer, browser: webdriver.Chrome, demo_desk: User
) -> None:
    expected = expected_figures()
    # The demo has something in every report, so the figures are not all trivially 0.
    for name, key in [
        ("volume", "created"),
        ("backlog", "open"),
        ("people", "replies"),
        ("satisfaction", "ratings"),
        ("selfservice", "searches"),
        ("selfservice", "views"),
        ("selfservice", "deflected"),
        ("mail", "received"),
        ("mail", "suspended"),
    ]:
        assert expected[name][key], (name, key)

    login(browser, live_server.url, demo_desk.username, PASSWORD)
    browser.set_window_size(1440, 1000)
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.CSS_SELECTOR, 'a[href="/admin/reports/"]').click()
    links = {
        name: browser.find_element(By.CSS_SELECTOR, f'[data-testid="report-link-{name}"]')
        for name in REPORTS
    }
    urls = {name: link.get_attribute("href") or "" for name, link in links.items()}
    for width in (1440, 375):
        screenshot(browser, "reports-index", width)

    for name in REPORTS:
        for width in (1440, 375):
            browser.set_window_size(width, 1000)
            browser.get(urls[name])
            assert browser.find_element(By.CSS_SELECTOR, '[data-testid="report-chart"]')
            figures = {key: shown(browser, key) for key in expected[name]}
            assert figures == expected[name], (name, width)
            # Nothing pushes the page sideways on a phone (test_reports_phone.py: nor
            # does a table scroll sideways in place).
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{name} is {overflow} px too wide at {width} px"
            screenshot(browser, f"reports-{name}", width)
        assert_accessible(browser, urls[name])
    assert_accessible(browser, f"{live_server.url}/admin/reports/")
