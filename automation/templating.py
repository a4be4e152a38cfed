"""Rendering a rule's note and mail texts: Django's template language in a sandbox
(``nixflow.toolkit.sandbox`` says what that sandbox allows and why).

A rule is written by an admin and rendered, unattended, on any ticket. Every variable a
text names is checked against ``PLACEHOLDERS`` (or is a custom field, ``fields.<name>``)
when the rule is saved and again when it renders, so a typo is refused with its name
rather than rendered as nothing months later.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.template import Template, TemplateSyntaxError

from nixflow.models import Ticket
from nixflow.models.fields import FIELD_NAME_PATTERN
from nixflow.toolkit.language import requester_priority
from nixflow.toolkit.sandbox import (
    TAGS_ALLOWED,
    disallowed_tag,
    person,
    placeholder_names,
    render,
    sandbox_engine,
    sandbox_library,
)

PLACEHOLDERS: dict[str, str] = {
    "ticket.key": "the ticket's key, NF-1042",
    "ticket.title": "its title",
    "ticket.priority": "its priority, as shown (Low, Normal, High, Urgent)",
    "ticket.stage": "its stage's name when the rule acts",
    "ticket.team": "its team's name (empty without one)",
    "ticket.created": "when it was opened (a date: use the date filter)",
    "requester.name": "the requester's full name, or their username",
    "requester.first_name": "the requester's first name",
    "requester.last_name": "the requester's last name",
    "requester.email": "the requester's e-mail address",
    "assignee.name": "the assignee's full name, or username (empty when unassigned)",
    "assignee.first_name": "the assignee's first name",
    "assignee.last_name": "the assignee's last name",
    "assignee.email": "the assignee's e-mail address",
    "rule.name": "the rule's name",
    "fields.<name>": "a custom field's value (empty when it has none)",
}
_CUSTOM = re.compile(rf"fields\.{FIELD_NAME_PATTERN}")
FILTERS = ("default", "upper", "lower", "title", "capfirst", "date", "truncatechars", "join")

register = sandbox_library(FILTERS)
ENGINE = sandbox_engine("automation.templating")


def compile_text(text: str, *, where: str) -> Template:
    """``text`` compiled in the sandbox, or a ValidationError saying, for ``where`` (e.g.
    "Action 2 body"), which tag, filter or placeholder is not allowed."""
    tag = disallowed_tag(text)
    if tag is not None:
        raise ValidationError(
            f"{where}: {{% {tag} %}} is not allowed; only {TAGS_ALLOWED} and placeholders "
            "such as {{ ticket.key }}."
        )
    try:
        template = ENGINE.from_string(text)
    except TemplateSyntaxError as error:
        raise ValidationError(
            f"{where}: {error}. Filters: {', '.join(FILTERS)}."
            if str(error).startswith("Invalid filter")
            else f"{where} is not a valid template: {error}"
        ) from error
    for name in placeholder_names(template):
        if name not in PLACEHOLDERS and not _CUSTOM.fullmatch(name):
            raise ValidationError(
                f"{where}: unknown placeholder {{{{ {name} }}}}. Placeholders: "
                + ", ".join(PLACEHOLDERS)
                + "."
            )
    return template


def _shown(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else value


def placeholders(*, ticket: Ticket, rule_name: str) -> dict[str, Any]:
    """What a text may read: plain dicts of strings, nothing with a method to call."""
    return {
        "ticket": {
            "key": ticket.key,
            "title": ticket.title,
            # In the requester's language: the text is written to them.
            "priority": requester_priority(ticket),
            "stage": ticket.stage.name,
            "team": ticket.team.name if ticket.team else "",
            "created": ticket.created,
        },
        "requester": person(ticket.requester),
        "assignee": person(ticket.assignee),
        "rule": {"name": rule_name},
        "fields": {k: _shown(v) for k, v in (ticket.custom_fields or {}).items()},
    }


def render_text(text: str, *, ticket: Ticket, rule_name: str) -> str:
    """``text`` rendered for ``ticket``, trimmed (checked again: a rule saved before a
    placeholder was withdrawn fails here with the reason, not with a blank)."""
    template = compile_text(text, where="Text")
    return render(template, placeholders(ticket=ticket, rule_name=rule_name))
