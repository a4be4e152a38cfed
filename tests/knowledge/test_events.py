"""The knowledge app's event types are declared in knowledge.events, and only there."""

from __future__ import annotations

import re
from pathlib import Path

from knowledge import events

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
