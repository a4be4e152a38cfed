"""Linked and merged tickets on the ticket's admin page.

- A panel, "Links and merges": the ticket's links both ways in its own words ("blocked
  by NF-3", with a link to NF-3's page), "Merged into NF-y" on a merged ticket and
  "Merged here: NF-x" on its target; for agents who may change tickets, inputs and
  buttons to add a link, remove one, and merge this ticket into another.
- Their buttons post the ticket page's form (the panel sits inside it; forms cannot
  nest) to the views below, mounted under ``/admin/`` by the root URLconf
  (``admin_urls``): signed-in staff only (the admin site's own guard), CSRF-checked,
  refused to whoever may not change tickets; every outcome is a message on the ticket's
  page (a refusal's reason included), never an error page.
- The ticket list's action "Merge into… (type the key next to the action)": the
  selected tickets merged into the one typed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST

from nixflow.models import Ticket, TicketLink
from nixflow.services.links import ticket_link, ticket_links, ticket_unlink
from nixflow.services.merge import ticket_merge
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.errors import error_text
from nixflow.toolkit.panels import register_ticket_panel
from nixflow.toolkit.ticket_actions import register_ticket_action

PANEL_TITLE = gettext_lazy("Links and merges")

# The relation in the words of the ticket whose page it is -> (stored kind, it is source)
SIDE_KINDS: dict[str, tuple[str, bool]] = {
    "related": ("related", True),
    "duplicate_of": ("duplicate_of", True),
    "has_duplicate": ("duplicate_of", False),
    "blocks": ("blocks", True),
    "blocked_by": ("blocks", False),
}
# The services' words for a side (nixflow.services.links.label_for), in the viewer's
# language.
LABEL_WORDS = {
    "related to": gettext_lazy("related to"),
    "duplicate of": gettext_lazy("duplicate of"),
    "has duplicate": gettext_lazy("has duplicate"),
    "blocks": gettext_lazy("blocks"),
    "blocked by": gettext_lazy("blocked by"),
}
SIDE_LABELS = {
    "related": LABEL_WORDS["related to"],
    "duplicate_of": LABEL_WORDS["duplicate of"],
    "has_duplicate": LABEL_WORDS["has duplicate"],
    "blocks": LABEL_WORDS["blocks"],
    "blocked_by": LABEL_WORDS["blocked by"],
}


def _change_url(pk: int) -> str:
    return reverse("admin:nixflow_ticket_change", args=[pk])


def _may_change(request: HttpRequest, ticket: Ticket | None = None) -> bool:
    model_admin = admin.site._registry.get(Ticket)
    return model_admin is not None and model_admin.has_change_permission(request, ticket)


def _ticket_link(pk: int, title: str = "") -> SafeString:
    if title:
        return format_html('<a href="{}">{}</a> {}', _change_url(pk), Ticket.key_for(pk), title)
    return format_html('<a href="{}">{}</a>', _change_url(pk), Ticket.key_for(pk))


def _merge_lines(ticket: Ticket) -> list[SafeString]:
    lines = []
    if ticket.merged_into_id is not None:
        lines.append(
            format_html(
                "<p>{}</p>",
                format_html(gettext("Merged into {}."), _ticket_link(ticket.merged_into_id)),
            )
        )
    merged_here = Ticket.objects.filter(merged_into=ticket).order_by("pk")
    keys = format_html_join(
        ", ", "{}", ((_ticket_link(pk),) for pk in merged_here.values_list("pk", flat=True))
    )
    if keys:
        lines.append(format_html("<p>{}</p>", format_html(gettext("Merged here: {}."), keys)))
    return lines


def _link_rows(request: HttpRequest, ticket: Ticket, may_change: bool) -> SafeString:
    rows = []
    for view in ticket_links(ticket=ticket, user=signed_in_user(request)):
        remove = (
            _button(
                reverse("nixflow_ticket_unlink", args=[ticket.pk, view.link.pk]), gettext("Remove")
            )
            if may_change
            else ""
        )
        rows.append(
            format_html(
                "<p>{} {} {}</p>",
                capfirst(LABEL_WORDS.get(view.label, view.label)),
                _ticket_link(view.other.pk, view.other.title),
                remove,
            )
        )
    if not rows:
        return format_html("<p>{}</p>", gettext("No links."))
    return format_html_join("", "{}", ((r,) for r in rows))


def _button(action: str, text: str) -> SafeString:
    """A submit button of the ticket's own form that posts it to ``action`` instead: the
    panel sits inside that form and forms cannot nest; the form's CSRF token goes along."""
    return format_html(
        '<button type="submit" class="button" formaction="{}" formmethod="post"'
        " formnovalidate>{}</button>",
        action,
        text,
    )


def _forms(ticket: Ticket) -> SafeString:
    """The inputs to add a link and to merge (names of their own, which the ticket's
    form ignores when it is saved)."""
    options = format_html_join(
        "", '<option value="{}">{}</option>', ((k, label) for k, label in SIDE_LABELS.items())
    )
    link = format_html(
        '<p>{} <select name="link_kind" aria-label="{}">{}'
        '</select> <input type="text" name="link_ticket" placeholder="NF-12" maxlength="24"'
        ' size="8" aria-label="{}"> {}</p>',
        gettext("This ticket"),
        gettext("How this ticket relates"),
        options,
        gettext("The other ticket's key"),
        _button(reverse("nixflow_ticket_link", args=[ticket.pk]), gettext("Add link")),
    )
    if ticket.merged_into_id is not None:
        return link
    merge = format_html(
        '<p>{} <input type="text" name="merge_into_key"'
        ' placeholder="NF-12" maxlength="24" size="8" aria-label="{}"> {}</p>',
        gettext("Merge this ticket into"),
        gettext("Key of the ticket to merge into"),
        _button(reverse("nixflow_ticket_merge", args=[ticket.pk]), gettext("Merge")),
    )
    return format_html("{}{}", link, merge)


def links_panel(request: HttpRequest, ticket: Ticket) -> SafeString:
    """The panel: merge lines, links both ways, and the forms for those who may act."""
    may_change = _may_change(request, ticket)
    parts = [*_merge_lines(ticket), _link_rows(request, ticket, may_change)]
    if may_change:
        parts.append(_forms(ticket))
    return format_html_join("", "{}", ((p,) for p in parts))


# --- the views the panel's forms post to -----------------------------------------------
def _target(request: HttpRequest, key: str) -> Ticket:
    """The ticket a form names by key; a ValidationError the page shows otherwise."""
    key = key.strip().upper()
    number = Ticket.number_from_key(key)
    ticket = Ticket.objects.filter(pk=number).first() if number is not None else None
    if ticket is None:
        raise ValidationError(
            gettext("No such ticket: %(key)s.") % {"key": key}
            if key
            else gettext("Type a ticket key (NF-12).")
        )
    return ticket


def _act(request: HttpRequest, pk: int, act: Any, done: Any) -> HttpResponse:
    """Run ``act(ticket, actor)`` for the ticket ``pk``; its outcome as a message."""
    ticket = get_object_or_404(Ticket, pk=pk)
    if not _may_change(request, ticket):
        raise PermissionDenied
    try:
        result = act(ticket, signed_in_user(request))
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, done(ticket, result))
    return HttpResponseRedirect(_change_url(ticket.pk))


@require_POST
def merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    def act(ticket: Ticket, actor: Any) -> Ticket:
        return ticket_merge(
            sources=[ticket],
            target=_target(request, request.POST.get("merge_into_key", "")),
            actor=actor,
        )

    return _act(
        request,
        pk,
        act,
        lambda t, into: (
            gettext("%(ticket)s merged into %(target)s.") % {"ticket": t.key, "target": into.key}
        ),
    )


@require_POST
def link_view(request: HttpRequest, pk: int) -> HttpResponse:
    def act(ticket: Ticket, actor: Any) -> TicketLink:
        side = request.POST.get("link_kind", "")
        if side not in SIDE_KINDS:
            raise ValidationError(gettext("Choose how the tickets are related."))
        kind, outgoing = SIDE_KINDS[side]
        other = _target(request, request.POST.get("link_ticket", ""))
        source, target = (ticket, other) if outgoing else (other, ticket)
        return ticket_link(source=source, target=target, kind=kind, actor=actor)

    def done(ticket: Ticket, link: TicketLink) -> str:
        other = link.target if link.source_id == ticket.pk else link.source
        side = next(
            k
            for k, (kind, out) in SIDE_KINDS.items()
            if kind == link.kind and out == (link.source_id == ticket.pk)
        )
        return gettext("%(ticket)s is now %(relation)s %(other)s.") % {
            "ticket": ticket.key,
            "relation": SIDE_LABELS[side],
            "other": other.key,
        }

    return _act(request, pk, act, done)


@require_POST
def unlink_view(request: HttpRequest, pk: int, link_id: int) -> HttpResponse:
    def act(ticket: Ticket, actor: Any) -> None:
        link = TicketLink.objects.filter(pk=link_id).select_related("source", "target").first()
        if link is None or ticket.pk not in (link.source_id, link.target_id):
            raise ValidationError(gettext("That link was removed already."))
        ticket_unlink(link=link, actor=actor)

    return _act(request, pk, act, lambda t, _: gettext("Link removed."))


def admin_urls() -> list[URLPattern]:
    """Included by the root URLconf under ``admin/``, before ``admin.site.urls``."""
    view = admin.site.admin_view
    return [
        path("nixflow/ticket/<int:pk>/merge/", view(merge_view), name="nixflow_ticket_merge"),
        path("nixflow/ticket/<int:pk>/links/", view(link_view), name="nixflow_ticket_link"),
        path(
            "nixflow/ticket/<int:pk>/links/<int:link_id>/remove/",
            view(unlink_view),
            name="nixflow_ticket_unlink",
        ),
    ]


# --- the ticket list's action ------------------------------------------------------------
def merge_into_action(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Ticket]
) -> None:
    """Merge the selected tickets into the one typed next to the action."""
    key = request.POST.get("merge_into", "")
    if not key.strip():
        model_admin.message_user(
            request, gettext("Type the key of the ticket to merge into."), messages.WARNING
        )
        return
    try:
        target = _target(request, key)
        sources = [t for t in queryset.order_by("pk") if t.pk != target.pk]
        ticket_merge(sources=sources, target=target, actor=signed_in_user(request))
    except (ValidationError, PermissionDenied) as error:
        model_admin.message_user(
            request,
            gettext("Not merged: %(reason)s") % {"reason": error_text(error)},
            messages.ERROR,
        )
        return
    keys = ", ".join(t.key for t in sources)
    model_admin.message_user(
        request,
        gettext("Merged %(tickets)s into %(target)s.") % {"tickets": keys, "target": target.key},
    )


def register() -> None:
    """Register the ticket page's panels and the ticket list's actions of this module."""
    register_ticket_panel(PANEL_TITLE, links_panel, order=40)
    register_ticket_action(
        "merge_into",
        gettext_lazy("Merge into… (type the key next to the action)"),
        merge_into_action,
        fields={
            "merge_into": forms.CharField(
                required=False,
                max_length=24,
                label=gettext_lazy("Merge into"),
                widget=forms.TextInput(attrs={"placeholder": "NF-12", "size": 8}),
            )
        },
    )
