"""Django's template language in a sandbox, for texts that people write once and the desk
renders later, unattended, on any ticket: macros (``macros.sandbox``) and automation
rules' notes and mail (``automation.templating``).

The desk's own template engine could load tag libraries, include files, print
``settings`` or call any method of a model instance it is given
(``{{ ticket.requester.password }}``, ``{{ ticket.delete }}``). What a text may read must
be decided by the code that renders it, not by whatever a template can reach, so each
user of this module:

- builds its engine with ``sandbox_engine``: no loaders (``{% include %}`` and
  ``{% extends %}`` have nothing to read) and none of Django's built-in libraries; its
  only builtins are the caller's own module, whose ``register`` (``sandbox_library``)
  holds the ``{% if %}`` tag and the text filters that caller allows;
- refuses any other tag before compiling (``disallowed_tag``) and every variable that is
  not one of its placeholders after (``placeholder_names`` walks placeholders, filter
  arguments and ``{% if %}`` conditions), so a typo is refused with its name when the
  text is saved rather than rendered as nothing months later;
- renders a context of plain dicts of strings (``person`` for people): never a model
  instance, so there is no method to call and no relation to follow;
- renders with autoescaping off (``render``): the texts are plain, and a requester called
  ``O'Brien <ops>`` is greeted by that name, not by ``O&#x27;Brien &lt;ops&gt;``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.template import Context, Engine, Library, Template, defaultfilters, defaulttags
from django.template.base import FilterExpression, Lexer, TokenType, Variable, VariableNode
from django.template.defaulttags import IfNode

from nixflow.models import User

TAGS = ("if", "elif", "else", "endif")
TAGS_ALLOWED = "{% if %} … {% elif %} … {% else %} … {% endif %}"


class SandboxEngine(Engine):
    """An engine whose only builtins are the ones named (no Django defaults)."""

    default_builtins: list[str] = []


def sandbox_library(filters: Iterable[str]) -> Library:
    """The tag library of a sandbox: ``{% if %}`` and Django's filters named."""
    register = Library()
    register.tag("if", defaulttags.do_if)
    for name in filters:
        register.filter(name, getattr(defaultfilters, name))
    return register


def sandbox_engine(library_module: str) -> SandboxEngine:
    """An engine whose only builtins are ``library_module``'s ``register``."""
    return SandboxEngine(loaders=[], builtins=[library_module], autoescape=False, debug=False)


def disallowed_tag(text: str) -> str | None:
    """The first block tag in ``text`` other than if/elif/else/endif, if any."""
    for token in Lexer(text).tokenize():
        if token.token_type != TokenType.BLOCK:
            continue
        name = (token.split_contents() or [""])[0]
        if name not in TAGS:
            return name
    return None


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
        if isinstance(node, IfNode):
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


def placeholder_names(template: Template) -> Iterator[str]:
    """The dotted name of every variable the template reads (literals such as "text" or 3
    are not variables): in placeholders, filter arguments and ``{% if %}`` conditions."""
    for expression in _expressions(template):
        for variable in _variables(expression):
            if variable.lookups is not None:
                yield ".".join(variable.lookups)


def person(user: User | None) -> dict[str, str]:
    """A person as a context may show them: strings only (empty for nobody)."""
    if user is None:
        return {"first_name": "", "last_name": "", "name": "", "email": ""}
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "name": user.get_full_name() or user.username,
        "email": user.email,
    }


def render(template: Template, context: dict[str, Any]) -> str:
    """The text for this context, trimmed, with autoescaping off."""
    return template.render(Context(context, autoescape=False)).strip()
