"""Actions: each one through the core services, as the system, named after the rule;
refusals recorded without failing the change that fired the rule."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from pytest_django.fixtures import Settings

from automation.actions import AUTOMATION_USERNAME, validate_actions
from automation.models import Trigger
from email_integration.models import EmailAccount, InboundProtocol
from eventlog import outbox
from eventlog.models import EventLog
from nixflow import services
from nixflow.models import (
    Comment,
    HistoryLog,
    Priority,
    Role,
    Stage,
    Team,
    TeamMembership,
    Ticket,
    TicketField,
    User,
)
from nixflow.models.fields import FieldType
from tests.automation.conftest import MakeRule, events_of
from tests.factories import UserFactory
from tests.helpers import new_ticket

pytestmark = pytest.mark.django_db

CREATED = Trigger.TICKET_CREATED


def _fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_related("stage", "team", "assignee").get(pk=ticket.pk)


def test_set_priority_is_recorded_in_history_and_events_with_the_rule_and_version(
    make_rule: MakeRule, requester: User
) -> None:
    rule = make_rule(CREATED, [{"type": "set_priority", "priority": "urgent"}], name="Urgent all")
    ticket = new_ticket(requester)
    assert _fresh(ticket).priority == Priority.URGENT
    row = HistoryLog.objects.get(ticket=ticket, field="priority")
    assert (row.old_value, row.new_value, row.actor_id) == ("NORMAL", "URGENT", None)
    assert row.via == "rule: Urgent all (v1)"
    updated = EventLog.objects.get(type="ticket.updated", ticket_key=ticket.key)
    assert updated.payload["via"] == {
        "kind": "rule",
        "id": rule.pk,
        "name": "Urgent all",
        "version": 1,
    }
    assert updated.actor_id is None
    (applied,) = events_of("automation.rule_applied")
    assert applied.ticket_key == ticket.key
    assert applied.payload["rule"] == {"id": rule.pk, "name": "Urgent all", "version": 1}
    assert applied.payload["actions"] == [{"type": "set_priority", "value": "URGENT"}]
    assert applied.payload["trigger"] == CREATED
    assert applied.payload["event_type"] == "ticket.created"
    created = EventLog.objects.get(type="ticket.created", ticket_key=ticket.key)
    assert applied.payload["event_id"] == created.pk
    assert applied.payload["depth"] == 1


def test_the_ticket_create_returns_shows_what_the_rules_did(
    make_rule: MakeRule, requester: User
) -> None:
    make_rule(CREATED, [{"type": "set_priority", "priority": "HIGH"}])
    ticket = new_ticket(requester)
    assert ticket.priority == Priority.HIGH
    assert ticket.version == _fresh(ticket).version


def test_set_stage_moves_along_a_transition(
    make_rule: MakeRule, requester: User, stages: dict[str, Stage]
) -> None:
    make_rule(CREATED, [{"type": "set_stage", "stage": stages["Open"].pk}])
    ticket = _fresh(new_ticket(requester))
    assert ticket.stage == stages["Open"]
    assert HistoryLog.objects.get(ticket=ticket, field="stage", new_value="Open").via.startswith(
        "rule: "
    )


def test_a_refused_action_rolls_back_the_rule_and_keeps_the_change_that_fired_it(
    make_rule: MakeRule, requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    """Closed → Resolved is no transition of the default workflow: the rule's first
    action (the priority) is undone with it, the person's own change stands."""
    rule = make_rule(
        Trigger.STAGE_CHANGED,
        [
            {"type": "set_priority", "priority": "URGENT"},
            {"type": "set_stage", "stage": stages["Resolved"].pk},
        ],
        conditions=[{"field": "stage_category", "op": "is", "value": "CLOSED"}],
    )
    ticket = new_ticket(requester)
    services.ticket_transition(ticket=ticket, to_stage=stages["Closed"], actor=agent)
    ticket = _fresh(ticket)
    assert ticket.stage == stages["Closed"]
    assert ticket.priority == Priority.NORMAL
    (failed,) = events_of("automation.rule_failed")
    assert failed.payload["rule"]["id"] == rule.pk
    assert failed.payload["action"] == 2
    assert failed.payload["action_type"] == "set_stage"
    assert "cannot move from 'Closed' to 'Resolved'" in failed.payload["reason"]
    assert not events_of("automation.rule_applied")
    assert not HistoryLog.objects.filter(ticket=ticket, field="priority").exists()


def test_set_team_and_assignee_and_unassign(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    team = Team.objects.create(name="Tier 2")
    make_rule(
        CREATED,
        [{"type": "set_team", "team": team.pk}, {"type": "set_assignee", "assignee": agent.pk}],
    )
    ticket = _fresh(new_ticket(requester))
    assert (ticket.team, ticket.assignee) == (team, agent)
    make_rule(
        Trigger.STAGE_CHANGED,
        [{"type": "set_assignee", "assignee": None}, {"type": "set_team", "team": None}],
    )
    services.ticket_transition(
        ticket=ticket, to_stage=ticket.workflow.stages.get(name="Open"), actor=agent
    )
    ticket = _fresh(ticket)
    assert (ticket.team, ticket.assignee) == (None, None)


def test_assigning_an_agent_who_left_fails_the_rule(make_rule: MakeRule, requester: User) -> None:
    leaver = UserFactory(username="leaver", role=Role.AGENT)
    make_rule(CREATED, [{"type": "set_assignee", "assignee": leaver.pk}])
    User.objects.filter(pk=leaver.pk).update(is_active=False)
    ticket = _fresh(new_ticket(requester))
    assert ticket.assignee is None
    (failed,) = events_of("automation.rule_failed")
    assert "leaver is not an active agent" in failed.payload["reason"]


def test_add_and_remove_tags(make_rule: MakeRule, requester: User, agent: User) -> None:
    make_rule(CREATED, [{"type": "add_tags", "tags": ["vip", "Billing"]}])
    make_rule(
        Trigger.TICKET_UPDATED,
        [{"type": "remove_tags", "tags": ["BILLING"]}],
        conditions=[{"field": "priority", "op": "is", "value": "LOW"}],
    )
    ticket = new_ticket(requester)
    assert set(ticket.tags.values_list("name", flat=True)) == {"vip", "Billing"}
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.LOW})
    assert list(ticket.tags.values_list("name", flat=True)) == ["vip"]
    row = HistoryLog.objects.filter(ticket=ticket, field="tags").last()
    assert row is not None
    assert row.via.startswith("rule: Rule 2")


def test_set_field_through_the_fields_service(make_rule: MakeRule, requester: User) -> None:
    TicketField.objects.create(name="cost", label="Cost", type=FieldType.DECIMAL)
    make_rule(CREATED, [{"type": "set_field", "field": "cost", "value": "12.50"}])
    ticket = _fresh(new_ticket(requester))
    assert ticket.custom_fields == {"cost": "12.5"}
    row = HistoryLog.objects.get(ticket=ticket, field="field.cost")
    assert row.via == "rule: Rule 1 (v1)"


def test_add_note_renders_its_template_as_an_internal_note_of_the_automation_account(
    make_rule: MakeRule, requester: User
) -> None:
    User.objects.filter(pk=requester.pk).update(first_name="Ada")
    make_rule(
        CREATED,
        [
            {
                "type": "add_note",
                "body": "{{ requester.first_name }} opened {{ ticket.key }} "
                "({{ ticket.priority|upper }}); rule {{ rule.name }}.",
            }
        ],
        name="Greeter",
    )
    ticket = new_ticket(requester)
    note = Comment.objects.get(ticket=ticket)
    assert note.body == f"Ada opened {ticket.key} (NORMAL); rule Greeter."
    assert note.is_internal
    assert note.author.username == AUTOMATION_USERNAME
    assert not note.author.is_active
    assert not note.author.has_usable_password()


def test_send_mail_is_queued_by_the_mail_app_after_commit(
    make_rule: MakeRule, requester: User, settings: Settings
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    make_rule(
        CREATED,
        [
            {
                "type": "send_mail",
                "to": "requester",
                "subject": "We have {{ ticket.key }}",
                "body": "Hello {{ requester.name }}, about {{ ticket.title }}.",
            },
            {
                "type": "send_mail",
                "to": "address",
                "address": "ops@example.com",
                "subject": "New: {{ ticket.title }}",
                "body": "{{ ticket.key }}",
            },
        ],
    )
    ticket = new_ticket(requester, title="Printer on fire")
    requested = events_of("automation.mail_requested")
    assert [e.payload["to"] for e in requested] == ["requester", "address"]
    assert requested[0].payload["user_ids"] == [requester.pk]
    assert requested[0].payload["subject"] == f"We have {ticket.key}"
    assert requested[1].payload["address"] == "ops@example.com"
    mail.outbox.clear()
    outbox.run_inline()
    sent = {}
    for outgoing in mail.outbox:
        parsed = message_from_bytes(outgoing.raw, policy=default_policy)
        sent[(outgoing.to[0], str(parsed["Subject"]))] = parsed
    # The acknowledgement of the desk goes to the requester too; the rule's mail is its own.
    to_requester = sent[requester.email, f"We have {ticket.key}"]
    assert "Hello requester, about Printer on fire." in to_requester.get_content()
    assert to_requester["Auto-Submitted"] == "auto-generated"
    assert to_requester["In-Reply-To"] or to_requester["References"]  # threaded
    assert sent["ops@example.com", "New: Printer on fire"].get_content().strip() == ticket.key


def test_send_mail_to_the_team_writes_to_each_active_member(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    team = Team.objects.create(name="Tier 2")
    gone = UserFactory(username="gone", role=Role.AGENT, is_active=False)
    for member in (agent, gone):
        TeamMembership.objects.create(team=team, user=member)
    make_rule(
        CREATED,
        [
            {"type": "set_team", "team": team.pk},
            {"type": "send_mail", "to": "team", "subject": "s", "body": "b"},
            {"type": "send_mail", "to": "assignee", "subject": "s", "body": "b"},
        ],
    )
    new_ticket(requester)
    (requested,) = events_of("automation.mail_requested")
    assert requested.payload["user_ids"] == [agent.pk]
    applied = events_of("automation.rule_applied")[0].payload["actions"]
    assert applied[2] == {"type": "send_mail", "to": "assignee", "recipients": 0}


def test_call_webhook_records_the_agreed_payload(make_rule: MakeRule, requester: User) -> None:
    endpoint = _endpoint()
    rule = make_rule(CREATED, [{"type": "call_webhook", "endpoint": endpoint}])
    ticket = new_ticket(requester)
    (requested,) = events_of("automation.webhook_requested")
    created = EventLog.objects.get(type="ticket.created", ticket_key=ticket.key)
    payload = {k: v for k, v in requested.payload.items() if k != "via"}
    assert payload == {
        "endpoint_id": endpoint,
        "ticket_id": ticket.pk,
        "ticket_key": ticket.key,
        "rule": {"id": rule.pk, "name": rule.name, "version": 1},
        "event_id": created.pk,
    }


def _endpoint() -> int:
    from django.apps import apps

    model = apps.get_model("webhooks", "Endpoint")
    row = model.objects.create(name="Chat", url="https://chat.example/hook", secret_encrypted="x")
    return int(row.pk)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"type": "explode"}, "unknown type 'explode'"),
        ({"type": "set_priority", "priority": "soon"}, "priority is one of"),
        ({"type": "set_priority", "priority": "LOW", "stage": 1}, "set_priority takes priority"),
        ({"type": "set_stage", "stage": 999999}, "no stage has the id 999999"),
        ({"type": "set_team", "team": "x"}, "team is an id"),
        ({"type": "add_tags", "tags": []}, "at least one tag"),
        ({"type": "set_field", "field": "nope", "value": 1}, "no custom field 'nope'"),
        ({"type": "add_note", "body": "{{ settings.SECRET_KEY }}"}, "unknown placeholder"),
        ({"type": "add_note", "body": "{% load static %}"}, "is not allowed"),
        ({"type": "send_mail", "to": "boss", "subject": "s", "body": "b"}, "to is one of"),
        ({"type": "send_mail", "to": "address", "address": "x", "subject": "s", "body": "b"}, ""),
        ({"type": "call_webhook", "endpoint": 999999}, "no webhook endpoint has the id"),
    ],
)
def test_validation_names_the_action_and_the_problem(action: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate_actions([{"type": "set_priority", "priority": "LOW"}, action])
    text = raised.value.message_dict["actions"][0]
    assert text.startswith("Action 2: ")
    assert message in text


def test_validation_checks_custom_field_values_and_agents(agent: User) -> None:
    TicketField.objects.create(name="size", label="Size", type=FieldType.NUMBER)
    requester = UserFactory(username="someone")
    cleaned = validate_actions(
        [
            {"type": "set_field", "field": "field.size", "value": "7"},
            {"type": "add_tags", "tags": "vip, billing"},
            {"type": "set_assignee", "assignee": str(agent.pk)},
        ]
    )
    assert cleaned == [
        {"type": "set_field", "field": "size", "value": 7},
        {"type": "add_tags", "tags": ["vip", "billing"]},
        {"type": "set_assignee", "assignee": agent.pk},
    ]
    with pytest.raises(ValidationError, match="not an active agent"):
        validate_actions([{"type": "set_assignee", "assignee": requester.pk}])
    with pytest.raises(ValidationError, match="Action 1"):
        validate_actions([{"type": "set_field", "field": "size", "value": "big"}])


def test_note_templates_read_custom_fields_and_refuse_unknown_ones(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    TicketField.objects.create(
        name="systems", label="Systems", type=FieldType.MULTIPLE_CHOICE, choices=["mail", "vpn"]
    )
    make_rule(
        Trigger.TICKET_UPDATED,
        [{"type": "add_note", "body": "Affected: {{ fields.systems|default:'none' }}."}],
        conditions=[{"field": "field.systems", "op": "contains", "value": "vpn"}],
    )
    ticket = new_ticket(requester)
    services.ticket_fields_set(ticket=ticket, actor=agent, values={"systems": ["mail", "vpn"]})
    assert Comment.objects.get(ticket=ticket).body == "Affected: mail, vpn."
    with pytest.raises(ValidationError, match=r"unknown placeholder \{\{ ticket.secret \}\}"):
        validate_actions([{"type": "add_note", "body": "{{ ticket.secret }}"}])


def test_rule_apply_acts_without_an_event_as_the_time_rules_scan_calls_it(
    make_rule: MakeRule, requester: User
) -> None:
    """The scan has no event: the rule is recorded with its trigger and no event id."""
    from automation.conditions import Context
    from automation.engine import rule_apply

    rule = make_rule(
        Trigger.TIME,
        [{"type": "set_priority", "priority": "LOW"}],
        time_basis="created",
        time_amount=1,
        time_unit="hours",
    )
    ticket = new_ticket(requester)
    acted, ticket = rule_apply(rule=rule, ticket=ticket, context=Context(trigger="time"))
    assert acted
    assert ticket.priority == Priority.LOW
    (applied,) = events_of("automation.rule_applied")
    assert (applied.payload["trigger"], applied.payload["event_id"]) == ("time", None)


@pytest.mark.django_db(transaction=True)
def test_two_processes_making_the_automation_account_at_once_share_one() -> None:
    """The second insert waits on the unique username until the first commits, then
    reads the account the first made instead of failing the rule."""
    import threading

    from django.db import connection, transaction

    from automation.actions import AUTOMATION_USERNAME, automation_user

    inserted, release = threading.Event(), threading.Event()
    made: list[int] = []

    def first() -> None:
        try:
            with transaction.atomic():
                made.append(automation_user().pk)
                inserted.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert inserted.wait(30)
    second: list[int] = []

    def later() -> None:
        try:
            second.append(automation_user().pk)
        finally:
            connection.close()

    waiter = threading.Thread(target=later)
    waiter.start()
    waiter.join(1)  # blocked on the first's uncommitted row
    release.set()
    thread.join()
    waiter.join()

    assert second == made
    assert User.objects.filter(username=AUTOMATION_USERNAME).count() == 1
