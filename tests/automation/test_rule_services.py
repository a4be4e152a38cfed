"""Rule services: admins only, validated as a whole, versioned, one event each."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from automation import selectors
from automation import services as rule_services
from automation.models import Rule, Trigger
from eventlog.models import EventLog
from nixflow.models import User
from sla.models import BusinessCalendar

pytestmark = pytest.mark.django_db

ACTIONS = [{"type": "set_priority", "priority": "HIGH"}]


def _data(**fields: object) -> dict[str, object]:
    return {
        "name": "VIP to Tier 2",
        "trigger": Trigger.TICKET_CREATED,
        "actions": ACTIONS,
        **fields,
    }


def test_create_validates_normalises_and_records_the_rule(boss: User) -> None:
    rule = rule_services.rule_create(
        actor=boss,
        data=_data(
            conditions=[{"field": "requester_domain", "op": "is", "value": "@VIP.example"}],
            actions=[{"type": "set_priority", "priority": "high"}],
        ),
    )
    assert (rule.version, rule.is_active, rule.created_by) == (1, False, boss)
    assert rule.conditions == [{"field": "requester_domain", "op": "is", "value": "vip.example"}]
    assert rule.actions == [{"type": "set_priority", "priority": "HIGH"}]
    event = EventLog.objects.get(type="automation_rule.created")
    assert event.actor == boss
    assert event.subject_id == str(rule.pk)
    assert event.payload["name"] == "VIP to Tier 2"
    assert event.payload["conditions"] == rule.conditions
    assert event.payload["version"] == 1


def test_only_admins_write_rules(agent: User, boss: User) -> None:
    with pytest.raises(PermissionDenied, match="Only admins can create automation rules"):
        rule_services.rule_create(actor=agent, data=_data())
    rule = rule_services.rule_create(actor=boss, data=_data())
    with pytest.raises(PermissionDenied):
        rule_services.rule_update(rule=rule, actor=agent, data={"is_active": True})
    with pytest.raises(PermissionDenied):
        rule_services.rule_delete(rule=rule, actor=agent)
    assert Rule.objects.get().version == 1


def test_every_change_is_a_new_version_with_its_event(boss: User) -> None:
    rule = rule_services.rule_create(actor=boss, data=_data())
    rule = rule_services.rule_update(rule=rule, actor=boss, data={"is_active": True})
    rule = rule_services.rule_update(rule=rule, actor=boss, data={"is_active": True})  # no-op
    assert rule.version == 2
    rule = rule_services.rule_move(rule=rule, actor=boss, position=7)
    assert (rule.version, rule.position) == (3, 7)
    events = list(EventLog.objects.filter(type="automation_rule.updated").order_by("id"))
    assert [e.payload["fields"] for e in events] == [["is_active"], ["position"]]
    assert events[0].payload["changes"] == {"is_active": [False, True]}
    assert [e.payload["version"] for e in events] == [2, 3]


def test_refusals_are_field_errors(boss: User) -> None:
    rule_services.rule_create(actor=boss, data=_data())
    with pytest.raises(ValidationError) as taken:
        rule_services.rule_create(actor=boss, data=_data())
    assert "name" in taken.value.message_dict
    with pytest.raises(ValidationError) as no_actions:
        rule_services.rule_create(actor=boss, data=_data(name="Empty", actions=[]))
    assert "actions" in no_actions.value.message_dict
    with pytest.raises(ValidationError) as bad:
        rule_services.rule_create(
            actor=boss,
            data=_data(name="Bad", conditions=[{"field": "colour", "op": "is", "value": 1}]),
        )
    assert bad.value.message_dict["conditions"][0].startswith("Condition 1: unknown field")
    with pytest.raises(ValidationError) as unknown:
        rule_services.rule_create(actor=boss, data=_data(name="X", owner="me"))
    assert "owner" in str(unknown.value)
    assert Rule.objects.count() == 1


def test_time_rules_need_their_time_and_business_units_a_calendar(boss: User) -> None:
    timed = _data(name="Remind", trigger=Trigger.TIME)
    with pytest.raises(ValidationError) as missing:
        rule_services.rule_create(actor=boss, data=timed)
    assert set(missing.value.message_dict) == {"time_basis", "time_amount", "time_unit"}
    when = {"time_basis": "stage_entered", "time_amount": 5, "time_unit": "business_days"}
    with pytest.raises(ValidationError) as no_calendar:
        rule_services.rule_create(actor=boss, data={**timed, **when})
    assert "calendar" in no_calendar.value.message_dict
    calendar = BusinessCalendar.objects.create(name="Office")
    rule = rule_services.rule_create(actor=boss, data={**timed, **when, "calendar": calendar.pk})
    assert rule.calendar == calendar
    with pytest.raises(ValidationError) as not_time:
        rule_services.rule_create(actor=boss, data={**_data(name="Evt"), **when})
    assert "time_basis" in not_time.value.message_dict
    with pytest.raises(ValidationError) as hours:
        rule_services.rule_create(
            actor=boss,
            data=_data(
                name="Hours", conditions=[{"field": "business_hours", "op": "is", "value": True}]
            ),
        )
    assert "calendar" in hours.value.message_dict


def test_delete_records_the_rule_as_it_was(boss: User) -> None:
    rule = rule_services.rule_create(actor=boss, data=_data(is_active=True))
    rule_services.rule_delete(rule=rule, actor=boss)
    assert not Rule.objects.exists()
    event = EventLog.objects.get(type="automation_rule.deleted")
    assert (event.payload["name"], event.payload["is_active"]) == ("VIP to Tier 2", True)


def test_the_active_rules_of_a_trigger_follow_every_change(
    boss: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = rule_services.rule_create(actor=boss, data=_data(is_active=True, position=2))
    assert selectors.rules_active(Trigger.TICKET_CREATED) == [first]
    second = rule_services.rule_create(actor=boss, data=_data(name="B", is_active=True, position=1))
    assert selectors.rules_active(Trigger.TICKET_CREATED) == [second, first]
    rule_services.rule_update(rule=second, actor=boss, data={"trigger": Trigger.TICKET_UPDATED})
    assert selectors.rules_active(Trigger.TICKET_CREATED) == [first]
    assert selectors.rules_active(Trigger.TICKET_UPDATED) == [second]
    rule_services.rule_delete(rule=first, actor=boss)
    assert selectors.rules_active(Trigger.TICKET_CREATED) == []
    # A row saved around the services is seen at once (the model's signals) ...
    third = Rule.objects.create(name="C", trigger=Trigger.TICKET_CREATED, is_active=True)
    assert selectors.rules_active(Trigger.TICKET_CREATED) == [third]
    # ... and an UPDATE around the model, which no signal reports, after a while.
    Rule.objects.filter(pk=second.pk).update(is_active=False)
    assert selectors.rules_active(Trigger.TICKET_UPDATED) == [second]
    monkeypatch.setattr(selectors, "RELOAD_SECONDS", 0.0)
    assert selectors.rules_active(Trigger.TICKET_UPDATED) == []
