"""Custom ticket fields through the services: each type's rules, values on tickets
(history, events, version), fields per workflow, required-to-enter-stage, and the
definitions' own rules (admins, fixed names once used, no deletion with values)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from eventlog.models import EventLog
from nixflow import services
from nixflow.fields import value_clean, value_parse
from nixflow.models import FieldType, Role, Stage, Ticket, TicketField, User, Workflow
from nixflow.toolkit.errors import ConflictError
from tests.factories import AdminFactory, UserFactory, WorkflowFactory
from tests.helpers import history, new_ticket

pytestmark = pytest.mark.django_db


def make_field(name: str, type: str = FieldType.TEXT, **data: Any) -> TicketField:
    return services.ticket_field_create(
        actor=None,
        data={"name": name, "label": name.replace("_", " ").capitalize(), "type": type, **data},
    )


# --- Types -------------------------------------------------------------------------------
CLEAN = [
    (FieldType.TEXT, "  disk  ", "disk"),
    (FieldType.LONG_TEXT, "line 1\nline 2\n", "line 1\nline 2\n"),
    (FieldType.NUMBER, 42, 42),
    (FieldType.NUMBER, "-7", -7),
    (FieldType.DECIMAL, "12.50", "12.5"),
    (FieldType.DECIMAL, 12.5, "12.5"),
    (FieldType.DECIMAL, "1.25E1", "12.5"),
    (FieldType.DECIMAL, "100", "100"),
    (FieldType.DECIMAL, "0.10", "0.1"),
    (FieldType.DATE, "2026-12-07", "2026-12-07"),
    (FieldType.CHOICE, "Disk", "Disk"),
    (FieldType.MULTIPLE_CHOICE, ["Network", "Disk", "Network"], ["Disk", "Network"]),
    (FieldType.CHECKBOX, True, True),
    (FieldType.CHECKBOX, False, False),
    (FieldType.CHECKBOX, "yes", True),
    (FieldType.URL, "https://example.com/x?y=1", "https://example.com/x?y=1"),
    (FieldType.TEXT, "", None),
    (FieldType.MULTIPLE_CHOICE, [], None),
    (FieldType.NUMBER, None, None),
]
REFUSED = [
    (FieldType.TEXT, "x" * 1001, "at most 1,000 characters"),
    (FieldType.TEXT, 3, "give text"),
    (FieldType.LONG_TEXT, "x" * 20_001, "at most 20,000 characters"),
    (FieldType.NUMBER, 1.5, "whole number"),
    (FieldType.NUMBER, True, "whole number"),
    (FieldType.NUMBER, 2**53, "between"),
    (FieldType.DECIMAL, "twelve", "decimal number"),
    (FieldType.DECIMAL, "NaN", "decimal number"),
    (FieldType.DECIMAL, "1" * 31, "at most 30 digits"),
    (FieldType.DATE, "07/12/2026", "YYYY-MM-DD"),
    (FieldType.DATE, "2026-02-30", "YYYY-MM-DD"),
    (FieldType.CHOICE, "Power", "not one of its choices"),
    (FieldType.MULTIPLE_CHOICE, ["Disk", "Power"], "not one of its choices"),
    (FieldType.MULTIPLE_CHOICE, {"a": 1}, "list of its choices"),
    (FieldType.CHECKBOX, "maybe", "true or false"),
    (FieldType.URL, "ftp://example.com/", "http:// or https://"),
    (FieldType.URL, "javascript:alert(1)", "http:// or https://"),
    (FieldType.USER, "bob", "user id"),
]


def unsaved(type: str) -> TicketField:
    return TicketField(name="f", label="Root cause", type=type, choices=["Disk", "Network"])


@pytest.mark.parametrize(("type", "given", "stored"), CLEAN)
def test_each_type_stores_one_canonical_form(type: str, given: Any, stored: Any) -> None:
    assert value_clean(unsaved(type), given) == stored


@pytest.mark.parametrize(("type", "given", "message"), REFUSED)
def test_each_type_refuses_what_it_cannot_hold_with_the_label(
    type: str, given: Any, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        value_clean(unsaved(type), given)
    (text,) = refused.value.messages
    assert text.startswith("Root cause: ")
    assert message in text


def test_user_field_takes_active_agents_only() -> None:
    field = unsaved(FieldType.USER)
    agent = UserFactory(role=Role.AGENT)
    requester = UserFactory(role=Role.REQUESTER)
    gone = UserFactory(role=Role.AGENT, is_active=False)
    assert value_clean(field, agent.pk) == agent.pk
    assert value_clean(field, str(agent.pk)) == agent.pk
    for user in (requester, gone):
        with pytest.raises(ValidationError, match="is not an active agent"):
            value_clean(field, user.pk)


def test_filter_text_is_read_as_the_stored_value() -> None:
    assert value_parse(unsaved(FieldType.NUMBER), "42") == 42
    assert value_parse(unsaved(FieldType.DECIMAL), "12.50") == "12.5"
    assert value_parse(unsaved(FieldType.CHECKBOX), "false") is False
    assert value_parse(unsaved(FieldType.MULTIPLE_CHOICE), "Disk") == ["Disk"]
    with pytest.raises(ValidationError, match="whole number"):
        value_parse(unsaved(FieldType.NUMBER), "x")


# --- Values on tickets --------------------------------------------------------------------
def test_setting_values_writes_history_event_and_version(requester: User, agent: User) -> None:
    make_field("root_cause", FieldType.CHOICE, choices=["Disk", "Network"])
    make_field("cost", FieldType.DECIMAL)
    ticket = new_ticket(requester)
    version = ticket.version

    services.ticket_fields_set(
        ticket=ticket, actor=agent, values={"root_cause": "Disk", "cost": "10.50"}
    )

    ticket.refresh_from_db()
    assert ticket.custom_fields == {"root_cause": "Disk", "cost": "10.5"}
    assert ticket.version == version + 1
    assert history(ticket)[-2:] == [("field.root_cause", "", "Disk"), ("field.cost", "", "10.5")]
    event = EventLog.objects.filter(type="ticket.updated").get()
    assert event.payload["fields"] == ["cost", "root_cause"]
    assert event.payload["changes"] == {
        "field.root_cause": ["", "Disk"],
        "field.cost": ["", "10.5"],
    }

    # Clearing one removes its key; the same value again is no change at all.
    services.ticket_fields_set(
        ticket=ticket, actor=agent, values={"cost": None, "root_cause": "Disk"}
    )
    ticket.refresh_from_db()
    assert ticket.custom_fields == {"root_cause": "Disk"}
    assert history(ticket)[-1] == ("field.cost", "10.5", "")
    assert EventLog.objects.filter(type="ticket.updated").count() == 2


def test_user_values_read_as_usernames_in_history(requester: User, agent: User) -> None:
    make_field("owner", FieldType.USER)
    ticket = new_ticket(requester)
    services.ticket_fields_set(ticket=ticket, actor=agent, values={"owner": agent.pk})
    assert history(ticket)[-1] == ("field.owner", "", "agent")
    assert Ticket.objects.get(pk=ticket.pk).custom_fields == {"owner": agent.pk}


def test_requesters_set_no_values(requester: User) -> None:
    make_field("order_number")
    ticket = new_ticket(requester)
    with pytest.raises(PermissionDenied):
        services.ticket_fields_set(ticket=ticket, actor=requester, values={"order_number": "1"})
    with pytest.raises(PermissionDenied):
        services.ticket_update(
            ticket=ticket, actor=requester, data={"custom_fields": {"order_number": "1"}}
        )
    with pytest.raises(PermissionDenied):
        new_ticket(requester, custom_fields={"order_number": "1"})


def test_create_and_update_take_values_in_their_own_event(requester: User, agent: User) -> None:
    make_field("order_number")
    make_field("count", FieldType.NUMBER)
    ticket = services.ticket_create(
        requester=requester, title="Where is it", actor=agent, custom_fields={"order_number": "A-1"}
    )
    assert ticket.custom_fields == {"order_number": "A-1"}
    created = EventLog.objects.get(type="ticket.created")
    assert created.payload["fields"] == ["order_number"]
    assert created.payload["changes"]["field.order_number"] == ["", "A-1"]
    assert ticket.version == 1

    services.ticket_update(
        ticket=ticket, actor=agent, data={"priority": "HIGH", "custom_fields": {"count": "3"}}
    )
    ticket.refresh_from_db()
    assert ticket.custom_fields == {"order_number": "A-1", "count": 3}
    assert ticket.priority == "HIGH"
    assert ticket.version == 2
    updated = EventLog.objects.get(type="ticket.updated")
    assert set(updated.payload["changes"]) == {"priority", "field.count"}
    assert updated.payload["fields"] == ["count"]

    # Only a field changing still saves and counts.
    services.ticket_update(ticket=ticket, actor=agent, data={"custom_fields": {"count": 4}})
    ticket.refresh_from_db()
    assert (ticket.custom_fields["count"], ticket.version) == (4, 3)


def test_all_refusals_come_at_once_and_nothing_is_saved(requester: User, agent: User) -> None:
    make_field("count", FieldType.NUMBER)
    make_field("site", FieldType.URL)
    ticket = new_ticket(requester)
    with pytest.raises(ValidationError) as refused:
        services.ticket_fields_set(
            ticket=ticket, actor=agent, values={"count": "many", "site": "x", "nope": 1}
        )
    messages = refused.value.message_dict["custom_fields"]
    assert len(messages) == 3
    assert any("'nope' is not a field of this ticket's workflow" in m for m in messages)
    assert Ticket.objects.get(pk=ticket.pk).custom_fields == {}


def test_fields_of_another_workflow_or_inactive_are_refused(requester: User, agent: User) -> None:
    other = WorkflowFactory(stages=["A", "B"])
    make_field("elsewhere", workflows=[other])
    make_field("retired", is_active=False)
    make_field("everywhere")
    ticket = new_ticket(requester)
    for name in ("elsewhere", "retired"):
        with pytest.raises(ValidationError, match=f"'{name}' is not a field"):
            services.ticket_fields_set(ticket=ticket, actor=agent, values={name: "x"})
    services.ticket_fields_set(ticket=ticket, actor=agent, values={"everywhere": "x"})
    assert Ticket.objects.get(pk=ticket.pk).custom_fields == {"everywhere": "x"}


# --- Required to enter a stage -----------------------------------------------------------
def test_a_required_field_must_be_filled_to_enter_its_stage(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    make_field("root_cause", required_for_stages=[stages["Resolved"]])
    make_field("confirmed", FieldType.CHECKBOX, required_for_stages=[stages["Resolved"]])
    ticket = new_ticket(requester)
    with pytest.raises(ValidationError) as refused:
        services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    assert refused.value.message_dict["custom_fields"] == [
        "Confirmed is required to move to Resolved.",  # by position, then name
        "Root cause is required to move to Resolved.",
    ]
    # Other stages are not guarded; an unticked checkbox is not filled.
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)
    services.ticket_fields_set(
        ticket=ticket, actor=agent, values={"root_cause": "Disk", "confirmed": False}
    )
    with pytest.raises(ValidationError, match="Confirmed is required"):
        services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    services.ticket_fields_set(ticket=ticket, actor=agent, values={"confirmed": True})
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).stage == stages["Resolved"]


def test_merging_closes_a_duplicate_without_its_required_fields(
    requester: User, agent: User, workflow: Workflow
) -> None:
    closed = workflow.stages.get(name="Closed")
    make_field("root_cause", required_for_stages=[closed])
    duplicate, target = new_ticket(requester), new_ticket(requester, title="The original")
    services.ticket_merge(sources=[duplicate], target=target, actor=agent)
    assert Ticket.objects.get(pk=duplicate.pk).stage == closed


# --- Definitions -----------------------------------------------------------------------------
def test_only_admins_define_fields(agent: User) -> None:
    data = {"name": "x", "label": "X", "type": FieldType.TEXT}
    with pytest.raises(PermissionDenied, match="Only admins"):
        services.ticket_field_create(actor=agent, data=data)
    field = services.ticket_field_create(actor=AdminFactory(), data=data)
    event = EventLog.objects.get(type="ticket_field.created")
    assert event.payload["name"] == "x"
    assert event.payload["workflow_ids"] == []
    assert field.pk


def test_definition_rules(stages: dict[str, Stage]) -> None:
    with pytest.raises(ValidationError, match="needs at least one choice"):
        make_field("kind", FieldType.CHOICE)
    with pytest.raises(ValidationError, match="Only single and multiple choice"):
        make_field("kind", FieldType.TEXT, choices=["a"])
    with pytest.raises(ValidationError, match="appear once"):
        make_field("kind", FieldType.CHOICE, choices=["a", "a"])
    with pytest.raises(ValidationError):
        make_field("Bad Name")
    other = WorkflowFactory(stages=["A", "B"])
    with pytest.raises(ValidationError, match="not a stage of the field's workflows"):
        make_field("kind", workflows=[other], required_for_stages=[stages["Resolved"]])
    make_field("kind")
    with pytest.raises(ValidationError, match="already exists"):
        make_field("kind")


def test_name_and_type_are_fixed_once_tickets_hold_values(requester: User, agent: User) -> None:
    field = make_field("order_number")
    services.ticket_field_update(field=field, actor=None, data={"name": "order_no"})
    field.refresh_from_db()
    assert field.name == "order_no"
    updated = EventLog.objects.get(type="ticket_field.updated")
    assert updated.payload["changes"] == {"name": ["order_number", "order_no"]}

    services.ticket_fields_set(ticket=new_ticket(requester), actor=agent, values={"order_no": "1"})
    for data in ({"name": "order"}, {"type": FieldType.NUMBER}):
        with pytest.raises(ConflictError, match="Tickets hold values"):
            services.ticket_field_update(field=field, actor=None, data=data)
    services.ticket_field_update(field=field, actor=None, data={"label": "Order no."})
    assert TicketField.objects.get(pk=field.pk).label == "Order no."


def test_a_field_with_values_is_deactivated_not_deleted(requester: User, agent: User) -> None:
    used, unused = make_field("order_number"), make_field("spare")
    ticket = new_ticket(requester)
    services.ticket_fields_set(ticket=ticket, actor=agent, values={"order_number": "1"})
    with pytest.raises(ConflictError, match="1 ticket\\(s\\) hold a value"):
        services.ticket_field_delete(field=used, actor=None)
    services.ticket_field_delete(field=unused, actor=None)
    assert list(TicketField.objects.values_list("name", flat=True)) == ["order_number"]
    assert EventLog.objects.get(type="ticket_field.deleted").payload["name"] == "spare"

    services.ticket_field_update(field=used, actor=None, data={"is_active": False})
    assert Ticket.objects.get(pk=ticket.pk).custom_fields == {"order_number": "1"}
