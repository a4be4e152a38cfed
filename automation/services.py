"""Writes of rules: create, change, move and delete; admins only.

Every change validates the whole rule (conditions and actions with their validators,
the time fields against the trigger), adds one to ``version`` and records one
``automation_rule.*`` event (``automation.events``). What a rule does is recorded with
its name and version, so the version names the rule as it stood then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from automation import events
from automation.actions import validate_actions
from automation.conditions import validate_conditions
from automation.models import Rule, TimeUnit, Trigger
from nixflow.models import User
from nixflow.toolkit.auth import require_admin
from nixflow.toolkit.services import changes_payload, model_update
from sla.models import BusinessCalendar

RULE_FIELDS = frozenset(
    {
        "name",
        "description",
        "is_active",
        "position",
        "trigger",
        "match",
        "conditions",
        "actions",
        "stop_processing",
        "time_basis",
        "time_amount",
        "time_unit",
        "calendar",
    }
)
_BUSINESS_UNITS = frozenset({TimeUnit.BUSINESS_HOURS, TimeUnit.BUSINESS_DAYS})


def _snapshot(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "description": rule.description,
        "is_active": rule.is_active,
        "position": rule.position,
        "trigger": rule.trigger,
        "match": rule.match,
        "conditions": rule.conditions,
        "actions": rule.actions,
        "stop_processing": rule.stop_processing,
        "time_basis": rule.time_basis,
        "time_amount": rule.time_amount,
        "time_unit": rule.time_unit,
        "calendar_id": rule.calendar_id,
        "version": rule.version,
    }


def _clean_data(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - RULE_FIELDS)
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(unknown)}.")
    cleaned = dict(data)
    if "name" in cleaned:
        cleaned["name"] = " ".join(str(cleaned["name"] or "").split())
    if "conditions" in cleaned:
        cleaned["conditions"] = validate_conditions(cleaned["conditions"])
    if "actions" in cleaned:
        cleaned["actions"] = validate_actions(cleaned["actions"])
    calendar = cleaned.get("calendar")
    if calendar is not None and not isinstance(calendar, BusinessCalendar):
        found = BusinessCalendar.objects.filter(pk=calendar).first()
        if found is None:
            raise ValidationError({"calendar": f"No business calendar has the id {calendar}."})
        cleaned["calendar"] = found
    for name in ("time_basis", "time_unit"):
        if name in cleaned and cleaned[name] is None:
            cleaned[name] = ""
    return cleaned


def _check_rule(rule: Rule) -> None:
    """The rule as a whole: its fields, and what its trigger asks of the others."""
    rule.full_clean()
    if not rule.actions:
        raise ValidationError({"actions": "A rule needs at least one action."})
    if rule.trigger == Trigger.TIME:
        missing = [
            name
            for name in ("time_basis", "time_amount", "time_unit")
            if getattr(rule, name) in (None, "")
        ]
        if missing:
            raise ValidationError(
                dict.fromkeys(missing, "A time rule says how long after what: set it.")
            )
        if rule.time_amount == 0:
            raise ValidationError({"time_amount": "At least 1."})
        if rule.time_unit in _BUSINESS_UNITS and rule.calendar_id is None:
            raise ValidationError(
                {"calendar": "Business hours and days count a calendar's working time: pick one."}
            )
    elif rule.time_basis or rule.time_amount is not None or rule.time_unit:
        raise ValidationError(
            {"time_basis": "Only time rules measure time; this rule's trigger is an event."}
        )
    uses_hours = any(c.get("field") == "business_hours" for c in rule.conditions or [])
    if uses_hours and rule.calendar_id is None:
        raise ValidationError(
            {"calendar": "The business-hours condition reads a calendar: pick one."}
        )


def _name_taken(error: IntegrityError) -> ValidationError:
    return ValidationError({"name": "A rule with this name exists already."})


@transaction.atomic
def rule_create(*, actor: User | None, data: Mapping[str, Any]) -> Rule:
    """Add a rule (disabled unless ``data`` says otherwise: dry-run it first); admins
    only. Records ``automation_rule.created``."""
    require_admin(actor, "create automation rules")
    rule = Rule(**_clean_data(data), created_by=actor)
    rule.created = rule.updated = timezone.now()
    _check_rule(rule)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as error:
        raise _name_taken(error) from error
    events.record_rule_event(
        type=events.RULE_CREATED, rule=rule, actor=actor, payload=_snapshot(rule)
    )
    return rule


@transaction.atomic
def rule_update(*, rule: Rule, actor: User | None, data: Mapping[str, Any]) -> Rule:
    """Change a rule; admins only. When something changed: the next version and
    ``automation_rule.updated`` with what changed."""
    require_admin(actor, "change automation rules")
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    changes = model_update(instance=rule, data=_clean_data(data), validate=_check_rule, save=False)
    if not changes:
        return rule
    rule.version += 1
    rule.updated = timezone.now()
    try:
        with transaction.atomic():
            rule.save(update_fields=[*changes, "version", "updated"])
    except IntegrityError as error:
        raise _name_taken(error) from error
    events.record_rule_event(
        type=events.RULE_UPDATED,
        rule=rule,
        actor=actor,
        payload={
            "fields": sorted(changes),
            "changes": changes_payload(changes),
            "version": rule.version,
        },
    )
    return rule


def rule_move(*, rule: Rule, actor: User | None, position: int) -> Rule:
    """Set the rule's position among its trigger's rules (lower runs first)."""
    return rule_update(rule=rule, actor=actor, data={"position": position})


@transaction.atomic
def rule_delete(*, rule: Rule, actor: User | None) -> None:
    """Delete a rule; admins only. Records ``automation_rule.deleted`` with the rule as
    it was (what it did stays in the event log, named by its id, name and version)."""
    require_admin(actor, "delete automation rules")
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    events.record_rule_event(
        type=events.RULE_DELETED, rule=rule, actor=actor, payload=_snapshot(rule)
    )
    rule.delete()
