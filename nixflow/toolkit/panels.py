"""Panels that feature apps add to a ticket's pages: the admin's, and the portal's.

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

A panel is for staff on the admin's ticket page unless registered with
``audience=REQUESTER``: then the requester portal's ticket page shows it, to the people
who may read that ticket there (the requester and followers), who must never see
anything internal in it.

A title may be translatable (``gettext_lazy("Suggested articles")``): it is shown in the
viewer's language, while the panel is registered, replaced and found (its ``slug``, the
page's ``data-panel``) by its English text, whatever language is active.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.utils import translation
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import slugify
from django.utils.translation import gettext

if TYPE_CHECKING:
    # Types only: django-stubs-ext is a development dependency.
    from django_stubs_ext import StrOrPromise

    from nixflow.models import Ticket

logger = logging.getLogger(__name__)

Render = Callable[[HttpRequest, "Ticket"], SafeString]

BELOW, FIELDS = "below", "fields"  # below the form; after the ticket's fields
STAFF, REQUESTER = "staff", "requester"  # the admin's ticket page; the portal's


@dataclass(frozen=True)
class TicketPanel:
    title: StrOrPromise
    render: Render
    order: int
    placement: str = BELOW
    audience: str = STAFF

    @property
    def key(self) -> str:
        return untranslated(self.title)


@dataclass(frozen=True)
class RenderedPanel:
    title: str
    html: SafeString
    placement: str = BELOW
    slug: str = ""  # the English title's slug: the same in every language


_panels: dict[str, TicketPanel] = {}  # the admin's, by English title
_registries: dict[str, dict[str, TicketPanel]] = {STAFF: _panels, REQUESTER: {}}


def untranslated(text: StrOrPromise) -> str:
    """The English text of a (lazily) translated string: a lazy string's hash and
    value follow the active language, so a registry keyed by it would lose entries."""
    with translation.override(None):
        return str(text)


def register_ticket_panel(
    title: StrOrPromise,
    render: Render,
    *,
    order: int = 100,
    placement: str = BELOW,
    audience: str = STAFF,
) -> None:
    """Add (or replace, by title and audience) a panel of a ticket's page."""
    panel = TicketPanel(
        title=title, render=render, order=order, placement=placement, audience=audience
    )
    _registries[audience][panel.key] = panel


def unregister_ticket_panel(title: StrOrPromise, *, audience: str = STAFF) -> None:
    _registries[audience].pop(untranslated(title), None)


def render_ticket_panels(
    request: HttpRequest, ticket: Ticket, *, audience: str = STAFF
) -> list[RenderedPanel]:
    rendered = []
    for panel in sorted(_registries[audience].values(), key=lambda p: (p.order, p.key)):
        try:
            html = panel.render(request, ticket)
        except Exception:
            logger.exception("Ticket panel %r failed for ticket %s", panel.key, ticket.pk)
            html = format_html('<p class="errornote">{}</p>', gettext("This panel is unavailable."))
        rendered.append(
            RenderedPanel(
                title=str(panel.title),
                html=html,
                placement=panel.placement,
                slug=slugify(panel.key),
            )
        )
    return rendered
