"""Merging tickets and linking them, through the API (nixflow.services.merge, .links).

- ``POST /api/tickets/{key}/merge/`` ``{"sources": ["NF-2", "NF-3"]}`` (agents): merge
  the sources into ``{key}``, the ticket that stays. The URL names the survivor, so one
  call folds several duplicates into it and answers with it (200, the ticket as
  ``GET /api/tickets/{key}/`` shows it). Unknown keys and a ticket into itself are 400;
  a source already merged or a target that was merged are 409 (the target's message
  names the ticket to merge into instead).
- ``GET /api/tickets/{key}/links/``: the ticket's links both ways, each in this side's
  words (``"relation": "blocked_by"``, ``"relation_text": "blocked by"``, ``"ticket":
  "NF-3"``); requesters see only links to
  tickets they may see.
- ``POST /api/tickets/{key}/links/`` ``{"relation": ..., "ticket": "NF-3"}`` (agents):
  the relation in this ticket's words: ``related``, ``duplicate_of``, ``has_duplicate``, ``blocks``,
  ``blocked_by`` (stored once: NF-1 ``blocked_by`` NF-3 is NF-3 blocks NF-1). 201; 409
  when the pair has a link of that kind already, either way.
- ``DELETE /api/tickets/{key}/links/{id}/`` (agents): 204; 404 for a link that is not
  this ticket's.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nixflow import selectors
from nixflow.api.filters import TICKET_KEY_ANY_CASE
from nixflow.api.serializers import TicketSerializer
from nixflow.models import LinkKind, Ticket, TicketLink, User
from nixflow.services.links import LinkView, ticket_link, ticket_links, ticket_unlink
from nixflow.services.merge import MAX_SOURCES, ticket_merge
from nixflow.toolkit.auth import require_agent, signed_in_user

# A kind in the words of the ticket in the URL -> (stored kind, this ticket is the source)
SIDE_KINDS: dict[str, tuple[str, bool]] = {
    "related": (LinkKind.RELATED, True),
    "duplicate_of": (LinkKind.DUPLICATE_OF, True),
    "has_duplicate": (LinkKind.DUPLICATE_OF, False),
    "blocks": (LinkKind.BLOCKS, True),
    "blocked_by": (LinkKind.BLOCKS, False),
}
# (stored kind, this ticket is the source) -> the relation in this ticket's words
SIDE_OF = {value: side for side, value in SIDE_KINDS.items()}
SIDE_OF[(LinkKind.RELATED, False)] = "related"


def _ticket(user: User, key: str) -> Ticket:
    ticket = selectors.ticket_get(user=user, key=key)
    if ticket is None:
        raise NotFound("No such ticket.")
    return ticket


def _other(user: User, key: str, field: str) -> Ticket:
    """A ticket named in the body: a 400 on ``field`` when the caller cannot see it."""
    ticket = selectors.ticket_get(user=user, key=key)
    if ticket is None:
        raise serializers.ValidationError({field: [f"No such ticket: {key}."]})
    return ticket


class TicketKeyField(serializers.RegexField):
    """A ticket key, ``NF-12`` (any case), read as ``NF-12``; the pattern is in the schema."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "A ticket's key, e.g. NF-12 (any case).")
        super().__init__(
            TICKET_KEY_ANY_CASE,
            max_length=24,
            trim_whitespace=False,
            error_messages={"invalid": "Not a ticket key (NF-12)."},
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> str:
        return str(super().to_internal_value(data)).upper()


class MergeSerializer(serializers.Serializer):
    sources = serializers.ListField(
        child=TicketKeyField(),
        min_length=1,
        max_length=MAX_SOURCES,
        error_messages={
            "empty": "Name at least one ticket to merge.",
            "min_length": "Name at least one ticket to merge.",
        },
        help_text="Keys of the tickets to merge into the ticket of the URL. A key that "
        "names no ticket you can see, or the ticket of the URL itself, is refused (400).",
    )

    def validate_sources(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class LinkSerializer(serializers.Serializer):
    """A link as the ticket of the URL sees it."""

    id = serializers.IntegerField(source="link.pk")
    kind = serializers.CharField(
        source="link.kind", help_text="As stored: " + ", ".join(LinkKind.values)
    )
    relation = serializers.SerializerMethodField(
        help_text="This side's relation, as POST takes it: "
        + ", ".join(SIDE_KINDS)
        + " (NF-3 blocks NF-1 reads blocked_by on NF-1)."
    )
    relation_text = serializers.CharField(
        source="label", help_text='In words: "blocked by", "has duplicate", "related to"...'
    )
    ticket = serializers.CharField(source="other.key", help_text="The other ticket's key.")
    title = serializers.CharField(source="other.title")
    outgoing = serializers.BooleanField(help_text="True when this ticket is the link's source.")
    created = serializers.DateTimeField(source="link.created")

    def get_relation(self, view: LinkView) -> str:
        return SIDE_OF[(view.link.kind, view.outgoing)]


class LinkCreateSerializer(serializers.Serializer):
    relation = serializers.ChoiceField(
        choices=list(SIDE_KINDS), help_text="The relation in this ticket's words."
    )
    ticket = TicketKeyField(
        help_text="The other ticket's key (any case). A key that names no ticket you can "
        "see, or this ticket itself, is refused (400)."
    )


class TicketMergeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MergeSerializer, responses=TicketSerializer, operation_id="tickets_merge"
    )
    def post(self, request: Request, key: str) -> Response:
        """Merge the ``sources`` into this ticket (agents)."""
        user = signed_in_user(request)
        target = _ticket(user, key)
        require_agent(user, "merge tickets")  # before the body: nothing to learn from it
        serializer = MergeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sources = [_other(user, k, "sources") for k in serializer.validated_data["sources"]]
        ticket_merge(sources=sources, target=target, actor=user)
        shown = _ticket(user, key)
        return Response(TicketSerializer(shown, context={"request": request}).data)


def _link_data(view: LinkView) -> Any:
    return LinkSerializer(view).data


class TicketLinksView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=LinkSerializer(many=True), operation_id="tickets_links_list")
    def get(self, request: Request, key: str) -> Response:
        """The ticket's links both ways, oldest first."""
        user = signed_in_user(request)
        ticket = _ticket(user, key)
        return Response([_link_data(v) for v in ticket_links(ticket=ticket, user=user)])

    @extend_schema(
        request=LinkCreateSerializer,
        responses={201: LinkSerializer},
        operation_id="tickets_links_create",
    )
    def post(self, request: Request, key: str) -> Response:
        """Link this ticket to another (agents)."""
        user = signed_in_user(request)
        ticket = _ticket(user, key)
        require_agent(user, "link tickets")  # before the body: nothing to learn from it
        serializer = LinkCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        other = _other(user, serializer.validated_data["ticket"], "ticket")
        if other.pk == ticket.pk:
            raise serializers.ValidationError(
                {"ticket": [f"{ticket.key} cannot be linked to itself."]}
            )
        kind, outgoing = SIDE_KINDS[serializer.validated_data["relation"]]
        source, target = (ticket, other) if outgoing else (other, ticket)
        link = ticket_link(source=source, target=target, kind=kind, actor=user)
        (view,) = [v for v in ticket_links(ticket=ticket, user=user) if v.link.pk == link.pk]
        return Response(_link_data(view), status=status.HTTP_201_CREATED)


class TicketLinkView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, operation_id="tickets_links_destroy")
    def delete(self, request: Request, key: str, link_id: int) -> Response:
        """Remove one of this ticket's links (agents)."""
        user = signed_in_user(request)
        ticket = _ticket(user, key)
        mine = Q(source=ticket) | Q(target=ticket)
        link = (
            TicketLink.objects.select_related("source", "target").filter(mine, pk=link_id).first()
        )
        if link is None:
            raise NotFound("No such link on this ticket.")
        ticket_unlink(link=link, actor=user)
        return Response(status=status.HTTP_204_NO_CONTENT)
