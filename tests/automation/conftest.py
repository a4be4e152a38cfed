"""What the automation tests share: an admin who writes rules, and a way to make an
active rule through the service in one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from automation import services as rule_services
from automation.models import Rule
from eventlog.models import EventLog
from nixflow.models import Role, User
from tests.factories import UserFactory


@pytest.fixture
def boss(db: None) -> User:
    """An admin: may write rules."""
    return UserFactory(username="boss", role=Role.ADMIN)


MakeRule = Callable[..., Rule]


@pytest.fixture
def make_rule(boss: User) -> MakeRule:
    """``make_rule(trigger, actions, conditions=[], **fields)``: an active rule, made
    through ``rule_create`` (validated as an admin's would be)."""
    counter = iter(range(1, 10_000))

    def make(
        trigger: str,
        actions: list[dict[str, Any]],
        conditions: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> Rule:
        data = {
            "name": f"Rule {next(counter)}",
            "trigger": trigger,
            "actions": actions,
            "conditions": conditions or [],
            "is_active": True,
            **fields,
        }
        return rule_services.rule_create(actor=boss, data=data)

    return make


def events_of(type: str, **payload: Any) -> list[EventLog]:
    """The recorded events of ``type`` whose payload has these values, oldest first."""
    rows = EventLog.objects.filter(type=type).order_by("id")
    return [e for e in rows if all(e.payload.get(k) == v for k, v in payload.items())]
