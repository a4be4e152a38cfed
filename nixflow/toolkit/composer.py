"""Tools that feature apps offer in the ticket page's reply composer (macros, say).

The composer is the core's (nixflow.admin.tickets); a tool is a choice list next to it
whose choice fills in the reply and, when the reply is sent, makes its changes in the
same transaction. An app registers one in its ``AppConfig.ready()``::

    register_composer_tool(ComposerTool(name="macro", label="Macro", choices=...,
                                        draft=..., on_send=...))

- ``choices(request, ticket)``: ``[(value, label), ...]`` the signed-in agent may pick.
- ``draft(request, ticket, value)``: the ``Draft`` the choice puts in the composer (its
  body rendered for this ticket, public or internal, and what it will change, in words),
  or ValidationError / PermissionDenied with the reason (the composer shows it).
- ``on_send(request, ticket, value)``: after the reply was saved, inside its
  transaction, the choice's changes; returns what it did in words ("Stage: Waiting").
  A change the workflow forbids raises ValidationError (or the services' ConflictError)
  and the whole reply is rolled back and shown again with the message.

The composer keeps the chosen value in the form (``composer_<name>``) between "insert"
and "send", without JavaScript; with it, the draft is fetched and filled in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Types only: django-stubs-ext is a development dependency.
    from django.http import HttpRequest
    from django_stubs_ext import StrOrPromise

    from nixflow.models import Ticket


@dataclass(frozen=True)
class Draft:
    body: str
    is_internal: bool = False
    changes: Sequence[str] = field(default_factory=tuple)  # "Stage → Waiting", in words


@dataclass(frozen=True)
class ComposerTool:
    name: str
    label: StrOrPromise  # gettext_lazy(...): shown in the viewer's language
    choices: Callable[[HttpRequest, Ticket], list[tuple[str, str]]]
    draft: Callable[[HttpRequest, Ticket, str], Draft]
    on_send: Callable[[HttpRequest, Ticket, str], list[str]]
    order: int = 100


_tools: dict[str, ComposerTool] = {}


def register_composer_tool(tool: ComposerTool) -> None:
    """Add (or replace, by name) a tool of the reply composer."""
    _tools[tool.name] = tool


def unregister_composer_tool(name: str) -> None:
    _tools.pop(name, None)


def composer_tools() -> list[ComposerTool]:
    return sorted(_tools.values(), key=lambda t: (t.order, t.name))


def composer_tool(name: str) -> ComposerTool | None:
    return _tools.get(name)
