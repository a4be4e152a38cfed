"""Who else has the ticket open: the "Who else is here" panel of the ticket's admin page
(the collision warning, docs/collision.md).

Rendered on the server, so that the page says who else is on the ticket without
JavaScript; rendering it also counts as the viewer's first heartbeat (others see them at
once). ``presence.js`` (a static file: the CSP allows no inline script, so the panel
hands it what it needs in ``data-`` attributes) then beats every ``HEARTBEAT_SECONDS``
through ``POST /api/tickets/{key}/presence/``, says "writing a reply" while the agent
types in the reply composer (``#reply-composer textarea``), refreshes the list, and
warns when the ticket got a new public comment, or another change, since the page was
loaded.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from nixflow.models import Ticket
from nixflow.services import presence

TITLE = gettext_lazy("Who else is here")
# Marked here, translated when shown.
NOBODY = gettext_noop("Nobody else has this ticket open.")


def _doing(other: presence.Presence) -> tuple[str, str]:
    if other.composing:
        return (
            "nf-presence-composing",
            gettext("%(name)s is writing a reply") % {"name": other.name},
        )
    return ("nf-presence-viewing", gettext("%(name)s is viewing") % {"name": other.name})


def presence_panel(request: HttpRequest, ticket: Ticket) -> SafeString:
    """The others on the ticket now, with what presence.js needs to keep it current."""
    user = request.user
    if not getattr(user, "is_agent", False):
        return format_html('<p class="help">{}</p>', gettext("Only agents see who else is here."))
    presence.presence_beat(ticket=ticket, user=user, composing=False)  # type: ignore[arg-type]
    others = presence.presence_others(ticket=ticket, user=user)  # type: ignore[arg-type]
    items = format_html_join("", '<li class="{}">{}</li>', (_doing(o) for o in others))
    newest = presence.ticket_newest_public_comment_id(ticket=ticket)
    return format_html(
        '<link rel="stylesheet" href="{css}">'
        '<div class="nf-presence" data-testid="presence" data-url="{url}" data-csrf="{csrf}" '
        'data-version="{version}" data-comment="{comment}" data-heartbeat="{heartbeat}">'
        '<ul class="nf-presence-list" aria-live="polite">{items}</ul>'
        '<p class="nf-presence-none help"{none_hidden}>{nobody}</p>'
        '<p class="nf-presence-changed" data-testid="presence-changed" role="alert" hidden>'
        '<span class="nf-presence-changed-text"></span> <a href="">{reload}</a></p>'
        "</div>"
        '<script src="{js}" defer></script>',
        css=static("nixflow/admin/presence.css"),
        js=static("nixflow/admin/presence.js"),
        url=reverse("ticket-presence", kwargs={"key": ticket.key}),
        csrf=get_token(request),
        version=ticket.version,
        comment="" if newest is None else newest,
        heartbeat=presence.HEARTBEAT_SECONDS,
        items=items,
        none_hidden=" hidden" if others else "",
        nobody=gettext(NOBODY),
        reload=gettext("Reload the ticket"),
    )


def register() -> None:
    """Register the ticket page's panel of this module: first among those next to the
    ticket's fields (before the SLA clocks), where an agent looks before replying."""
    from nixflow.toolkit.panels import FIELDS, register_ticket_panel

    register_ticket_panel(TITLE, presence_panel, order=1, placement=FIELDS)
