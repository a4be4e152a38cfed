"""The knowledge app's event types are declared in knowledge.events, and only there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from eventlog.services import event_record
from knowledge import events
from nixflow.models import User
from tests.knowledge.factories import CategoryFactory

SERVICES = Path(events.__file__).parent / "services"


def test_every_type_is_knowledge_entity_verb() -> None:
    assert events.ALL_TYPES
    for type in events.ALL_TYPES:
        assert re.fullmatch(r"knowledge\.[a-z]+\.[a-z_]+", type), type


def test_the_services_name_event_types_only_through_the_constants() -> None:
    bare = [
        f"{path.name}: {line.strip()}"
        for path in sorted(SERVICES.glob("*.py"))
        for line in path.read_text().splitlines()
        if re.search(r"""["']knowledge\.[a-z_]+\.""", line)
    ]

    assert bare == []


def test_types_recorded_before_the_dotted_naming_map_to_todays() -> None:
    assert events.FORMER_TYPES["knowledge.article_created"] == events.ARTICLE_CREATED
    assert events.FORMER_TYPES["knowledge.category_updated"] == events.CATEGORY_UPDATED
    assert (
        events.FORMER_TYPES["knowledge.feedback_turned_into_ticket"]
        == events.FEEDBACK_TURNED_INTO_TICKET
    )
    assert set(events.FORMER_TYPES.values()) == events.ALL_TYPES


@pytest.mark.django_db
def test_the_event_api_finds_a_types_rows_under_its_former_name_too(
    agent_api: APIClient, agent: User
) -> None:
    category = CategoryFactory()
    event_record(type="knowledge.category_created", subject=category, actor=agent, payload={})
    event_record(type=events.CATEGORY_CREATED, subject=category, actor=agent, payload={})
    event_record(type=events.CATEGORY_UPDATED, subject=category, actor=agent, payload={})

    for asked in (events.CATEGORY_CREATED, "knowledge.category_created"):
        response = agent_api.get("/api/events/", {"type": asked})
        assert response.status_code == 200
        assert sorted(e["type"] for e in response.json()["results"]) == [
            "knowledge.category.created",
            "knowledge.category_created",
        ]
