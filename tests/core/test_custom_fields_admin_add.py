"""Custom fields on the admin's add-ticket page: the ticket page's inputs, their values
recorded with the creation (history and the ``ticket.created`` event, as through the
API), their validation, fields that belong to another workflow, and what the page tells
its script about them (``test_custom_fields_add_browser`` tries the script itself)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

from eventlog.models import EventLog
from nixflow import services
from nixflow.models import FieldType, Priority, Ticket, TicketField, User, Workflow
from tests.core.admin_pages import errors, form_data, url
from tests.factories import WorkflowFactory
from tests.helpers import history

pytestmark = pytest.mark.django_db


def make_field(name: str, type: str = FieldType.TEXT, **data: Any) -> TicketField:
    label = name.replace("_", " ").capitalize()
    return services.ticket_field_create(
        actor=None, data={"name": name, "label": label, "type": type, **data}
    )


def new_ticket_data(client: Client, requester: User, **values: Any) -> dict[str, Any]:
    data = form_data(client.get(url("ticket_add")))
    data.update(title="Refund please", priority=Priority.NORMAL, requester=requester.pk)
    data.update(values)
    return data


def test_the_add_page_offers_the_active_fields_with_the_ticket_pages_inputs(
    agent_client: Client, workflow: Workflow
) -> None:
    make_field("order_number", help_text="From the receipt.")
    make_field("kind", FieldType.CHOICE, choices=["Refund", "Exchange"])
    make_field("due", FieldType.DATE)
    make_field("retired", is_active=False)

    page = agent_client.get(url("ticket_add"))

    assert page.status_code == 200
    form = page.context["adminform"].form
    assert [n for n in form.fields if n.startswith("cf_")] == [
        "cf_due",
        "cf_kind",
        "cf_order_number",
    ]
    assert form.fields["cf_order_number"].help_text == "From the receipt."
    assert [c for c, _ in form.fields["cf_kind"].choices] == ["", "Refund", "Exchange"]
    content = page.content.decode()
    assert "Custom fields" in content
    assert 'name="cf_kind"' in content
    assert "vDateField" in content  # the admin's date widget, as on the ticket page


def test_values_are_recorded_with_the_creation(
    agent_client: Client, agent: User, requester: User, workflow: Workflow
) -> None:
    make_field("kind", FieldType.CHOICE, choices=["Refund", "Exchange"])
    make_field("areas", FieldType.MULTIPLE_CHOICE, choices=["A", "B", "C"])
    make_field("cost", FieldType.DECIMAL)
    make_field("urgent", FieldType.CHECKBOX)
    make_field("owner", FieldType.USER)
    make_field("note")  # left empty: not recorded
    data = new_ticket_data(
        agent_client,
        requester,
        cf_kind="Refund",
        cf_areas=["C", "A"],
        cf_cost="12.50",
        cf_urgent="on",
        cf_owner=agent.pk,
    )

    response = agent_client.post(url("ticket_add"), data)

    assert response.status_code == 302, errors(response)
    ticket = Ticket.objects.get(title="Refund please")
    assert ticket.custom_fields == {
        "kind": "Refund",
        "areas": ["A", "C"],
        "cost": "12.5",
        "urgent": True,
        "owner": agent.pk,
    }
    rows = history(ticket)
    assert ("field.kind", "", "Refund") in rows
    assert ("field.areas", "", "A, C") in rows
    assert ("field.cost", "", "12.5") in rows
    assert ("field.urgent", "", "yes") in rows
    assert not any(field == "field.note" for field, _, _ in rows)
    # One event, the creation, naming the fields as the API's creation does.
    assert not EventLog.objects.filter(type="ticket.updated").exists()
    created = EventLog.objects.get(type="ticket.created")
    payload = created.payload
    assert sorted(payload["fields"]) == ["areas", "cost", "kind", "owner", "urgent"]
    assert payload["changes"]["field.kind"] == ["", "Refund"]


def test_a_value_the_type_refuses_is_an_error_on_its_input(
    agent_client: Client, requester: User, workflow: Workflow
) -> None:
    make_field("count", FieldType.NUMBER)
    data = new_ticket_data(agent_client, requester, cf_count="many")

    response = agent_client.post(url("ticket_add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["cf_count"] == ["Enter a whole number."]
    assert not Ticket.objects.exists()


def test_a_value_beyond_the_services_rules_is_refused_by_the_service(
    agent_client: Client, requester: User, workflow: Workflow
) -> None:
    make_field("count", FieldType.NUMBER)
    data = new_ticket_data(agent_client, requester, cf_count=str(2**60))

    response = agent_client.post(url("ticket_add"), data)

    assert response.status_code == 200
    assert "Count:" in errors(response)
    assert not Ticket.objects.exists()


def test_a_field_of_another_workflow_is_refused_unless_that_workflow_is_chosen(
    agent_client: Client, requester: User, workflow: Workflow
) -> None:
    returns = WorkflowFactory(name="Returns", stages=["Received", "Refunded"])
    make_field("rma", workflows=[returns])
    make_field("order_number")  # every workflow
    page = agent_client.get(url("ticket_add"))
    rma = page.context["adminform"].form.fields["cf_rma"]
    assert rma.help_text == "Only for the workflows: Returns."

    data = new_ticket_data(agent_client, requester, cf_rma="R-1", cf_order_number="A-17")
    refused = agent_client.post(url("ticket_add"), data)

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["cf_rma"] == [
        f"Rma is not a field of the workflow {workflow.name}."
    ]
    assert not Ticket.objects.exists()

    data["workflow"] = returns.pk
    added = agent_client.post(url("ticket_add"), data)

    assert added.status_code == 302, errors(added)
    ticket = Ticket.objects.get()
    assert ticket.workflow == returns
    assert ticket.custom_fields == {"rma": "R-1", "order_number": "A-17"}


class PageReader(HTMLParser):
    """The attributes of a page's named inputs (the first of each name) and its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in {"input", "select", "textarea"} and found.get("name"):
            self.inputs.setdefault(str(found["name"]), found)
        if tag == "script" and found.get("src"):
            self.scripts.append(str(found["src"]))


def read_page(client: Client) -> PageReader:
    reader = PageReader()
    reader.feed(client.get(url("ticket_add")).content.decode())
    return reader


def test_the_add_page_names_each_fields_workflows_for_its_script(
    agent_client: Client, workflow: Workflow
) -> None:
    returns = WorkflowFactory(name="Returns", stages=["Received", "Refunded"])
    hardware = WorkflowFactory(name="Hardware", stages=["Booked", "Fixed"])
    make_field("rma", workflows=[returns])
    make_field("serial", FieldType.CHOICE, choices=["A", "B"], workflows=[hardware, returns])
    make_field("parts", FieldType.MULTIPLE_CHOICE, choices=["Fan", "Disk"], workflows=[hardware])
    make_field("due", FieldType.DATE, workflows=[hardware])
    make_field("order_number")  # every workflow

    page = read_page(agent_client)

    assert page.inputs["cf_rma"]["data-workflows"] == str(returns.pk)
    assert page.inputs["cf_serial"]["data-workflows"] == f"{returns.pk} {hardware.pk}"
    assert page.inputs["cf_parts"]["data-workflows"] == str(hardware.pk)  # each checkbox
    assert page.inputs["cf_due"]["data-workflows"] == str(hardware.pk)
    assert "data-workflows" not in page.inputs["cf_order_number"]
    # The built-in inputs are not the script's business.
    assert "data-workflows" not in page.inputs["title"]
    # "Default workflow", the empty choice, stands for this one.
    assert page.inputs["workflow"]["data-default-workflow"] == str(workflow.pk)
    assert any(src.endswith("nixflow/admin/new_ticket_fields.js") for src in page.scripts)


def test_without_a_default_workflow_the_empty_choice_stands_for_none(
    agent_client: Client, workflow: Workflow
) -> None:
    returns = WorkflowFactory(name="Returns", stages=["Received", "Refunded"])
    make_field("rma", workflows=[returns])
    Workflow.objects.filter(pk=workflow.pk).update(is_default=False)

    page = read_page(agent_client)

    assert page.inputs["cf_rma"]["data-workflows"] == str(returns.pk)
    assert "data-default-workflow" not in page.inputs["workflow"]


def test_without_fields_the_add_page_is_as_before(
    agent_client: Client, requester: User, workflow: Workflow
) -> None:
    page = agent_client.get(url("ticket_add"))
    assert "Custom fields" not in page.content.decode()
    response = agent_client.post(url("ticket_add"), new_ticket_data(agent_client, requester))
    assert response.status_code == 302, errors(response)
    assert Ticket.objects.get().custom_fields == {}
