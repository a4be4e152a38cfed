"""Conditions: validation, Python evaluation, and SQL that agrees with Python."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from automation.conditions import Context, conditions_match, conditions_q, validate_conditions
from automation.models import Rule
from nixflow.models import Priority, Source, Tag, Team, Ticket, TicketField
from nixflow.models.fields import FieldType
from sla.models import BusinessCalendar, WorkingInterval
from tests.factories import AgentFactory, TicketFactory, UserFactory, default_workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def tickets() -> list[Ticket]:
    """A dozen tickets that differ in every field a condition reads."""
    workflow = default_workflow()
    stages = list(workflow.stages.order_by("position"))
    team = Team.objects.create(name="Tier 2")
    agent = AgentFactory(username="ada")
    vip = UserFactory(username="vip", email="Boss@VIP.example")
    plain = UserFactory(username="plain", email="someone@other.example")
    noaddress = UserFactory(username="noaddress", email="")
    vpn = Tag.objects.create(name="VPN")
    billing = Tag.objects.create(name="billing")
    base = timezone.now() - datetime.timedelta(days=30)
    customs: list[dict[str, Any]] = [
        {},
        {"order": "A-17", "size": 3, "due": "2026-01-05", "systems": ["mail", "vpn"]},
        {"order": "a-17", "size": 12.5, "due": "2027-12-31", "urgent": True},
        {"order": "", "size": "7", "systems": [], "urgent": False},
        {"order": None, "size": "many", "due": "soon"},
        {"order": "B-2", "size": True, "systems": ["vpn"], "owner": 5},
        {"size": -4, "owner": "5"},
    ]
    rows = []
    for i in range(12):
        requester = (vip, plain, noaddress)[i % 3]
        ticket = TicketFactory(
            title=("Printer on fire", "VPN down", "printer jam", "Invoice")[i % 4],
            description=("", "The VPN drops every hour", "nothing")[i % 3],
            priority=Priority.values[i % 4],
            stage=stages[i % len(stages)],
            requester=requester,
            assignee=agent if i % 2 else None,
            team=team if i % 3 == 1 else None,
            source=Source.values[i % 4],
            custom_fields=customs[i % len(customs)],
        )
        Ticket.objects.filter(pk=ticket.pk).update(created=base + datetime.timedelta(days=i))
        if i % 4 == 1:
            ticket.tags.add(vpn)
        if i % 5 == 2:
            ticket.tags.add(vpn, billing)
        rows.append(ticket)
    for name, kind, choices in [
        ("order", FieldType.TEXT, []),
        ("size", FieldType.DECIMAL, []),
        ("due", FieldType.DATE, []),
        ("systems", FieldType.MULTIPLE_CHOICE, ["mail", "vpn", "crm"]),
        ("urgent", FieldType.CHECKBOX, []),
        ("owner", FieldType.USER, []),
    ]:
        TicketField.objects.create(name=name, label=name.title(), type=kind, choices=choices)
    return [Ticket.objects.select_related("stage", "requester").get(pk=t.pk) for t in rows]


def _cases(tickets: list[Ticket]) -> list[dict[str, Any]]:
    stage = tickets[1].stage_id
    team = Team.objects.get().pk
    agent = tickets[1].assignee_id
    middle = (tickets[5].created + datetime.timedelta(hours=1)).isoformat()
    return [
        {"field": "title", "op": "is", "value": "printer JAM"},
        {"field": "title", "op": "is_not", "value": "Invoice"},
        {"field": "title", "op": "in", "value": ["invoice", "VPN down"]},
        {"field": "title", "op": "not_in", "value": ["invoice"]},
        {"field": "title", "op": "contains", "value": "printer"},
        {"field": "title", "op": "not_contains", "value": "PRINTER"},
        {"field": "description", "op": "is_empty"},
        {"field": "description", "op": "is_not_empty"},
        {"field": "description", "op": "contains", "value": "vpn"},
        {"field": "text", "op": "contains", "value": "vpn"},
        {"field": "text", "op": "not_contains", "value": "vpn"},
        {"field": "priority", "op": "is", "value": "high"},
        {"field": "priority", "op": "in", "value": ["LOW", "URGENT"]},
        {"field": "priority", "op": "gt", "value": "NORMAL"},
        {"field": "priority", "op": "lt", "value": "HIGH"},
        {"field": "priority", "op": "not_in", "value": ["LOW"]},
        {"field": "stage", "op": "is", "value": stage},
        {"field": "stage", "op": "is_not", "value": stage},
        {"field": "stage_category", "op": "in", "value": ["NEW", "WAITING"]},
        {"field": "stage_category", "op": "is_not", "value": "OPEN"},
        {"field": "workflow", "op": "is", "value": tickets[0].workflow_id},
        {"field": "team", "op": "is", "value": team},
        {"field": "team", "op": "is_not", "value": team},
        {"field": "team", "op": "is_empty"},
        {"field": "team", "op": "in", "value": [team, None]},
        {"field": "team", "op": "not_in", "value": [None]},
        {"field": "assignee", "op": "is", "value": agent},
        {"field": "assignee", "op": "is_not_empty"},
        {"field": "assignee", "op": "is_not", "value": agent},
        {"field": "requester", "op": "is", "value": tickets[0].requester_id},
        {"field": "requester", "op": "not_in", "value": [tickets[0].requester_id]},
        {"field": "requester_domain", "op": "is", "value": "vip.example"},
        {"field": "requester_domain", "op": "is_not", "value": "VIP.example"},
        {"field": "requester_domain", "op": "in", "value": ["other.example", "x.example"]},
        {"field": "channel", "op": "is", "value": "email"},
        {"field": "channel", "op": "not_in", "value": ["WEB", "API"]},
        {"field": "tags", "op": "contains", "value": "vpn"},
        {"field": "tags", "op": "not_contains", "value": "Billing"},
        {"field": "tags", "op": "in", "value": ["billing", "nothing"]},
        {"field": "tags", "op": "not_in", "value": ["vpn"]},
        {"field": "tags", "op": "is_empty"},
        {"field": "tags", "op": "is_not_empty"},
        {"field": "created", "op": "gt", "value": middle},
        {"field": "created", "op": "lt", "value": middle},
        {"field": "field.order", "op": "is", "value": "a-17"},
        {"field": "field.order", "op": "is_not", "value": "A-17"},
        {"field": "field.order", "op": "in", "value": ["b-2", "zzz"]},
        {"field": "field.order", "op": "not_in", "value": ["B-2"]},
        {"field": "field.order", "op": "contains", "value": "-"},
        {"field": "field.order", "op": "not_contains", "value": "a"},
        {"field": "field.order", "op": "is_empty"},
        {"field": "field.order", "op": "is_not_empty"},
        {"field": "field.size", "op": "is", "value": 3},
        {"field": "field.size", "op": "is", "value": "7"},
        {"field": "field.size", "op": "is_not", "value": 12.5},
        {"field": "field.size", "op": "gt", "value": 5},
        {"field": "field.size", "op": "lt", "value": 5},
        {"field": "field.size", "op": "in", "value": [3, 7]},
        {"field": "field.due", "op": "gt", "value": "2026-06-01"},
        {"field": "field.due", "op": "lt", "value": "2026-06-01"},
        {"field": "field.due", "op": "is", "value": "2026-01-05"},
        {"field": "field.systems", "op": "contains", "value": "vpn"},
        {"field": "field.systems", "op": "not_contains", "value": "mail"},
        {"field": "field.systems", "op": "is_empty"},
        {"field": "field.systems", "op": "is_not_empty"},
        {"field": "field.urgent", "op": "is", "value": True},
        {"field": "field.urgent", "op": "is", "value": False},
        {"field": "field.owner", "op": "is", "value": 5},
        {"field": "field.owner", "op": "is_not", "value": 5},
        {"field": "field.owner", "op": "is_empty"},
    ]


def _python_and_sql(rule: Rule, tickets: list[Ticket]) -> tuple[set[int], set[int]]:
    in_python = {t.pk for t in tickets if conditions_match(rule, t, context=Context())}
    q = conditions_q(rule)
    assert q is not None
    in_sql = set(Ticket.objects.filter(q).values_list("pk", flat=True))
    return in_python, in_sql


def test_python_and_sql_agree_on_every_condition(tickets: list[Ticket]) -> None:
    seen_some, seen_none = 0, 0
    for condition in _cases(tickets):
        cleaned = validate_conditions([condition])
        rule = Rule(trigger="ticket_updated", conditions=cleaned)
        in_python, in_sql = _python_and_sql(rule, tickets)
        assert in_python == in_sql, condition
        seen_some += bool(in_python)
        seen_none += len(in_python) < len(tickets)
    # The cases are not trivially all or nothing: most select some tickets, not all.
    assert seen_some > 50
    assert seen_none > 50


def test_python_and_sql_agree_on_all_and_any(tickets: list[Ticket]) -> None:
    conditions = validate_conditions(
        [
            {"field": "title", "op": "contains", "value": "printer"},
            {"field": "tags", "op": "contains", "value": "vpn"},
            {"field": "field.size", "op": "gt", "value": 0},
        ]
    )
    for match in ("all", "any"):
        rule = Rule(trigger="ticket_updated", conditions=conditions, match=match)
        in_python, in_sql = _python_and_sql(rule, tickets)
        assert in_python == in_sql
        assert in_python
    everything = Rule(trigger="ticket_updated", conditions=[])
    assert _python_and_sql(everything, tickets) == ({t.pk for t in tickets},) * 2


def test_specific_matches(tickets: list[Ticket]) -> None:
    def matching(condition: dict[str, Any]) -> list[str]:
        rule = Rule(trigger="ticket_updated", conditions=validate_conditions([condition]))
        return sorted(t.title for t in tickets if conditions_match(rule, t, context=Context()))

    assert set(matching({"field": "requester_domain", "op": "is", "value": "vip.example"})) == {
        "Printer on fire",
        "Invoice",
        "printer jam",
        "VPN down",
    }
    # "A-17" on tickets 1 and 8, "a-17" on 2 and 9: text compares regardless of case.
    assert matching({"field": "field.order", "op": "is", "value": "A-17"}) == [
        "Printer on fire",
        "VPN down",
        "VPN down",
        "printer jam",
    ]


def test_comment_conditions_read_the_event_comment_and_have_no_sql() -> None:
    ticket = TicketFactory(title="Hello", description="")
    rule = Rule(
        trigger="requester_commented",
        conditions=validate_conditions([{"field": "text", "op": "contains", "value": "refund"}]),
    )
    assert conditions_match(rule, ticket, context=Context(comment="I want a REFUND now"))
    assert not conditions_match(rule, ticket, context=Context(comment="thanks"))
    assert conditions_q(rule) is None
    only_comment = Rule(
        trigger="agent_commented",
        conditions=validate_conditions([{"field": "comment", "op": "contains", "value": "hello"}]),
    )
    assert not conditions_match(only_comment, ticket, context=Context(comment="bye"))
    assert conditions_match(only_comment, ticket, context=Context(comment="HELLO there"))


def test_business_hours_read_the_rule_calendar_at_the_event_time() -> None:
    calendar = BusinessCalendar.objects.create(name="Office", time_zone="UTC")
    for weekday in range(5):
        WorkingInterval.objects.create(
            calendar=calendar,
            weekday=weekday,
            start=datetime.time(9),
            end=datetime.time(17),
        )
    rule = Rule(
        trigger="ticket_created",
        calendar=calendar,
        conditions=validate_conditions([{"field": "business_hours", "op": "is", "value": True}]),
    )
    ticket = TicketFactory()
    monday_ten = datetime.datetime(2026, 12, 7, 10, tzinfo=datetime.UTC)
    saturday = datetime.datetime(2026, 12, 5, 10, tzinfo=datetime.UTC)
    assert conditions_match(rule, ticket, context=Context(at=monday_ten))
    assert not conditions_match(rule, ticket, context=Context(at=saturday))
    assert not conditions_match(rule, ticket, context=Context(at=monday_ten.replace(hour=18)))
    assert conditions_q(rule) is None


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"field": "colour", "op": "is", "value": "red"}, "unknown field 'colour'"),
        ({"field": "title", "op": "gt", "value": "a"}, "title takes the ops"),
        ({"field": "title", "op": "nearly", "value": "a"}, "unknown op 'nearly'"),
        ({"field": "priority", "op": "is", "value": "extreme"}, "priority is one of"),
        ({"field": "stage", "op": "is", "value": 999999}, "no stage has the id 999999"),
        ({"field": "team", "op": "in", "value": []}, "in takes a non-empty list"),
        ({"field": "created", "op": "gt", "value": "yesterday"}, "created takes a date"),
        ({"field": "field.nothing", "op": "is", "value": 1}, "no custom field 'nothing'"),
        ({"field": "requester_domain", "op": "is", "value": "a@b"}, "takes a domain"),
        ({"field": "title", "op": "is", "value": "x", "extra": 1}, "unknown key(s) extra"),
        ({"field": "business_hours", "op": "is", "value": "yes"}, "true or false"),
    ],
)
def test_validation_names_the_condition_and_the_problem(
    condition: dict[str, Any], message: str
) -> None:
    ok = {"field": "title", "op": "contains", "value": "printer"}
    with pytest.raises(ValidationError) as raised:
        validate_conditions([ok, condition])
    text = raised.value.message_dict["conditions"][0]
    assert text.startswith("Condition 2: ")
    assert message in text


def test_validation_normalises_values() -> None:
    team = Team.objects.create(name="Ops")
    cleaned = validate_conditions(
        [
            {"field": "priority", "op": "in", "value": ["high", " urgent "]},
            {"field": "team", "op": "is", "value": str(team.pk)},
            {"field": "requester_domain", "op": "is", "value": "@VIP.Example "},
            {"field": "created", "op": "gt", "value": "2026-01-01"},
        ]
    )
    assert cleaned[0]["value"] == ["HIGH", "URGENT"]
    assert cleaned[1]["value"] == team.pk
    assert cleaned[2]["value"] == "vip.example"
    assert datetime.datetime.fromisoformat(cleaned[3]["value"]).tzinfo is not None
    assert validate_conditions(None) == []
