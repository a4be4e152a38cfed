"""Rendering a macro's body: Django's template language in a sandbox
(``nixflow.toolkit.sandbox`` says what that sandbox allows and why).

A macro is written by one agent and rendered on behalf of another, on any ticket. Every
variable a body names, in a placeholder, a filter argument or an ``{% if %}``, is checked
against ``PLACEHOLDERS`` when the macro is saved and again before it is rendered, so
``{{ ticket.title.upper }}`` (a method of ``str``) or ``{{ settings }}`` is refused with a
message naming it rather than rendered as nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.template import Template, TemplateSyntaxError

from nixflow.models import Ticket, User
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

# The placeholders a body may name, with what each says (docs/macros.md lists them).
PLACEHOLDERS: dict[str, str] = {
    "ticket.key": "the ticket's key, NF-1042",
    "ticket.title": "the ticket's title",
    "ticket.priority": "its priority, as shown (Low, Normal, High, Urgent)",
    "ticket.stage": "its stage's name, before the macro's own change",
    "ticket.created": "when it was opened (a date: use the date filter)",
    "requester.first_name": "the requester's first name",
    "requester.last_name": "the requester's last name",
    "requester.name": "the requester's full name, or their username when they have none",
    "requester.email": "the requester's e-mail address",
    "agent.name": "the agent applying the macro: full name, or username",
    "agent.first_name": "the agent's first name",
    "agent.last_name": "the agent's last name",
    "agent.email": "the agent's e-mail address",
    "custom": "text the agent types when applying the macro (empty when none)",
}
FILTERS = ("default", "upper", "lower", "title", "capfirst", "date", "truncatechars")

register = sandbox_library(FILTERS)
ENGINE = sandbox_engine("macros.sandbox")


def _refuse(message: str) -> ValidationError:
    return ValidationError({"body": message})


def compile_body(body: str) -> Template:
    """The body compiled in the sandbox, or a ValidationError on ``body`` saying what is
    not allowed (a tag, a filter, a placeholder) or what is malformed."""
    tag = disallowed_tag(body)
    if tag is not None:
        raise _refuse(
            f"{{% {tag} %}} is not allowed in a macro: only {TAGS_ALLOWED} and "
            "placeholders such as {{ ticket.key }}."
        )
    try:
        template = ENGINE.from_string(body)
    except TemplateSyntaxError as error:
        if str(error).startswith("Invalid filter"):
            raise _refuse(f"{error}. A macro may use the filters: {', '.join(FILTERS)}.") from error
        raise _refuse(f"The body is not a valid macro: {error}") from error
    for name in placeholder_names(template):
        if name not in PLACEHOLDERS:
            raise _refuse(
                f"Unknown placeholder {{{{ {name} }}}}. A macro may use: "
                + ", ".join(PLACEHOLDERS)
                + "."
            )
    return template


def placeholders(*, ticket: Ticket | None, agent: User | None, custom: str = "") -> dict[str, Any]:
    """The context of a render: plain dicts of strings, nothing with a method worth
    calling. ``ticket`` None gives example values (a preview without a ticket)."""
    if ticket is None:
        shown: dict[str, Any] = {
            "key": "NF-1042",
            "title": "Example ticket",
            "priority": "Normal",
            "stage": "Open",
            "created": datetime.now().astimezone(),
        }
        requester = {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
        }
    else:
        shown = {
            "key": ticket.key,
            "title": ticket.title,
            # In the requester's language: the text is written to them.
            "priority": requester_priority(ticket),
            "stage": ticket.stage.name,
            "created": ticket.created,
        }
        requester = person(ticket.requester)
    return {"ticket": shown, "requester": requester, "agent": person(agent), "custom": custom}


def render_body(body: str, *, ticket: Ticket | None, agent: User | None, custom: str = "") -> str:
    return render(compile_body(body), placeholders(ticket=ticket, agent=agent, custom=custom))
