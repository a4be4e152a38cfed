"""How stored answers read: in the admin, the API, the CSV export and the ticket.

Everything here works from a ``Definition`` (for a submission: its snapshot), never from
the live fields, so editing a form never changes how earlier submissions read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from forms_builder.models import FormFieldType
from forms_builder.validation import TEMPLATE_KEY, Definition
from nixflow.models import Priority

TITLE_MAX = 200  # Ticket.title


@dataclass(frozen=True)
class Answer:
    key: str
    label: str
    type: str
    value: Any
    text: str


def answer_text(kind: str, value: Any) -> str:
    """The answer as a person reads it: yes/no, options joined, times with their zone."""
    if value is None:
        return ""
    if kind == FormFieldType.CHECKBOX or isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if kind == FormFieldType.DATETIME and isinstance(value, str):
        parsed: datetime | None = parse_datetime(value)
        if parsed is not None:
            return parsed.strftime("%Y-%m-%d %H:%M %Z").strip() or value
    return str(value)


def answers(definition: Definition, data: Mapping[str, Any]) -> list[Answer]:
    """The stored answers in the order and with the labels of ``definition``.

    Keys of ``data`` the definition does not know (none, unless data was edited by hand)
    follow under their key, so nothing stored is ever hidden.
    """
    shown = [
        Answer(
            spec.key, spec.label, spec.type, data[spec.key], answer_text(spec.type, data[spec.key])
        )
        for spec in definition.fields
        if spec.key in data
    ]
    known = {spec.key for spec in definition.fields}
    shown.extend(
        Answer(key, key, "", value, answer_text("", value))
        for key, value in data.items()
        if key not in known
    )
    return shown


@dataclass(frozen=True)
class TicketContent:
    title: str
    description: str
    priority: str


def ticket_content(
    definition: Definition,
    data: Mapping[str, Any],
    *,
    submitter: str,
    reference: str,
) -> TicketContent:
    """Title, description and priority of the ticket a submission opens.

    ``reference`` names the submission (``"submission 12"``); ``submitter`` who sent it.
    """
    by_key = {a.key: a for a in answers(definition, data)}

    def substitute(match: re.Match[str]) -> str:
        answer = by_key.get(match.group(1))
        return " ".join(answer.text.split()) if answer else ""

    title = " ".join(TEMPLATE_KEY.sub(substitute, definition.title_template).split())
    title = title or definition.name
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1] + "…"

    lines: list[str] = []
    lead = by_key.get(definition.description_field) if definition.description_field else None
    if lead is not None and lead.text:
        lines += [lead.text, ""]
    lines.append(f"Answers to the form “{definition.name}” ({reference}):")
    for answer in by_key.values():
        if answer is lead or not answer.text:
            continue  # the lead is above; unanswered optional questions say nothing
        text = answer.text
        if answer.type == FormFieldType.FILE:
            text = f"{text} (attached below)"
        first, *rest = text.split("\n")
        lines.append(f"- {answer.label}: {first}")
        lines.extend(f"  {line}" for line in rest)
    lines += ["", f"Submitted by {submitter}."]

    priority = definition.default_priority
    if definition.priority_field:
        chosen = data.get(definition.priority_field)
        mapped = definition.priority_map.get(chosen) if isinstance(chosen, str) else None
        if mapped in Priority.values:
            priority = mapped
    return TicketContent(title=title, description="\n".join(lines), priority=priority)
