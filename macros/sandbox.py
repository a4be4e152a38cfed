"""Rendering a macro's body: Django's template language in a sandbox.

A macro is written by one agent and rendered on behalf of another, on any ticket. The
desk's own template engine could load tag libraries, include files, print ``settings``
or call any method of a model instance it is given (``{{ ticket.requester.password }}``,
``{{ ticket.delete }}``). Here a macro gets none of that:

- a dedicated ``Engine`` with no loaders (``{% include %}`` and ``{% extends %}`` have
  nothing to read) and none of Django's built-in libraries: its only builtins are this
  module's ``register``, with the ``{% if %}`` tag and a few vetted text filters;
- the context is plain dicts of strings (and one datetime), built by ``placeholders``
  from the ticket and the people: never a model instance, so there is no method to call
  and no relation to follow;
- every variable a body names, in a placeholder, a filter argument or an ``{% if %}``, is
  checked against ``PLACEHOLDERS`` when the macro is saved and again before it is
  rendered, so ``{{ ticket.title.upper }}`` (a method of ``str``) or ``{{ settings }}``
  is refused with a message naming it rather than rendered as nothing;
- bodies are plain text (comments are plain text, and mail sends them as such), so
  autoescaping is off: a requester called ``O'Brien <ops>`` is greeted by that name, not
  by ``O&#x27;Brien &lt;ops&gt;``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.template import (
    Context,
    Engine,
    Library,
    Template,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)
from django.template.base import FilterExpression, Lexer, TokenType, Variable, VariableNode
from django.template.defaulttags import IfNode

from nixflow.models import Ticket, User

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
TAGS = ("if", "elif", "else", "endif")

register = Library()
register.tag("if", defaulttags.do_if)
for _name in FILTERS:
    register.filter(_name, getattr(defaultfilters, _name))


class SandboxEngine(Engine):
    """An engine whose only builtins are the ones named (no Django defaults)."""

    default_builtins: list[str] = []


ENGINE = SandboxEngine(loaders=[], builtins=["macros.sandbox"], autoescape=False, debug=False)


def _refuse(message: str) -> ValidationError:
    return ValidationError({"body": message})


def _check_tags(body: str) -> None:
    for token in Lexer(body).tokenize():
        if token.token_type != TokenType.BLOCK:
            continue
        name = (token.split_contents() or [""])[0]
        if name not in TAGS:
            raise _refuse(
                f"{{% {name} %}} is not allowed in a macro: only {{% if %}} … {{% elif %}} … "
                f"{{% else %}} … {{% endif %}} and placeholders such as {{{{ ticket.key }}}}."
            )


def _condition_expressions(condition: Any) -> Iterator[FilterExpression]:
    value = getattr(condition, "value", None)
    if isinstance(value, FilterExpression):
        yield value
    for side in ("first", "second"):
        part = getattr(condition, side, None)
        if part is not None:
            yield from _condition_expressions(part)


def _expressions(template: Template) -> Iterator[FilterExpression]:
    for node in template.nodelist.get_nodes_by_type(VariableNode):
        if isinstance(node, VariableNode):
            yield node.filter_expression
    for node in template.nodelist.get_nodes_by_type(IfNode):
        if not isinstance(node, IfNode):
            continue
        for condition, _ in node.conditions_nodelists:
            if condition is not None:
                yield from _condition_expressions(condition)


def _variables(expression: FilterExpression) -> Iterator[Variable]:
    if isinstance(expression.var, Variable):
        yield expression.var
    for _, args in expression.filters:
        for is_lookup, arg in args:
            if is_lookup and isinstance(arg, Variable):
                yield arg


def _check_variables(template: Template) -> None:
    for expression in _expressions(template):
        for variable in _variables(expression):
            if variable.lookups is None:  # a literal: "text", 3
                continue
            name = ".".join(variable.lookups)
            if name not in PLACEHOLDERS:
                raise _refuse(
                    f"Unknown placeholder {{{{ {name} }}}}. A macro may use: "
                    + ", ".join(PLACEHOLDERS)
                    + "."
                )


def compile_body(body: str) -> Template:
    """The body compiled in the sandbox, or a ValidationError on ``body`` saying what is
    not allowed (a tag, a filter, a placeholder) or what is malformed."""
    _check_tags(body)
    try:
        template = ENGINE.from_string(body)
    except TemplateSyntaxError as error:
        if str(error).startswith("Invalid filter"):
            raise _refuse(f"{error}. A macro may use the filters: {', '.join(FILTERS)}.") from error
        raise _refuse(f"The body is not a valid macro: {error}") from error
    _check_variables(template)
    return template


def _person(user: User | None) -> dict[str, str]:
    if user is None:
        return {"first_name": "", "last_name": "", "name": "", "email": ""}
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "name": user.get_full_name() or user.username,
        "email": user.email,
    }


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
            "priority": str(ticket.get_priority_display()),
            "stage": ticket.stage.name,
            "created": ticket.created,
        }
        requester = _person(ticket.requester)
    return {"ticket": shown, "requester": requester, "agent": _person(agent), "custom": custom}


def render(template: Template, context: dict[str, Any]) -> str:
    """The body for this context, trimmed. The template was compiled (and its variables
    checked) by ``compile_body``."""
    return template.render(Context(context, autoescape=False)).strip()


def render_body(body: str, *, ticket: Ticket | None, agent: User | None, custom: str = "") -> str:
    return render(compile_body(body), placeholders(ticket=ticket, agent=agent, custom=custom))
