"""Typed links between tickets: related to, duplicate of / has duplicate, blocks /
blocked by (``nixflow.models.TicketLink``).

A link is one row, from ``source`` to ``target``, and each side reads it in its own
words (``LINK_LABELS``). A pair of tickets has at most one link of each kind, in either
direction: a second "related" either way, or NF-1 blocks NF-2 beside NF-2 blocks NF-1
(or duplicates of each other), is refused, so each side shows each relation once and
never a contradiction. Both tickets are locked (ascending id) before the check, so two
agents linking the same pair opposite ways at once cannot both succeed.

Agents link and unlink. A link is not counted in the tickets' ``version`` (as a watcher
is not: it changes nothing an agent edits or replies to, docs/collision.md). Both
tickets get a history row ("link": how that side reads it,
e.g. "blocked by NF-3") and a ``ticket.linked`` / ``ticket.unlinked`` event, since each
side's page shows the link and each side's watchers may care.

Reads: ``ticket_links`` lists a ticket's links both ways in that side's words, for a
viewer: requesters see only links to tickets they may see themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from nixflow import events, selectors
from nixflow.models import LINK_LABELS, LinkKind, Ticket, TicketLink, User
from nixflow.services import tickets as ticket_services
from nixflow.toolkit.auth import require_agent
from nixflow.toolkit.errors import ConflictError


@dataclass(frozen=True)
class LinkView:
    """A link as one ticket sees it: the other ticket and the words of this side."""

    link: TicketLink
    other: Ticket
    label: str  # "blocked by", "has duplicate", ...
    outgoing: bool  # this ticket is the link's source

    @property
    def text(self) -> str:
        return f"{self.label} {self.other.key}"


def label_for(link: TicketLink, *, ticket_id: int) -> str:
    """How ``ticket_id``'s side reads ``link``: "blocks" from its source, "blocked by"
    from its target."""
    as_source, as_target = LINK_LABELS[link.kind]
    return as_source if link.source_id == ticket_id else as_target


def _check(source: Ticket, target: Ticket, kind: str, actor: User | None) -> None:
    require_agent(actor, "link tickets")
    if kind not in LinkKind.values:
        allowed = ", ".join(LinkKind.values)
        raise ValidationError({"kind": f"Unknown link kind {kind!r}; one of {allowed}."})
    if source.pk == target.pk:
        raise ValidationError({"target": f"{source.key} cannot be linked to itself."})
    for ticket in (source, target):
        if actor is not None and not selectors.ticket_can_view(user=actor, ticket=ticket):
            raise PermissionDenied(f"You cannot act on ticket {ticket.key}.")


def _lock_pair(source: Ticket, target: Ticket) -> None:
    list(
        Ticket.objects.select_for_update(of=("self",))
        .filter(pk__in=[source.pk, target.pk])
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _existing(source: Ticket, target: Ticket, kind: str) -> TicketLink | None:
    pair = Q(source=source, target=target) | Q(source=target, target=source)
    return TicketLink.objects.filter(pair, kind=kind).first()


def _refusal(existing: TicketLink, source: Ticket, kind: str) -> str:
    shown = f"{existing.source.key} {LINK_LABELS[kind][0]} {existing.target.key}"
    if existing.source_id == source.pk or kind == LinkKind.RELATED:
        return f"{shown} already."
    return f"{shown} already; the opposite link would contradict it."


def _publish(link: TicketLink, *, type: str, actor: User | None, removed: bool) -> None:
    """History and the event on both tickets of ``link``."""
    at = timezone.now()
    for ticket, other in ((link.source, link.target), (link.target, link.source)):
        text = f"{label_for(link, ticket_id=ticket.pk)} {other.key}"
        payload: dict[str, Any] = {
            "link_id": link.pk,
            "kind": link.kind,
            "source_id": link.source_id,
            "target_id": link.target_id,
            "other_id": other.pk,
        }
        ticket_services._commit_change(
            ticket=ticket,
            actor=actor,
            event_type=type,
            changes={"link": (text, "") if removed else ("", text)},
            at=at,
            payload=payload,
            count_version=False,  # as for watchers: nothing an agent edits or answers
        )


@transaction.atomic
def ticket_link(*, source: Ticket, target: Ticket, kind: str, actor: User | None) -> TicketLink:
    """Link ``source`` to ``target`` (agents; actor None: the system). Refused: a ticket
    to itself, an unknown kind, and a link of a kind the pair has already either way."""
    _check(source, target, kind, actor)
    _lock_pair(source, target)
    existing = _existing(source, target, kind)
    if existing is not None:
        raise ConflictError({"target": _refusal(existing, source, kind)})
    link = TicketLink.objects.create(
        source=source, target=target, kind=kind, created_by=actor, created=timezone.now()
    )
    _publish(link, type=events.TICKET_LINKED, actor=actor, removed=False)
    return link


@transaction.atomic
def ticket_unlink(*, link: TicketLink, actor: User | None) -> None:
    """Remove ``link`` (agents); both tickets' history and events say so."""
    require_agent(actor, "unlink tickets")
    _lock_pair(link.source, link.target)
    if not TicketLink.objects.filter(pk=link.pk).exists():
        raise ConflictError({"link": "This link was removed already."})
    removed = TicketLink(
        pk=link.pk,
        source=link.source,
        target=link.target,
        kind=link.kind,
        created_by_id=link.created_by_id,
        created=link.created,
    )
    TicketLink.objects.filter(pk=link.pk).delete()
    _publish(removed, type=events.TICKET_UNLINKED, actor=actor, removed=True)


def ticket_links(*, ticket: Ticket, user: User) -> list[LinkView]:
    """``ticket``'s links both ways, oldest first, in its own words; for a requester only
    those whose other ticket they may see (one query)."""
    visible = selectors.ticket_visibility_filter(user)
    other_visible = Q(source=ticket, target__in=Ticket.objects.filter(visible)) | Q(
        target=ticket, source__in=Ticket.objects.filter(visible)
    )
    links = (
        TicketLink.objects.filter(other_visible)
        .select_related("source", "target")
        .order_by("created", "id")
    )
    return [
        LinkView(
            link=link,
            other=link.target if link.source_id == ticket.pk else link.source,
            label=label_for(link, ticket_id=ticket.pk),
            outgoing=link.source_id == ticket.pk,
        )
        for link in links
    ]
