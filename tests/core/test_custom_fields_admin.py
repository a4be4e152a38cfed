"""Custom fields in the admin: definitions through the services, the ticket page's
inputs saved as one change, the required-field refusal on the form, and the ticket
list's filter and sort by value."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from eventlog.models import EventLog
from nixflow import services
from nixflow.models import FieldType, Stage, Ticket, TicketField, User
from tests.core.admin_pages import errors, form_data, url
from tests.factories import AdminFactory
from tests.helpers import history, new_ticket

pytestmark = pytest.mark.django_db


def make_field(name: str, type: str = FieldType.TEXT, **data: Any) -> TicketField:
    label = name.replace("_", " ").capitalize()
    return services.ticket_field_create(
        actor=None, data={"name": name, "label": label, "type": type, **data}
    )


def test_admins_define_fields_through_the_service(client: Client) -> None:
    client.force_login(AdminFactory())
    response = client.post(
        url("ticketfield_add"),
        {
            "label": "Root cause",
            "name": "root_cause",
            "type": "choice",
            "choices": "Disk\r\nNetwork\r\n\r\n",
            "position": 0,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, errors(response)
    field = TicketField.objects.get()
    assert field.choices == ["Disk", "Network"]
    assert EventLog.objects.filter(type="ticket_field.created").count() == 1
    assert not EventLog.objects.filter(type__startswith="admin.").exists()


def test_agents_read_fields_but_cannot_add_them(agent_client: Client) -> None:
    make_field("order_number")
    assert agent_client.get(url("ticketfield_changelist")).status_code == 200
    assert agent_client.get(url("ticketfield_add")).status_code == 403


def test_the_ticket_page_edits_values_as_one_change(agent_client: Client, ticket: Ticket) -> None:
    make_field("root_cause", FieldType.CHOICE, choices=["Disk", "Network"])
    make_field("areas", FieldType.MULTIPLE_CHOICE, choices=["A", "B", "C"])
    make_field("cost", FieldType.DECIMAL)
    page = agent_client.get(url("ticket_change", ticket.pk))
    assert b"Custom fields" in page.content
    data = form_data(page)
    data.update(cf_root_cause="Disk", cf_areas=["C", "A"], cf_cost="12.50")

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    ticket.refresh_from_db()
    assert ticket.custom_fields == {"root_cause": "Disk", "areas": ["A", "C"], "cost": "12.5"}
    assert ("field.root_cause", "", "Disk") in history(ticket)
    assert EventLog.objects.filter(type="ticket.updated").count() == 1

    # Saved again untouched: nothing changes.
    before = history(ticket)
    again = agent_client.post(
        url("ticket_change", ticket.pk),
        form_data(agent_client.get(url("ticket_change", ticket.pk))),
    )
    assert again.status_code == 302, errors(again)
    assert history(ticket) == before


def test_a_required_field_can_be_filled_in_the_save_that_moves_the_stage(
    agent_client: Client, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    make_field("root_cause", required_for_stages=[stages["Resolved"]])
    data = form_data(agent_client.get(url("ticket_change", ticket.pk)))
    data["stage"] = stages["Resolved"].pk

    refused = agent_client.post(url("ticket_change", ticket.pk), data)

    assert refused.status_code == 200
    assert "Root cause is required to move to Resolved." in errors(refused)
    assert Ticket.objects.get(pk=ticket.pk).stage != stages["Resolved"]

    data["cf_root_cause"] = "Disk full"
    moved = agent_client.post(url("ticket_change", ticket.pk), data)
    assert moved.status_code == 302, errors(moved)
    assert Ticket.objects.get(pk=ticket.pk).stage == stages["Resolved"]


def test_the_list_filters_and_sorts_by_a_field(
    agent_client: Client, requester: User, agent: User
) -> None:
    make_field("kind", FieldType.CHOICE, choices=["Refund", "Exchange"])
    make_field("count", FieldType.NUMBER)
    for title, values in {
        "ten": {"kind": "Refund", "count": 10},
        "nine": {"kind": "Refund", "count": 9},
        "exchange": {"kind": "Exchange", "count": 100},
        "none": {},
    }.items():
        ticket = new_ticket(requester, title=title)
        services.ticket_fields_set(ticket=ticket, actor=agent, values=values)

    def titles(query: str) -> list[str]:
        response = agent_client.get(f"{url('ticket_changelist')}?{query}")
        assert response.status_code == 200
        assert "e=1" not in response.get("Location", "")
        return [t.title for t in response.context["cl"].result_list]

    assert sorted(titles("field.kind=Refund")) == ["nine", "ten"]
    assert titles("field.count=100") == ["exchange"]
    # Numbers sort as numbers (9 before 10); tickets without a value come last.
    assert titles("field_order=count") == ["nine", "ten", "exchange", "none"]
    assert titles("field_order=-count") == ["exchange", "ten", "nine", "none"]
    assert titles("field.kind=Refund&field_order=-count") == ["ten", "nine"]
