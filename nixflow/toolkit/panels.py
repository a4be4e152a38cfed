"""Panels that feature apps add to the ticket's admin page.

The core imports no feature app (they build on it, never the other way round), yet
agents want on the ticket's page what other apps know about it: suggested knowledge
articles, say. An app registers a panel in its ``AppConfig.ready()``::

    register_ticket_panel("Suggested articles", ticket_suggestions_panel)

and the ticket admin renders each registered panel below the form, in order, with the
request (for the viewer's rights) and the ticket. ``placement=FIELDS`` puts a panel
right after the ticket's own fields instead, above the conversation: for what an agent
must see before anything else (the SLA clocks). A panel returns safe HTML (built with
``format_html``). One that fails is shown as unavailable and logged: a broken panel
must not take the ticket page down with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

if TYPE_CHECKING:
    from nixflow.models import Ticket

logger = logging.getLogger(__name__)

Render = Callable[[HttpRequest, "Ticket"], SafeString]

BELOW, FIELDS = "below", "fields"  # below the form; after the ticket's fields


@dataclass(frozen=True)
class TicketPanel:
    title: str
    render: Render
    order: int
    placement: str = BELOW


@dataclass(frozen=True)
class RenderedPanel:
    title: str
    html: SafeString
    placement: str = BELOW


_panels: dict[str, TicketPanel] = {}


def register_ticket_panel(
    title: str, render: Render, *, order: int = 100, placement: str = BELOW
) -> None:
    """Add (or replace, by title) a panel of the ticket's admin page."""
    _panels[title] = TicketPanel(title=title, render=render, order=order, placement=placement)


def unregister_ticket_panel(title: str) -> None:
    _panels.pop(title, None)


def render_ticket_panels(request: HttpRequest, ticket: Ticket) -> list[RenderedPanel]:
    rendered = []
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.title)):
        try:
            html = panel.render(request, ticket)
        except Exception:
            logger.exception("Ticket panel %r failed for ticket %s", panel.title, ticket.pk)
            html = format_html('<p class="errornote">{}</p>', "This panel is unavailable.")
        rendered.append(RenderedPanel(title=panel.title, html=html, placement=panel.placement))
    return rendered
