"""The ticket page moves a ticket between teams (through ticket_set_team), and every admin
page shows an agent whether they take new tickets, linking to where they change it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from eventlog.models import EventLog
from nixflow import events
from nixflow.models import Availability, HistoryLog, Ticket, User
from tests.core.admin_pages import errors, form_data, url
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


def test_an_agent_moves_a_ticket_to_another_team_on_its_page(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    network = TeamFactory(name="Network")
    page = agent_client.get(url("ticket_change", ticket.pk))
    data = form_data(page)
    data["team"] = str(network.pk)

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    ticket.refresh_from_db()
    assert ticket.team == network
    moved = EventLog.objects.get(type=events.TICKET_TEAM_CHANGED, subject_id=str(ticket.pk))
    assert (moved.actor_id, moved.payload["team_id"]) == (agent.pk, network.pk)
    assert HistoryLog.objects.filter(ticket=ticket, field="team", new_value="Network").exists()


def test_every_admin_page_shows_an_agent_their_availability(
    agent_client: Client, agent: User
) -> None:
    User.objects.filter(pk=agent.pk).update(availability=Availability.AWAY)

    page = agent_client.get(reverse("admin:index")).content.decode()

    link = reverse("admin:nixflow_team_availability")
    assert f'href="{link}" class="nf-availability nf-away"' in page
    assert ">Away</a>" in page
    assert agent_client.get(link).status_code == 200


def test_an_agent_sets_their_time_zone_and_sees_dates_in_it(
    agent_client: Client, agent: User
) -> None:
    page = reverse("admin:nixflow_team_availability")
    assert '<option value="Asia/Tokyo">' in agent_client.get(page).content.decode()

    answer = agent_client.post(page, {"time_zone": "Asia/Tokyo"}, follow=True)

    agent.refresh_from_db()
    assert agent.time_zone == "Asia/Tokyo"
    shown = answer.content.decode()
    assert "Dates are now shown in Asia/Tokyo." in shown
    assert '<option value="Asia/Tokyo" selected>' in shown
    refused = agent_client.post(page, {"time_zone": "Mars/Olympus"}, follow=True)
    assert "is not a time zone name" in refused.content.decode()
    agent.refresh_from_db()
    assert agent.time_zone == "Asia/Tokyo"
