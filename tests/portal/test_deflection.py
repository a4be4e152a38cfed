"""Suggested articles on "New request" (with and without JavaScript) and deflection: an
attempt whose requester opened a suggestion and filed no request within the window."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from knowledge.models import Visibility
from nixflow import services
from portal.models import DeflectionAttempt
from portal.selectors import deflection_count, deflection_counts
from tests.factories import UserFactory
from tests.knowledge.factories import ArticleFactory

pytestmark = pytest.mark.django_db

TOKEN = "0b7c1d5e-2f51-4a58-9d1a-9f0c8a1b2c3d"


@pytest.fixture
def articles(db: None) -> Any:
    public = ArticleFactory(
        title="Clear a printer paper jam",
        slug="printer-paper-jam",
        summary="Open tray two and pull the sheet out.",
        body="When the printer jams, open tray two and remove the paper.",
    )
    internal = ArticleFactory(
        title="Printer jam escalation runbook",
        slug="printer-jam-runbook",
        summary="Agents only.",
        body="Printer jams: call the vendor hotline.",
        visibility=Visibility.INTERNAL,
    )
    return public, internal


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def open_links(page: str) -> list[str]:
    return re.findall(r'href="(/portal/new/[0-9a-f-]+/open/\d+/)"', page)


def test_find_answers_without_javascript_shows_public_suggestions(articles: Any) -> None:
    public, internal = articles
    ana = UserFactory(username="ana")
    response = client_for(ana).post(
        "/portal/new/",
        {"subject": "printer jam", "description": "tray", "attempt": TOKEN, "find": "1"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert public.title in page
    assert internal.title not in page  # requesters get public articles only
    assert 'value="printer jam"' in page  # what was typed stays
    attempt = DeflectionAttempt.objects.get(token=TOKEN)
    assert attempt.requester == ana
    assert attempt.shown == [public.pk]
    assert not Client().get("/portal/new/?subject=printer+jam").content  # anonymous: redirect


def test_the_script_gets_the_same_suggestions_as_a_fragment(articles: Any) -> None:
    public, _ = articles
    ana = UserFactory(username="ana")
    response = client_for(ana).get(
        "/portal/new/suggestions/", {"subject": "printer jam", "attempt": TOKEN}
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert public.title in fragment
    assert open_links(fragment) == [f"/portal/new/{TOKEN}/open/{public.pk}/"]
    assert client_for(ana).get("/portal/new/suggestions/", {"subject": ""}).content.strip() == b""


def test_opening_a_suggestion_is_recorded_then_leads_to_the_article(articles: Any) -> None:
    public, internal = articles
    ana = UserFactory(username="ana")
    client = client_for(ana)
    client.get("/portal/new/suggestions/", {"subject": "printer jam", "attempt": TOKEN})
    response = client.get(f"/portal/new/{TOKEN}/open/{public.pk}/")
    assert response.status_code == 302
    assert response["Location"] == reverse("helpcenter:article", args=[public.slug])
    attempt = DeflectionAttempt.objects.get(token=TOKEN)
    assert attempt.opened == [public.pk]
    assert attempt.first_opened_at is not None
    # An article the page did not show, or another person's attempt: nothing recorded.
    assert client.get(f"/portal/new/{TOKEN}/open/{internal.pk}/").status_code == 404
    ben = UserFactory(username="ben")
    assert client_for(ben).get(f"/portal/new/{TOKEN}/open/{public.pk}/").status_code == 404
    attempt.refresh_from_db()
    assert attempt.opened == [public.pk]


def test_a_request_filed_from_the_page_ends_the_attempt(articles: Any) -> None:
    public, _ = articles
    ana = UserFactory(username="ana")
    client = client_for(ana)
    client.get("/portal/new/suggestions/", {"subject": "printer jam", "attempt": TOKEN})
    client.get(f"/portal/new/{TOKEN}/open/{public.pk}/")
    client.post(
        "/portal/new/",
        {"subject": "printer jam", "description": "The article did not help.", "attempt": TOKEN},
    )
    attempt = DeflectionAttempt.objects.get(token=TOKEN)
    assert attempt.ticket is not None
    assert attempt.ticket.title == "printer jam"


def attempt(
    who: Any, *, started: Any, opened_after: timedelta | None, ticket: Any = None
) -> DeflectionAttempt:
    return DeflectionAttempt.objects.create(
        requester=who,
        subject="printer jam",
        shown=[1],
        opened=[1] if opened_after is not None else [],
        created=started,
        first_opened_at=started + opened_after if opened_after is not None else None,
        ticket=ticket,
    )


def test_deflections_are_counted_over_a_period(db: None, settings: Any) -> None:
    settings.PORTAL_DEFLECTION_WINDOW_MINUTES = 30
    now = timezone.now()
    day = now - timedelta(days=1)
    people = [UserFactory(username=f"p{n}") for n in range(6)]
    # Opened a suggestion, nothing filed: deflected.
    attempt(people[0], started=day, opened_after=timedelta(minutes=1))
    # Never opened one: not deflected (it was shown, not used).
    attempt(people[1], started=day, opened_after=None)
    # Filed from the page: not deflected.
    filed = services.ticket_create(requester=people[2], title="Filed", actor=people[2])
    attempt(people[2], started=day, opened_after=timedelta(minutes=1), ticket=filed)
    # Opened, then filed another way (a form, mail) within the window: not deflected.
    attempt(people[3], started=day, opened_after=timedelta(minutes=1))
    other_way = services.ticket_create(requester=people[3], title="By mail", actor=people[3])
    other_way.created = day + timedelta(minutes=20)
    other_way.save(update_fields=["created"])
    # Opened, filed only after the window: deflected all the same.
    attempt(people[4], started=day, opened_after=timedelta(minutes=1))
    late = services.ticket_create(requester=people[4], title="Next week", actor=people[4])
    late.created = day + timedelta(hours=3)
    late.save(update_fields=["created"])
    # Opened just now: the window runs still, not counted yet.
    attempt(people[5], started=now - timedelta(minutes=5), opened_after=timedelta(minutes=1))

    since, until = now - timedelta(days=2), now + timedelta(minutes=1)
    assert deflection_count(since=since, until=until, now=now) == 2
    counts = deflection_counts(since=since, until=until, now=now)
    assert counts.attempts == 6
    assert counts.opened == 5
    assert counts.deflected == 2
    # Later, once the last window has passed, the recent one counts too.
    assert deflection_count(since=since, until=until, now=now + timedelta(hours=1)) == 3
    # Outside the period, nothing.
    assert deflection_count(since=now - timedelta(days=9), until=now - timedelta(days=3)) == 0
    settings.PORTAL_DEFLECTION_WINDOW_MINUTES = 300  # a longer window catches the late one
    assert deflection_count(since=since, until=until, now=now + timedelta(days=1)) == 2


def test_agents_read_the_attempts_in_the_admin(db: None) -> None:
    from nixflow.models import Role

    ada = UserFactory(username="ada", role=Role.AGENT)
    ana = UserFactory(username="ana")
    row = attempt(ana, started=timezone.now(), opened_after=timedelta(minutes=1))
    client = client_for(ada)
    listing = client.get("/admin/portal/deflectionattempt/")
    assert listing.status_code == 200
    assert "printer jam" in listing.content.decode()
    assert client.get(f"/admin/portal/deflectionattempt/{row.pk}/change/").status_code == 200
    assert client.get("/admin/portal/deflectionattempt/add/").status_code == 403
