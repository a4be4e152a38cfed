"""Dry run: the counts a rule would have matched, checked against counting the rows
directly, in SQL and in Python, for saved rules, unsaved data and time rules; and the
API's two dry-run endpoints with their permissions."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db.models import Q
from django.utils import timezone
from rest_framework.test import APIClient

from automation.dry_run import rule_dry_run
from automation.models import Rule
from nixflow.models import Priority, Stage, Tag, Ticket, User
from tests.factories import AdminFactory, TicketFactory

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


@pytest.fixture
def tickets(db: None) -> list[Ticket]:
    """Tickets of the last 30 days (high and normal, some tagged vip) and older ones
    that no dry run of the period may count."""
    now = timezone.now()
    made = []
    for age, priority in [
        (1, Priority.HIGH),
        (2, Priority.NORMAL),
        (3, Priority.HIGH),
        (5, Priority.LOW),
        (10, Priority.HIGH),
        (20, Priority.NORMAL),
        (29, Priority.HIGH),
        (35, Priority.HIGH),  # before the period
        (60, Priority.NORMAL),
    ]:
        made.append(TicketFactory.create(priority=priority, created=now - age * DAY))
    vip, _ = Tag.objects.get_or_create(name="vip")
    for ticket in (made[1], made[3], made[7]):
        ticket.tags.add(vip)
    return made


def period(days: int = 30) -> Any:
    return Ticket.objects.filter(created__gte=timezone.now() - days * DAY)


def test_a_saved_rule_counts_the_period_s_matching_tickets_in_sql(tickets: list[Ticket]) -> None:
    rule = Rule.objects.create(
        name="High",
        trigger="ticket_created",
        conditions=[{"field": "priority", "op": "is", "value": "HIGH"}],
    )

    result = rule_dry_run(rule_or_data=rule)

    assert result.in_sql is True
    assert result.matched == period().filter(priority=Priority.HIGH).count() == 4
    assert result.examined == period().count() == 7
    assert [t.pk for t in result.examples] == [
        t.pk for t in period().filter(priority=Priority.HIGH).order_by("-created")
    ]


def test_examples_are_the_newest_and_no_more_than_asked(tickets: list[Ticket]) -> None:
    data = {"trigger": "ticket_created", "conditions": [], "match": "all"}

    result = rule_dry_run(rule_or_data=data, examples=2)

    assert result.matched == result.examined == 7
    assert [t.pk for t in result.examples] == [tickets[0].pk, tickets[1].pk]


def test_unsaved_data_with_any_match_counts_either_condition(tickets: list[Ticket]) -> None:
    data = {
        "trigger": "ticket_updated",
        "match": "any",
        "conditions": [
            {"field": "priority", "op": "is", "value": "LOW"},
            {"field": "tags", "op": "contains", "value": "vip"},
        ],
    }

    result = rule_dry_run(rule_or_data=data)

    expected = period().filter(Q(priority=Priority.LOW) | Q(tags__name="vip")).distinct()
    assert result.matched == expected.count() == 2
    assert Rule.objects.count() == 0  # nothing saved


def test_a_shorter_period_counts_only_its_tickets(tickets: list[Ticket]) -> None:
    data = {
        "trigger": "ticket_created",
        "conditions": [{"field": "priority", "op": "is", "value": "HIGH"}],
    }

    result = rule_dry_run(rule_or_data=data, days=7)

    assert result.days == 7
    assert result.matched == period(7).filter(priority=Priority.HIGH).count() == 2
    assert result.examined == period(7).count() == 4


def test_a_condition_sql_cannot_say_is_judged_in_python_and_says_so(
    tickets: list[Ticket],
) -> None:
    # Business hours of no calendar: always working time (24x7), judged ticket by ticket.
    data = {
        "trigger": "ticket_created",
        "conditions": [
            {"field": "business_hours", "op": "is", "value": True},
            {"field": "priority", "op": "is", "value": "HIGH"},
        ],
    }

    result = rule_dry_run(rule_or_data=data)

    assert result.in_sql is False
    assert result.limited is False
    assert result.matched == period().filter(priority=Priority.HIGH).count() == 4
    assert result.examined == period().count() == 7
    # The priority, which SQL can say, narrowed what Python judged.
    assert result.judged == 4


def test_the_python_judgement_stops_at_its_cap_and_says_so(
    tickets: list[Ticket], settings: Any
) -> None:
    settings.AUTOMATION_DRY_RUN_PYTHON_LIMIT = 3
    data = {
        "trigger": "ticket_created",
        "conditions": [{"field": "business_hours", "op": "is", "value": True}],
    }

    result = rule_dry_run(rule_or_data=data)

    assert (result.in_sql, result.limited) == (False, True)
    assert result.judged == result.matched == 3
    assert result.examined == period().count() == 7
    newest = list(period().order_by("-created").values_list("pk", flat=True)[:3])
    assert [t.pk for t in result.examples] == newest


def test_a_time_rule_applies_its_time_condition_as_of_now(tickets: list[Ticket]) -> None:
    data = {
        "trigger": "time",
        "time_basis": "created",
        "time_amount": 4,
        "time_unit": "days",
        "conditions": [{"field": "priority", "op": "is", "value": "HIGH"}],
    }

    result = rule_dry_run(rule_or_data=data)

    due = period().filter(priority=Priority.HIGH, created__lt=timezone.now() - 4 * DAY)
    assert result.as_of is not None
    assert result.matched == due.count() == 2


def test_a_time_rule_counts_as_its_scan_would_now(tickets: list[Ticket]) -> None:
    """Stage entry before the cutoff, open tickets only, as the time-rule scan decides."""
    now = timezone.now()
    for ticket, entered in zip(tickets, [1, 2, 3, 4, 9, 12, 20, 40, 60], strict=True):
        Ticket.objects.filter(pk=ticket.pk).update(stage_entered_at=now - entered * DAY)
    resolved = Stage.objects.get(workflow=tickets[0].workflow, category="RESOLVED")
    Ticket.objects.filter(pk=tickets[4].pk).update(stage=resolved)
    data = {
        "trigger": "time",
        "time_basis": "stage_entered",
        "time_amount": 48,
        "time_unit": "hours",
        "conditions": [],
    }

    result = rule_dry_run(rule_or_data=data)

    due = (
        period()
        .filter(stage_entered_at__lt=timezone.now() - 2 * DAY)
        .exclude(stage__category__in=["RESOLVED", "CLOSED"])
    )
    # Entered 2, 3, 4, 12 and 20 days ago; the one of 9 days is resolved, the one of a
    # day is not due yet.
    assert result.matched == due.count() == 5
    assert tickets[4].pk not in {t.pk for t in result.examples}


def test_a_time_rule_naming_stages_counts_done_tickets_too(tickets: list[Ticket]) -> None:
    resolved = Stage.objects.get(workflow=tickets[0].workflow, category="RESOLVED")
    Ticket.objects.filter(pk__in=[t.pk for t in tickets[2:5]]).update(stage=resolved)
    data = {
        "trigger": "time",
        "time_basis": "created",
        "time_amount": 1,
        "time_unit": "days",
        "conditions": [{"field": "stage_category", "op": "is", "value": "RESOLVED"}],
    }

    result = rule_dry_run(rule_or_data=data)

    assert result.matched == period().filter(stage=resolved).count() == 3


# --- The API ----------------------------------------------------------------------------
def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


HIGH = {
    "trigger": "ticket_created",
    "conditions": [{"field": "priority", "op": "is", "value": "HIGH"}],
}


def test_the_api_dry_runs_an_unsaved_rule_for_admins(tickets: list[Ticket]) -> None:
    response = client_for(AdminFactory.create()).post(
        "/api/automation/rules/dry-run/", HIGH, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["matched"], body["examined"], body["days"]) == (4, 7, 30)
    assert body["in_sql"] is True
    high = [t for t in tickets[:7] if t.priority == Priority.HIGH]
    assert [e["key"] for e in body["examples"]] == [t.key for t in high]


def test_the_api_dry_runs_a_saved_rule_over_the_days_asked(tickets: list[Ticket]) -> None:
    rule = Rule.objects.create(name="High", **HIGH)

    response = client_for(AdminFactory.create()).post(
        f"/api/automation/rules/{rule.pk}/dry-run/?days=7", format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["matched"], response.json()["examined"]) == (2, 4)


def test_the_api_refuses_a_wrong_condition_naming_it(tickets: list[Ticket]) -> None:
    data = {**HIGH, "conditions": [HIGH["conditions"][0], {"field": "nope", "op": "is"}]}

    response = client_for(AdminFactory.create()).post(
        "/api/automation/rules/dry-run/", data, format="json"
    )

    assert response.status_code == 400
    assert "Condition 2" in response.json()["conditions"][0]


@pytest.mark.parametrize(("who", "code"), [("agent", 403), ("requester", 403), (None, 401)])
def test_only_admins_may_dry_run(who: str | None, code: int, agent: User, requester: User) -> None:
    rule = Rule.objects.create(name="High", **HIGH)
    user = {"agent": agent, "requester": requester, None: None}[who]

    unsaved = client_for(user).post("/api/automation/rules/dry-run/", HIGH, format="json")
    saved = client_for(user).post(f"/api/automation/rules/{rule.pk}/dry-run/", format="json")

    assert (unsaved.status_code, saved.status_code) == (code, code)
