"""Routing rules give a new ticket its team: the first active match by position, else the
default team; a ticket without a team is routed again when its priority changes."""

from __future__ import annotations

import pytest

from eventlog.models import EventLog
from forms_builder.models import CustomForm
from nixflow import events, services
from nixflow.models import Priority, Source, User, Workflow
from nixflow.services.routing import route
from tests.factories import (
    AgentFactory,
    RoutingRuleFactory,
    TeamFactory,
    UserFactory,
    WorkflowFactory,
)
from tests.forms_builder.conftest import (  # noqa: F401 -- fixtures of the form tests
    designer,
    make_form,
    media,
    public_form,
    submit,
)
from tests.helpers import history, new_ticket

pytestmark = pytest.mark.django_db


def test_no_rule_and_no_default_team_leaves_the_ticket_without_a_team(requester: User) -> None:
    assert new_ticket(requester).team is None


def test_a_ticket_no_rule_matches_goes_to_the_default_team(requester: User) -> None:
    default = TeamFactory(name="Front desk", is_default=True)
    RoutingRuleFactory(team=TeamFactory(), priority=Priority.URGENT)
    ticket = new_ticket(requester, priority=Priority.NORMAL)
    assert ticket.team == default
    assert ("team", "", "Front desk") in history(ticket)


def test_the_first_matching_rule_by_position_wins_over_later_ones_and_the_default(
    requester: User,
) -> None:
    TeamFactory(is_default=True)
    urgent = TeamFactory(name="Urgent")
    anything = TeamFactory(name="Anything")
    RoutingRuleFactory(team=anything, position=20)
    RoutingRuleFactory(team=urgent, position=10, priority=Priority.URGENT)
    assert new_ticket(requester, priority=Priority.URGENT).team == urgent
    assert new_ticket(requester, priority=Priority.LOW).team == anything


def test_inactive_rules_are_skipped(requester: User) -> None:
    default = TeamFactory(is_default=True)
    RoutingRuleFactory(team=TeamFactory(), position=1, is_active=False)
    assert new_ticket(requester).team == default


def test_every_condition_of_a_rule_must_match(workflow: Workflow) -> None:
    billing = TeamFactory(name="Billing")
    RoutingRuleFactory(
        team=billing,
        workflow=workflow,
        source=Source.EMAIL,
        origin="billing",
        priority=Priority.HIGH,
        requester_domain="acme.example",
    )
    customer = UserFactory(username="c", email="Pat@ACME.example")
    stranger = UserFactory(username="s", email="pat@other.example")

    def team(requester: User, **changes: object) -> object:
        values = {"source": Source.EMAIL, "origin": "Billing", "priority": Priority.HIGH}
        values.update(changes)
        return services.ticket_create(
            requester=requester,
            title="Invoice",
            actor=None,
            **values,  # type: ignore[arg-type]
        ).team

    assert team(customer) == billing  # origin and domain case-insensitively
    assert team(stranger) is None
    assert team(customer, origin="support") is None
    assert team(customer, source=Source.FORM) is None
    assert team(customer, priority=Priority.LOW) is None
    other = WorkflowFactory(stages=["A", "B"])
    assert team(customer, workflow=other) is None


def test_the_created_event_names_the_team(requester: User) -> None:
    team = TeamFactory(is_default=True)
    ticket = new_ticket(requester)
    event = EventLog.objects.get(type=events.TICKET_CREATED, ticket_key=ticket.key)
    assert event.payload["team_id"] == team.pk
    assert event.payload["changes"]["team"] == ["", team.name]


def test_route_reads_an_unsaved_ticket_with_one_query(
    requester: User, django_assert_num_queries: object
) -> None:
    RoutingRuleFactory(team=TeamFactory(), priority=Priority.URGENT)
    ticket = new_ticket(requester, priority=Priority.URGENT)
    ticket.team = None
    with django_assert_num_queries(1):  # type: ignore[operator]
        assert route(ticket=ticket) is not None


def test_a_ticket_without_a_team_is_routed_again_when_its_priority_changes(
    requester: User,
) -> None:
    urgent = TeamFactory(name="Urgent")
    RoutingRuleFactory(team=urgent, priority=Priority.URGENT)
    ticket = new_ticket(requester, priority=Priority.NORMAL)
    assert ticket.team is None
    agent = AgentFactory()
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.URGENT})
    ticket.refresh_from_db()
    assert ticket.team == urgent
    event = EventLog.objects.get(type=events.TICKET_TEAM_CHANGED, ticket_key=ticket.key)
    assert event.payload["routed"] is True
    assert event.actor_id is None


def test_a_ticket_with_a_team_keeps_it_when_its_priority_changes(requester: User) -> None:
    first = TeamFactory(is_default=True)
    RoutingRuleFactory(team=TeamFactory(), priority=Priority.URGENT)
    ticket = new_ticket(requester)
    services.ticket_update(ticket=ticket, actor=AgentFactory(), data={"priority": Priority.URGENT})
    ticket.refresh_from_db()
    assert ticket.team == first


# --- Origins: the mail account, the form ------------------------------------------------
def test_mail_is_routed_by_the_account_it_came_to() -> None:
    from email_integration import services as mail_services
    from email_integration.models import EmailAccount, InboundProtocol
    from tests.email_integration.messages import mail

    sales = TeamFactory(name="Sales")
    RoutingRuleFactory(team=sales, source=Source.EMAIL, origin="Sales inbox")
    TeamFactory(name="Front desk", is_default=True)
    inbox = EmailAccount.objects.create(
        name="Sales inbox", address="sales@desk.test", protocol=InboundProtocol.NONE
    )
    other = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    routed = mail_services.message_ingest(account=inbox, raw=mail(subject="Quote"))
    assert routed.ticket.team == sales
    unrouted = mail_services.message_ingest(account=other, raw=mail(subject="Broken"))
    assert unrouted.ticket.team.name == "Front desk"


def test_a_form_submission_is_routed_by_the_form(
    public_form: CustomForm,  # noqa: F811 -- the fixture imported above
) -> None:
    outages = TeamFactory(name="Outages")
    RoutingRuleFactory(team=outages, source=Source.FORM, origin=public_form.slug)
    submission = submit(public_form)
    assert submission.ticket.team == outages
