"""Presence on a ticket (docs/collision.md): the heartbeat's upsert, who counts as here
(fresh beats only), composing, the sweep of old rows, the API endpoint and its
permissions, and the "Who else is here" panel rendered without JavaScript."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from nixflow import services
from nixflow.admin import presence as presence_admin
from nixflow.models import Role, Ticket, TicketPresence, User
from nixflow.services import presence
from tests.factories import UserFactory
from tests.helpers import as_user

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)


@pytest.fixture
def ana(db: None) -> User:
    return UserFactory(username="ana", first_name="Ana", last_name="Lima", role=Role.AGENT)


@pytest.fixture
def ben(db: None) -> User:
    return UserFactory(username="ben", first_name="Ben", last_name="Ode", role=Role.AGENT)


def _names(ticket: Ticket, user: User) -> list[tuple[str, bool]]:
    return [(p.name, p.composing) for p in presence.presence_others(ticket=ticket, user=user)]


# --- Service ----------------------------------------------------------------------------
def test_a_beat_upserts_one_row_per_agent_and_ticket(ticket: Ticket, ana: User) -> None:
    presence.presence_beat(ticket=ticket, user=ana, composing=False)
    first = TicketPresence.objects.get()
    with time_machine.travel(timezone.now() + 5 * S):
        presence.presence_beat(ticket=ticket, user=ana, composing=True)
    row = TicketPresence.objects.get()
    assert (row.pk, row.composing) == (first.pk, True)
    assert row.seen_at > first.seen_at


def test_others_are_the_fresh_rows_of_other_people_writers_first(
    ticket: Ticket, agent: User, ana: User, ben: User
) -> None:
    presence.presence_beat(ticket=ticket, user=agent, composing=False)
    presence.presence_beat(ticket=ticket, user=ana, composing=False)
    presence.presence_beat(ticket=ticket, user=ben, composing=True)
    # Never oneself; writing a reply before viewing; full names.
    assert _names(ticket, agent) == [("Ben Ode", True), ("Ana Lima", False)]
    assert _names(ticket, ana) == [("Ben Ode", True), ("agent", False)]


def test_a_beat_older_than_fresh_seconds_is_nobody(ticket: Ticket, agent: User, ana: User) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        presence.presence_beat(ticket=ticket, user=ana, composing=True)
    with time_machine.travel(start + presence.FRESH_SECONDS * S, tick=False):
        assert _names(ticket, agent) == [("Ana Lima", True)]  # exactly FRESH_SECONDS: here
    with time_machine.travel(start + (presence.FRESH_SECONDS + 1) * S, tick=False):
        assert _names(ticket, agent) == []
    # Three beats fit in the window: one lost beat does not make anyone flicker out.
    assert presence.FRESH_SECONDS >= 3 * presence.HEARTBEAT_SECONDS


def test_presence_is_per_ticket(ticket: Ticket, agent: User, ana: User, requester: User) -> None:
    other = services.ticket_create(requester=requester, title="Other", actor=requester)
    presence.presence_beat(ticket=other, user=ana, composing=False)
    assert _names(ticket, agent) == []
    assert _names(other, agent) == [("Ana Lima", False)]


def test_a_beat_deletes_the_tickets_stale_rows_and_the_sweep_every_ones(
    ticket: Ticket, agent: User, ana: User, ben: User, requester: User
) -> None:
    # No beat here may be the one in SWEEP_ONE_IN that sweeps the whole table (at random,
    # it took Ben's row once in a while); the next test covers that one.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(presence, "SWEEP_ONE_IN", 10**9)
        _beat_then_sweep(ticket=ticket, agent=agent, ana=ana, ben=ben, requester=requester)


def _beat_then_sweep(*, ticket: Ticket, agent: User, ana: User, ben: User, requester: User) -> None:
    other = services.ticket_create(requester=requester, title="Other", actor=requester)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        presence.presence_beat(ticket=ticket, user=ana, composing=False)
        presence.presence_beat(ticket=other, user=ben, composing=False)
    later = start + (presence.STALE_SECONDS + 1) * S
    with time_machine.travel(later, tick=False):
        presence.presence_beat(ticket=ticket, user=agent, composing=False)
        # Ana's old row on this ticket went with the beat; Ben's on the other stays.
        assert set(TicketPresence.objects.values_list("ticket_id", "user__username")) == {
            (ticket.pk, "agent"),
            (other.pk, "ben"),
        }
        assert presence.presence_sweep() == 1
    assert list(TicketPresence.objects.values_list("user__username", flat=True)) == ["agent"]


def test_beats_sweep_the_whole_table_now_and_then(
    ticket: Ticket, agent: User, ana: User, requester: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = services.ticket_create(requester=requester, title="Other", actor=requester)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        presence.presence_beat(ticket=other, user=ana, composing=False)
    monkeypatch.setattr(presence, "SWEEP_ONE_IN", 1)  # this beat is the one that sweeps
    with time_machine.travel(start + (presence.STALE_SECONDS + 1) * S, tick=False):
        presence.presence_beat(ticket=ticket, user=agent, composing=False)
    assert list(TicketPresence.objects.values_list("user__username", flat=True)) == ["agent"]


def test_only_agents_beat(ticket: Ticket, requester: User) -> None:
    with pytest.raises(PermissionDenied, match="Only agents can show their presence"):
        presence.presence_beat(ticket=ticket, user=requester, composing=False)
    with pytest.raises(PermissionDenied):
        presence.presence_leave(ticket=ticket, user=requester)
    assert not TicketPresence.objects.exists()


def test_newest_public_comment_ignores_internal_notes(
    ticket: Ticket, agent: User, requester: User
) -> None:
    assert presence.ticket_newest_public_comment_id(ticket=ticket) is None
    reply = services.comment_create(ticket=ticket, author=requester, body="Still broken")
    services.comment_create(ticket=ticket, author=agent, body="Note", is_internal=True)
    assert presence.ticket_newest_public_comment_id(ticket=ticket) == reply.pk


def test_presence_is_not_a_change_of_the_ticket(ticket: Ticket, ana: User) -> None:
    before = (ticket.history.count(), ticket.updated)
    presence.presence_beat(ticket=ticket, user=ana, composing=True)
    ticket.refresh_from_db()
    assert ticket.version == 1
    assert (ticket.history.count(), ticket.updated) == before


# --- API --------------------------------------------------------------------------------
def _url(ticket: Ticket) -> str:
    return f"/api/tickets/{ticket.key}/presence/"


def test_the_endpoint_beats_and_answers_others_version_and_newest_comment(
    agent_api: APIClient, ticket: Ticket, agent: User, ana: User, requester: User
) -> None:
    presence.presence_beat(ticket=ticket, user=ana, composing=True)
    reply = services.comment_create(ticket=ticket, author=requester, body="Any news?")
    response = agent_api.post(_url(ticket), {"composing": False}, format="json")
    assert response.status_code == 200, response.data
    body = response.json()
    seen_at = body["others"][0].pop("seen_at")
    assert body == {
        "others": [{"user": ana.pk, "name": "Ana Lima", "composing": True}],
        "version": 2,
        "newest_public_comment_id": reply.pk,
    }
    assert seen_at.endswith("Z") or "+" in seen_at
    mine = TicketPresence.objects.get(user=agent)
    assert (mine.ticket_id, mine.composing) == (ticket.pk, False)

    # Ana's page sees the agent writing once the agent's page says so.
    assert agent_api.post(_url(ticket), {"composing": True}, format="json").status_code == 200
    ana_api = as_user(APIClient(), ana)
    others = ana_api.post(_url(ticket), {}, format="json").json()["others"]
    assert [(o["name"], o["composing"]) for o in others] == [("agent", True)]


def test_leaving_removes_the_row_at_once(agent_api: APIClient, ticket: Ticket, ana: User) -> None:
    agent_api.post(_url(ticket), {"composing": True}, format="json")
    assert agent_api.delete(_url(ticket)).status_code == 204
    assert _names(ticket, ana) == []


def test_bad_input_is_a_400(agent_api: APIClient, ticket: Ticket) -> None:
    response = agent_api.post(_url(ticket), {"composing": "maybe"}, format="json")
    assert response.status_code == 400
    assert "composing" in response.json()
    assert not TicketPresence.objects.exists()


def test_requesters_get_403_on_their_ticket_and_404_on_others(
    requester_api: APIClient, ticket: Ticket, other_requester: User
) -> None:
    refused = requester_api.post(_url(ticket), {"composing": True}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Only agents can show their presence on a ticket."}
    assert requester_api.delete(_url(ticket)).status_code == 403
    stranger = as_user(APIClient(), other_requester)
    assert stranger.post(_url(ticket), {}, format="json").status_code == 404
    assert not TicketPresence.objects.exists()


def test_anonymous_callers_are_refused(api_client: APIClient, ticket: Ticket) -> None:
    assert api_client.post(_url(ticket), {}, format="json").status_code in (401, 403)


def test_a_session_needs_the_csrf_token(ticket: Ticket, agent: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(agent)
    response = browser.post(_url(ticket), {"composing": True}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# --- The admin panel --------------------------------------------------------------------
def test_the_ticket_page_shows_who_else_is_here_without_javascript(
    agent_client: Client, ticket: Ticket, agent: User, ana: User, ben: User
) -> None:
    presence.presence_beat(ticket=ticket, user=ana, composing=False)
    presence.presence_beat(ticket=ticket, user=ben, composing=True)
    page = agent_client.get(f"/admin/nixflow/ticket/{ticket.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<li class="nf-presence-composing">Ben Ode is writing a reply</li>' in html
    assert '<li class="nf-presence-viewing">Ana Lima is viewing</li>' in html
    assert presence_admin.NOBODY in html  # present for the script, hidden
    assert f'data-url="/api/tickets/{ticket.key}/presence/"' in html
    assert 'data-version="1"' in html
    assert '<script src="/static/nixflow/admin/presence.js" defer></script>' in html
    # Opening the page is the viewer's first beat: the others see them at once.
    assert _names(ticket, ana) == [("Ben Ode", True), ("agent", False)]


def test_alone_on_the_ticket_the_panel_says_so(agent_client: Client, ticket: Ticket) -> None:
    html = agent_client.get(f"/admin/nixflow/ticket/{ticket.pk}/change/").content.decode()
    assert f'<p class="nf-presence-none help">{presence_admin.NOBODY}</p>' in html


def test_names_are_escaped(agent_client: Client, ticket: Ticket) -> None:
    mallory = UserFactory(username="mallory", first_name="<b>M</b>", role=Role.AGENT)
    presence.presence_beat(ticket=ticket, user=mallory, composing=False)
    html = agent_client.get(f"/admin/nixflow/ticket/{ticket.pk}/change/").content.decode()
    assert "&lt;b&gt;M&lt;/b&gt; is viewing" in html
    assert "<b>M</b>" not in html
