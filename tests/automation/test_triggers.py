"""Triggers: which events run which rules, in which order, and what they see."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from automation.models import Trigger
from csat import services as csat_services
from csat.models import Survey
from email_integration import services as mail_services
from email_integration.models import EmailAccount, InboundProtocol
from eventlog import outbox
from nixflow import services
from nixflow.models import (
    AssignmentMode,
    Priority,
    Role,
    Stage,
    Team,
    TeamMembership,
    Ticket,
    User,
)
from sla import services as sla_services
from sla.models import BusinessCalendar, WorkingInterval
from tests.automation.conftest import MakeRule, events_of
from tests.email_integration.messages import mail
from tests.factories import UserFactory
from tests.helpers import new_ticket
from tests.sla.factories import SLAPolicyFactory

pytestmark = pytest.mark.django_db


def _tags(ticket: Ticket) -> set[str]:
    return set(Ticket.objects.get(pk=ticket.pk).tags.values_list("name", flat=True))


def _tag_rule(make_rule: MakeRule, trigger: str, tag: str, **fields: object) -> None:
    make_rule(trigger, [{"type": "add_tags", "tags": [tag]}], **fields)


def test_ticket_created(make_rule: MakeRule, requester: User) -> None:
    _tag_rule(make_rule, Trigger.TICKET_CREATED, "created")
    _tag_rule(make_rule, Trigger.TICKET_UPDATED, "updated")
    ticket = new_ticket(requester)
    # The rule's own tagging is an update, but of the rule's making; the other rule of
    # ticket_updated does run on it (only a rule's own changes never fire it again).
    assert _tags(ticket) == {"created", "updated"}


def test_a_rule_on_creation_setting_the_assignee_wins_over_auto_assignment(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    """The team auto-assigns new tickets; its pick is recorded after ticket.created, and
    the rule must run after that record, or its assignee would be written over."""
    team = Team.objects.create(
        name="Desk", is_default=True, assignment_mode=AssignmentMode.ROUND_ROBIN
    )
    TeamMembership.objects.create(team=team, user=agent)
    specialist = UserFactory(username="specialist", role=Role.AGENT)
    make_rule(Trigger.TICKET_CREATED, [{"type": "set_assignee", "assignee": specialist.pk}])
    ticket = new_ticket(requester)
    assert ticket.assignee == specialist
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.assignee == specialist
    history = list(
        stored.history.filter(field="assignee").order_by("id").values_list("new_value", "via")
    )
    assert history == [("agent", ""), ("specialist", "rule: Rule 1 (v1)")]


@pytest.mark.parametrize("with_creation_rule", [True, False])
def test_auto_assignment_is_part_of_the_creation_not_an_update(
    make_rule: MakeRule, requester: User, agent: User, with_creation_rule: bool
) -> None:
    """Rules of new tickets see the agent the team picked; the pick, recorded as its own
    ticket.assigned, fires no ticket_updated rule (whether or not creation rules wait)."""
    team = Team.objects.create(
        name="Desk", is_default=True, assignment_mode=AssignmentMode.ROUND_ROBIN
    )
    TeamMembership.objects.create(team=team, user=agent)
    if with_creation_rule:
        _tag_rule(
            make_rule,
            Trigger.TICKET_CREATED,
            "assigned",
            conditions=[{"field": "assignee", "op": "is", "value": agent.pk}],
        )
    _tag_rule(
        make_rule,
        Trigger.TICKET_UPDATED,
        "updated",
        conditions=[{"field": "tags", "op": "not_contains", "value": "assigned"}],
    )
    ticket = new_ticket(requester)
    assert ticket.assignee == agent
    assert _tags(ticket) == ({"assigned"} if with_creation_rule else set())
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.LOW})
    if not with_creation_rule:
        assert _tags(ticket) == {"updated"}  # a real update does fire it


def test_ticket_updated_by_priority_assignment_team_and_tags(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    def once(tag: str, condition: dict[str, object]) -> None:
        not_yet = {"field": "tags", "op": "not_contains", "value": tag}
        _tag_rule(make_rule, Trigger.TICKET_UPDATED, tag, conditions=[condition, not_yet])

    once("high", {"field": "priority", "op": "is", "value": "HIGH"})
    once("assigned", {"field": "assignee", "op": "is_not_empty"})
    once("teamed", {"field": "team", "op": "is_not_empty"})
    make_rule(
        Trigger.TICKET_UPDATED,
        [{"type": "set_priority", "priority": "URGENT"}],
        conditions=[{"field": "tags", "op": "contains", "value": "escalate"}],
    )
    ticket = new_ticket(requester)
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.HIGH})
    assert _tags(ticket) == {"high"}
    services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
    assert _tags(ticket) == {"high", "assigned"}
    team = Team.objects.create(name="Tier 2")
    services.ticket_set_team(ticket=ticket, team=team, actor=agent)
    assert _tags(ticket) == {"high", "assigned", "teamed"}
    services.ticket_tag_add(ticket=ticket, tags=["escalate"], actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.URGENT
    fired_by = [e.payload["event_type"] for e in events_of("automation.rule_applied")]
    assert fired_by == [
        "ticket.updated",
        "ticket.assigned",
        "ticket.team_changed",
        "ticket.tags_changed",
    ]


def test_requester_and_agent_comments_fire_their_own_triggers_and_notes_none(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    _tag_rule(
        make_rule,
        Trigger.REQUESTER_COMMENTED,
        "customer-wants-refund",
        conditions=[{"field": "comment", "op": "contains", "value": "refund"}],
    )
    _tag_rule(make_rule, Trigger.AGENT_COMMENTED, "agent-replied")
    ticket = new_ticket(requester)
    services.comment_create(ticket=ticket, author=requester, body="Thanks")
    assert _tags(ticket) == set()
    services.comment_create(ticket=ticket, author=requester, body="I want a REFUND")
    assert _tags(ticket) == {"customer-wants-refund"}
    services.comment_create(ticket=ticket, author=agent, body="note", is_internal=True)
    assert _tags(ticket) == {"customer-wants-refund"}
    services.comment_create(ticket=ticket, author=agent, body="On it")
    assert _tags(ticket) == {"customer-wants-refund", "agent-replied"}
    (applied,) = events_of("automation.rule_applied", trigger=Trigger.AGENT_COMMENTED)
    assert applied.payload["event_type"] == "ticket.commented"


def test_stage_changed(
    make_rule: MakeRule, requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    make_rule(
        Trigger.STAGE_CHANGED,
        [{"type": "set_priority", "priority": "LOW"}],
        conditions=[{"field": "stage_category", "op": "is", "value": "WAITING"}],
    )
    ticket = new_ticket(requester)
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.NORMAL
    services.ticket_transition(
        ticket=Ticket.objects.get(pk=ticket.pk),
        to_stage=stages["Waiting on requester"],
        actor=agent,
    )
    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.LOW


def test_sla_at_risk_and_breached(make_rule: MakeRule, requester: User) -> None:
    SLAPolicyFactory(name="Standard", order=10, targets={Priority.NORMAL: (60, 30, 480)})
    _tag_rule(make_rule, Trigger.SLA_AT_RISK, "at-risk")
    make_rule(Trigger.SLA_BREACHED, [{"type": "set_priority", "priority": "URGENT"}])
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        ticket = new_ticket(requester)
    sla_services.sla_scan(now=start.replace(minute=50))  # 50 of 60 minutes: at risk
    assert _tags(ticket) == {"at-risk"}
    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.NORMAL
    sla_services.sla_scan(now=start.replace(hour=10, minute=1))
    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.URGENT
    (applied,) = events_of("automation.rule_applied", trigger=Trigger.SLA_BREACHED)
    assert applied.payload["event_type"] == "sla.breached"


def test_mail_received_for_a_new_ticket_and_a_reply(make_rule: MakeRule) -> None:
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    _tag_rule(make_rule, Trigger.MAIL_RECEIVED, "by-mail")
    _tag_rule(
        make_rule,
        Trigger.MAIL_RECEIVED,
        "angry",
        conditions=[{"field": "text", "op": "contains", "value": "unacceptable"}],
    )
    ticket = mail_services.message_ingest(
        account=account, raw=mail(subject="Printer", body="It is broken.")
    ).ticket
    assert ticket is not None
    assert _tags(ticket) == {"by-mail"}
    reply = mail(subject=f"Re: [{ticket.key}] Printer", body="This is unacceptable!")
    again = mail_services.message_ingest(account=account, raw=reply).ticket
    assert again == ticket
    assert _tags(ticket) == {"by-mail", "angry"}


def test_csat_received(
    make_rule: MakeRule, requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    make_rule(
        Trigger.CSAT_RECEIVED,
        [{"type": "add_note", "body": "Bad rating: call them."}],
        conditions=[{"field": "stage_category", "op": "is", "value": "RESOLVED"}],
    )
    ticket = new_ticket(requester)
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    outbox.run_inline()
    survey = Survey.objects.get(ticket=ticket)
    csat_services.rating_record(survey=survey, requester=requester, rating="bad")
    assert Ticket.objects.get(pk=ticket.pk).comments.get().body == "Bad rating: call them."
    (applied,) = events_of("automation.rule_applied", trigger=Trigger.CSAT_RECEIVED)
    assert applied.payload["event_type"] == "csat.rated"


def test_rules_run_in_position_order_and_stop_after_one_that_acted(
    make_rule: MakeRule, requester: User
) -> None:
    make_rule(Trigger.TICKET_CREATED, [{"type": "add_tags", "tags": ["third"]}], position=30)
    make_rule(
        Trigger.TICKET_CREATED,
        [{"type": "add_tags", "tags": ["never"]}],
        conditions=[{"field": "title", "op": "contains", "value": "nothing like this"}],
        position=10,
        stop_processing=True,
    )
    make_rule(
        Trigger.TICKET_CREATED,
        [{"type": "add_tags", "tags": ["second"]}],
        position=20,
        stop_processing=True,
    )
    make_rule(Trigger.TICKET_CREATED, [{"type": "add_tags", "tags": ["first"]}], position=5)
    ticket = new_ticket(requester)
    # position 5 acts; 10 matches nothing (its stop does not apply); 20 acts and stops.
    assert _tags(ticket) == {"first", "second"}
    order = [e.payload["rule"]["name"] for e in events_of("automation.rule_applied")]
    assert order == ["Rule 4", "Rule 3"]


def test_a_failed_rule_does_not_stop_the_others(make_rule: MakeRule, requester: User) -> None:
    leaver = UserFactory(username="leaver", role=Role.AGENT)
    make_rule(
        Trigger.TICKET_CREATED,
        [{"type": "set_assignee", "assignee": leaver.pk}],
        position=1,
        stop_processing=True,
    )
    _tag_rule(make_rule, Trigger.TICKET_CREATED, "later", position=2)
    User.objects.filter(pk=leaver.pk).update(is_active=False)
    ticket = new_ticket(requester)
    assert _tags(ticket) == {"later"}
    assert len(events_of("automation.rule_failed")) == 1


def test_inactive_rules_do_not_run_and_changes_are_seen_at_once(
    make_rule: MakeRule, requester: User, boss: User
) -> None:
    from automation import services as rule_services

    rule = make_rule(Trigger.TICKET_CREATED, [{"type": "add_tags", "tags": ["on"]}])
    assert _tags(new_ticket(requester)) == {"on"}
    rule_services.rule_update(rule=rule, actor=boss, data={"is_active": False})
    assert _tags(new_ticket(requester)) == set()
    rule_services.rule_update(
        rule=rule,
        actor=boss,
        data={"is_active": True, "actions": [{"type": "add_tags", "tags": ["v3"]}]},
    )
    ticket = new_ticket(requester)
    assert _tags(ticket) == {"v3"}
    assert Ticket.objects.get(pk=ticket.pk).history.get(field="tags").via == "rule: Rule 1 (v3)"


def test_business_hours_are_read_at_the_event_time(make_rule: MakeRule, requester: User) -> None:
    calendar = BusinessCalendar.objects.create(name="Office", time_zone="UTC")
    for weekday in range(5):
        WorkingInterval.objects.create(
            calendar=calendar, weekday=weekday, start="09:00", end="17:00"
        )
    _tag_rule(
        make_rule,
        Trigger.TICKET_CREATED,
        "after-hours",
        conditions=[{"field": "business_hours", "op": "is", "value": False}],
        calendar=calendar,
    )
    with time_machine.travel(datetime(2026, 12, 7, 10, tzinfo=UTC), tick=False):
        assert _tags(new_ticket(requester)) == set()
    with time_machine.travel(datetime(2026, 12, 5, 10, tzinfo=UTC), tick=False):
        assert _tags(new_ticket(requester)) == {"after-hours"}
