"""The core's event types are declared once, in nixflow.events, and the code that records
events names them only through those constants."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from nixflow import events

CORE = Path(events.__file__).parent
TYPE = re.compile(r"(ticket|workflow|user|admin)\.[a-z_]+")


def declared() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(events).items()
        if name.isupper() and isinstance(value, str) and TYPE.fullmatch(value)
    }


def test_every_declared_type_is_subject_dot_verb_and_declared_once() -> None:
    types = declared()
    assert set(types.values()) >= {
        "ticket.created",
        "ticket.commented",
        "ticket.deleted",
        "ticket.merged",  # the search index follows merges by this very name
        "ticket.merge_received",
        "ticket.linked",
        "ticket.unlinked",
        "workflow.created",
        "workflow.updated",
        "workflow.deleted",
        "user.created",
        "user.updated",
        "admin.changed",
    }
    assert len(set(types.values())) == len(types)


def test_no_code_outside_events_spells_an_event_type() -> None:
    """A literal "ticket.created" elsewhere would be a second declaration of it."""
    spelled = []
    for path in [*CORE.glob("*.py"), *CORE.glob("services/*.py"), *CORE.glob("toolkit/*.py")]:
        if path.name == "events.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in declared().values()
            ):
                spelled.append(f"{path.relative_to(CORE)}: {node.value!r}")
    assert spelled == []
