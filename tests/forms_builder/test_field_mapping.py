"""A form's questions mapped onto custom ticket fields: checked when the form is saved
(types that fit, choices covered, the form's workflow, one question per field), copied
onto the ticket when a submission becomes one, and left out, not refused, when a field
has changed since."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from eventlog.models import EventLog
from forms_builder import services
from forms_builder.models import CustomForm, FormFieldType, FormStatus, FormSubmissionStatus
from nixflow import services as core
from nixflow.models import FieldType, HistoryLog, Role, TicketField, User
from tests.factories import UserFactory, WorkflowFactory
from tests.forms_builder.conftest import MakeForm
from tests.forms_builder.factories import field
from tests.helpers import as_user

pytestmark = pytest.mark.django_db


def ticket_field(name: str, type: str = FieldType.TEXT, **data: Any) -> TicketField:
    label = name.replace("_", " ").capitalize()
    return core.ticket_field_create(
        actor=None, data={"name": name, "label": label, "type": type, **data}
    )


def test_mapped_answers_become_the_tickets_custom_fields(make_form: MakeForm) -> None:
    order = ticket_field("order_number")
    kind = ticket_field("kind", FieldType.CHOICE, choices=["Refund", "Exchange", "Other"])
    amount = ticket_field("amount", FieldType.DECIMAL)
    items = ticket_field("items", FieldType.MULTIPLE_CHOICE, choices=["Box", "Cable", "Lid"])
    urgent = ticket_field("urgent", FieldType.CHECKBOX)
    when = ticket_field("bought", FieldType.DATE)
    form = make_form(
        [
            field("order", label="Order number", required=True, ticket_field=order),
            field("what", FormFieldType.SELECT, choices=["Refund", "Exchange"], ticket_field=kind),
            field("price", FormFieldType.NUMBER, ticket_field=amount),
            field("parts", FormFieldType.MULTISELECT, choices=["Lid", "Box"], ticket_field=items),
            field("asap", FormFieldType.CHECKBOX, ticket_field=urgent),
            field("date", FormFieldType.DATE, ticket_field=when),
            field("note", label="Anything else"),
        ],
        title_template="Order {order}",
    )
    requester = UserFactory(role=Role.REQUESTER)

    submission = services.submission_create(
        form=form,
        data={
            "order": "A-17",
            "what": "Refund",
            "price": "19.90",
            "parts": ["Lid", "Box"],
            "asap": "yes",
            "date": "2026-12-01",
            "note": "Thanks",
        },
        submitter=requester,
    )

    assert submission.status == FormSubmissionStatus.CONVERTED
    ticket = submission.ticket
    assert ticket is not None
    ticket.refresh_from_db()
    assert ticket.custom_fields == {
        "order_number": "A-17",
        "kind": "Refund",
        "amount": "19.9",
        "items": ["Box", "Lid"],
        "urgent": True,
        "bought": "2026-12-01",
    }
    # Set by the system on the form's behalf, and the history says which form.
    row = HistoryLog.objects.get(ticket=ticket, field="field.order_number")
    assert row.actor is None
    assert row.via == f"form: {form.name}"
    event = EventLog.objects.get(type="ticket.updated", ticket_key=ticket.key)
    assert event.payload["via"]["kind"] == "form"
    assert event.payload["fields"] == sorted(ticket.custom_fields)


def test_types_that_do_not_fit_are_refused_when_the_form_is_saved(make_form: MakeForm) -> None:
    number = ticket_field("count", FieldType.NUMBER)
    kind = ticket_field("kind", FieldType.CHOICE, choices=["Refund"])
    with pytest.raises(ValidationError) as refused:
        make_form(
            [
                field("count_text", ticket_field=number),
                field(
                    "kind_pick", FormFieldType.SELECT, choices=["Refund", "Gift"], ticket_field=kind
                ),
            ]
        )
    problems = refused.value.message_dict["fields"]
    assert "count_text: a text answer cannot fill the number field Count." in problems
    assert "kind_pick: Kind has no choice 'Gift'." in problems


def test_a_field_of_another_workflow_or_filled_twice_is_refused(make_form: MakeForm) -> None:
    elsewhere = ticket_field("elsewhere", workflows=[WorkflowFactory(stages=["A", "B"])])
    order = ticket_field("order_number")
    with pytest.raises(ValidationError) as refused:
        make_form(
            [
                field("a", ticket_field=elsewhere),
                field("b", ticket_field=order),
                field("c", ticket_field=order),
            ]
        )
    problems = refused.value.message_dict["fields"]
    assert "a: the ticket field Elsewhere is not a field of this form's workflow." in problems
    assert "c: Order number is already filled from b." in problems


def test_an_answer_the_field_no_longer_takes_is_left_out_not_refused(
    make_form: MakeForm,
) -> None:
    kind = ticket_field("kind", FieldType.CHOICE, choices=["Refund", "Exchange"])
    order = ticket_field("order_number")
    form = make_form(
        [
            field("what", FormFieldType.SELECT, choices=["Refund", "Exchange"], ticket_field=kind),
            field("order", ticket_field=order),
        ]
    )
    core.ticket_field_update(field=kind, actor=None, data={"choices": ["Refund"]})

    submission = services.submission_create(
        form=form, data={"what": "Exchange", "order": "A-1"}, submitter=UserFactory()
    )

    assert submission.status == FormSubmissionStatus.CONVERTED
    assert submission.ticket is not None
    submission.ticket.refresh_from_db()
    assert submission.ticket.custom_fields == {"order_number": "A-1"}
    assert "Exchange" in submission.ticket.description  # every answer still reads there


def test_the_api_reads_and_writes_the_mapping_by_field_name(designer: User) -> None:
    ticket_field("order_number")
    client = as_user(APIClient(), designer)
    created = client.post(
        "/api/forms/",
        {
            "name": "Returns",
            "slug": "returns",
            "fields": [
                {"key": "order", "label": "Order", "type": "text", "ticket_field": "order_number"}
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["fields"][0]["ticket_field"] == "order_number"
    unknown = client.patch(
        "/api/forms/returns/",
        {"fields": [{"key": "order", "label": "Order", "type": "text", "ticket_field": "nope"}]},
        format="json",
    )
    assert unknown.status_code == 400
    # The form's public schema (what renders it) does not tell the desk's fields.
    form = CustomForm.objects.get(slug="returns")
    services.form_set_status(form=form, status=FormStatus.PUBLISHED, actor=designer)
    schema = client.get("/api/forms/returns/schema/")
    assert schema.status_code == 200
    assert "ticket_field" not in schema.json()["fields"][0]
