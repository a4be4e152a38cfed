"""Reads of the core app: who may see which tickets and comments."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from nixflow.models import Comment, HistoryLog, Ticket, TicketWatcher, User


def ticket_visibility_filter(user: User) -> Q:
    """Requesters see the tickets they requested or watch; agents and admins see all.

    The watch test is a semi-join (``IN (SELECT ticket_id ...)``) rather than a join on
    watchers, so the list needs no DISTINCT and each branch can use its own index.
    """
    if user.is_agent:
        return Q()
    watched = TicketWatcher.objects.filter(user=user).values("ticket_id")
    return Q(requester=user) | Q(pk__in=watched)


def ticket_list(*, user: User) -> QuerySet[Ticket]:
    """Tickets ``user`` may see, with what a list row shows loaded in the same query."""
    return (
        Ticket.objects.filter(ticket_visibility_filter(user))
        .select_related("workflow", "stage", "requester", "assignee")
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
