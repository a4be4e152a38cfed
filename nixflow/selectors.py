"""Reads of the core app: who may see which tickets and comments."""

from __future__ import annotations

from typing import TypeVar

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, F, Func, OuterRef, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Lower

from nixflow.models import Comment, HistoryLog, Tag, Ticket, TicketWatcher, User


def ticket_visibility_filter(user: User) -> Q:
    """Requesters see the tickets they requested or watch; agents and admins see all."""
    if user.is_agent:
        return Q()
    return requested_or_watched(user)


def requested_or_watched(user: User) -> Q:
    """The tickets ``user`` requested or watches, whatever their role (the portal shows
    agents theirs too).

    One ``id IN (requested UNION ALL watched)``: each branch reads its own index
    ((requester, -created) and the watchers' (user, ticket)), and PostgreSQL joins the
    few thousand ids to the table by primary key, with no DISTINCT. ``requester = x OR
    id IN (watched)`` makes it scan the whole table instead (an OR with a sub-plan cannot
    use the indexes): 300 ms among a million tickets.
    """
    requested = Ticket.objects.filter(requester=user).order_by().values("pk")
    watched = TicketWatcher.objects.filter(user=user).order_by().values("ticket_id")
    return Q(pk__in=requested.union(watched, all=True))


def ticket_tag_names() -> ArraySubquery:
    """The row's tag names as an array, sorted regardless of case, in the row's own
    query: a page of tickets stays one query however many tags its rows have (each row
    reads its tags through the through table's (ticket_id, tag_id) index)."""
    names = Tag.objects.filter(tickets=OuterRef("pk")).order_by(Lower("name")).values("name")
    return ArraySubquery(names)


def ticket_list(*, user: User) -> QuerySet[Ticket]:
    """Tickets ``user`` may see, with what a list row shows loaded in the same query."""
    return (
        Ticket.objects.filter(ticket_visibility_filter(user))
        .select_related("workflow", "stage", "requester", "assignee", "team")
        .annotate(tag_names=ticket_tag_names())
        .order_by("-created", "-id")
    )


def ticket_can_view(*, user: User, ticket: Ticket) -> bool:
    if user.is_agent or ticket.requester_id == user.pk:
        return True
    return TicketWatcher.objects.filter(ticket=ticket, user=user).exists()


def ticket_get(*, user: User, key: str) -> Ticket | None:
    """The ticket with ``key`` (``NF-12``) if ``user`` may see it, else None.

    Requesters get None for tickets of others exactly as for tickets that don't exist,
    so the API answers 404 and never confirms that a key is in use.
    """
    number = Ticket.number_from_key(key)
    if number is None:
        return None
    return ticket_list(user=user).filter(pk=number).first()


def comment_list(*, user: User, ticket: Ticket) -> QuerySet[Comment]:
    """The ticket's comments ``user`` may read: requesters never get internal ones."""
    comments = Comment.objects.filter(ticket=ticket)
    if not user.is_agent:
        comments = comments.filter(is_internal=False)
    return comments.select_related("author").prefetch_related(Prefetch("attachments"))


def watcher_list(*, ticket: Ticket) -> QuerySet[TicketWatcher]:
    return TicketWatcher.objects.filter(ticket=ticket).select_related("user")


def history_list(*, ticket: Ticket) -> QuerySet[HistoryLog]:
    return HistoryLog.objects.filter(ticket=ticket).select_related("actor")


_Tickets = TypeVar("_Tickets", bound="QuerySet[Ticket]")


# Up to this many tickets a tag counts as rare: see tickets_with_tag_id.
RARE_TAG_TICKETS = 5_000


class _EqualsAny(Func):
    """``expression = ANY(array)``: with an ARRAY(subquery), PostgreSQL computes the
    array once (an InitPlan) and looks the rows up by it (an index condition)."""

    arg_joiner = " = ANY("
    template = "(%(expressions)s))"
    output_field = BooleanField()


def tickets_with_tag_id(tickets: _Tickets, tag_id: int) -> _Tickets:
    """``tickets`` that have the tag ``tag_id``, planned by how many tickets have it.

    The list is read newest first, a page at a time. A plain ``id IN (SELECT ticket_id
    ...)`` leaves the choice to the planner, which for a tag on a few thousand tickets
    walks the ``-created`` index probing each ticket for the tag, expecting to meet a
    page of them soon: when the tag's tickets are old (a label of last year's incident)
    it walks the whole table, seconds at 200,000 tickets (measured in docs/tags.md). So a
    capped count first (at most RARE_TAG_TICKETS + 1 rows of the (tag_id) index, a few
    ms): a rare tag's tickets are looked up by their ids (``id = ANY(ARRAY(...))``, the
    primary key) and the page sorted from them, whatever their age; a common tag is a
    join, and walking the ordered index meets a page of them quickly."""
    through = Ticket.tags.through.objects.filter(tag_id=tag_id)
    ids = through.values("ticket_id")
    if through[: RARE_TAG_TICKETS + 1].count() <= RARE_TAG_TICKETS:
        return tickets.filter(_EqualsAny(F("pk"), ArraySubquery(ids)))
    return tickets.filter(pk__in=ids)


def tickets_tagged(tickets: _Tickets, name: str) -> _Tickets:
    """``tickets`` that have the tag named ``name`` (any case); none for an unknown name.
    The tag is looked up first (its unique index on lower(name)): tickets_with_tag_id
    plans by its id."""
    name = name.strip()
    if not name:
        return tickets
    tag_id = (
        Tag.objects.annotate(lower_name=Lower("name"))
        .filter(lower_name=Lower(Value(name)))
        .values_list("pk", flat=True)
        .first()
    )
    if tag_id is None:
        return tickets.none()
    return tickets_with_tag_id(tickets, tag_id)
