"""Event types that were renamed: the event log keeps rows forever, so a row recorded
under a type's former name keeps that name. Apps declare their renames here (in their
``AppConfig.ready()``), and readers that select by type (``/api/events/?type=``) find
the rows of every name the type has had::

    register_renamed_types({"knowledge.article_created": "knowledge.article.created"})

The event log knows no domain: it only keeps the map the apps give it.
"""

from __future__ import annotations

from collections.abc import Mapping

_former_names: dict[str, set[str]] = {}


def register_renamed_types(renames: Mapping[str, str]) -> None:
    """Record ``{former type: type today}``."""
    for former, current in renames.items():
        _former_names.setdefault(current, set()).add(former)


def names_of(event_type: str) -> list[str]:
    """``event_type`` and every former name of it (sorted, for stable SQL); a former
    name given finds the rows of the type today as well."""
    names = {event_type, *_former_names.get(event_type, ())}
    for current, formers in _former_names.items():
        if event_type in formers:
            names |= {current, *formers}
    return sorted(names)
