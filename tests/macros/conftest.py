from __future__ import annotations

from typing import Any

import pytest

from macros import services
from macros.models import Macro, Scope
from nixflow.models import Role, Team, TeamMembership, User
from tests.factories import AdminFactory, AgentFactory, TeamFactory


@pytest.fixture
def agent(db: None) -> User:
    return AgentFactory(
        username="agent", first_name="Sam", last_name="Jones", email="sam@desk.test"
    )


@pytest.fixture
def requester(db: None) -> User:
    from tests.factories import UserFactory

    return UserFactory(
        username="requester",
        role=Role.REQUESTER,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.test",
    )


@pytest.fixture
def desk_admin(db: None) -> User:
    return AdminFactory(username="boss")


@pytest.fixture
def team(agent: User) -> Team:
    team = TeamFactory(name="Billing")
    TeamMembership.objects.create(team=team, user=agent, is_lead=False)
    return team


@pytest.fixture
def lead(team: Team) -> User:
    lead = AgentFactory(username="lead")
    TeamMembership.objects.create(team=team, user=lead, is_lead=True)
    return lead


def make_macro(actor: User | None = None, **data: Any) -> Macro:
    """A macro created through the service (by the system unless ``actor`` is given)."""
    data.setdefault("name", "Greeting")
    data.setdefault("body", "Hello {{ requester.first_name }}")
    data.setdefault("scope", Scope.GLOBAL)
    return services.macro_create(actor=actor, data=data)
