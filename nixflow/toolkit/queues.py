"""Queues: named sets of tickets an agent works through, shown on the desk (the admin's
home page) with a count and a link to the ticket list showing exactly those tickets.

The core registers "My open tickets" and "Unassigned" (nixflow.admin.desk); feature apps
add theirs in their ``AppConfig.ready()``, as the SLA app does for "At risk" and
"Breached"::

    register_queue(
        slug="at-risk",
        title=gettext_lazy("At risk"),
        tickets=at_risk_tickets,  # (queryset, user) -> the queue's tickets of queryset
        description=gettext_lazy("A clock will pass its deadline soon"),
    )

Titles and descriptions are shown in the viewer's language when they are lazily
translated strings, as above.

A queue is a function that narrows a ticket queryset for a user. The desk applies it to
all tickets to count them; the ticket list's ``queue`` filter (``?queue=<slug>``, see
nixflow.admin.desk.QueueFilter) applies the same function to the list's queryset, so a
queue's link shows the same tickets as its count, by construction. ``sort`` orders
that list by one of its columns (the SLA app's queues: most urgent first).

Counts are capped: ``SELECT count(*) FROM (... LIMIT cap + 1)`` stops after ``cap + 1``
rows, so a queue of a million tickets costs what one of ten thousand does, and reads
"10,000+". A queue must still be cheap to find: its filter should be served by an index
(a foreign key's, a partial index of the SLA clocks, ...), not a scan of every ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.http import urlencode

from nixflow.toolkit.changelist import ResultCount, count_rows

if TYPE_CHECKING:
    # Types only: django-stubs-ext is a development dependency.
    from django_stubs_ext import StrOrPromise

    from nixflow.models import Ticket, User

logger = logging.getLogger(__name__)

# Exact up to this many tickets, then "10,000+": a desk needs to know there is a lot of
# work, not how much more than ten thousand. The ticket list's filtered counts stop at
# the same number (FastListAdmin.count_cap).
COUNT_CAP = 10_000

Narrow = Callable[["QuerySet[Ticket]", "User"], "QuerySet[Ticket]"]
Visible = Callable[["User"], bool]


def for_agents(user: User) -> bool:
    return bool(user.is_agent)


@dataclass(frozen=True)
class Queue:
    slug: str
    title: StrOrPromise
    tickets: Narrow
    description: StrOrPromise = ""
    # The ticket list's column to sort the queue's link by ("sla": the SLA column, most
    # urgent first; "-updated"), or "" for the list's own order. By name, because the
    # list's ``o`` parameter is a column's position, which the desk works out from the
    # list's columns for the request (nixflow.admin.desk.queue_link).
    sort: str = ""
    # Extra changelist parameters for the queue's link, on top of ``queue=<slug>``: they
    # may present the list differently, never narrow it (the count would differ).
    query: tuple[tuple[str, str], ...] = ()
    # How the desk colours a non-zero count: "" (plain), "warning" or "danger".
    tone: str = ""
    order: int = 100
    visible: Visible = for_agents

    def queryset(self, user: User) -> QuerySet[Ticket]:
        from nixflow.models import Ticket

        return self.tickets(Ticket.objects.all(), user)

    def url(self, *extra: tuple[str, str]) -> str:
        """The ticket list showing this queue's tickets (``extra``: more parameters)."""
        params = [("queue", self.slug), *self.query, *extra]
        return f"{reverse('admin:nixflow_ticket_changelist')}?{urlencode(params)}"


@dataclass(frozen=True)
class CountedQueue:
    queue: Queue
    # None when counting failed: the desk shows the queue without a number.
    count: ResultCount | None
    url: str


_queues: dict[str, Queue] = {}


def register_queue(
    *,
    slug: str,
    title: StrOrPromise,
    tickets: Narrow,
    description: StrOrPromise = "",
    sort: str = "",
    query: dict[str, str] | None = None,
    tone: str = "",
    order: int = 100,
    visible: Visible = for_agents,
) -> Queue:
    """Add (or replace, by slug) a queue of the desk and the ticket list's queue filter."""
    queue = Queue(
        slug=slug,
        title=title,
        tickets=tickets,
        description=description,
        sort=sort,
        query=tuple((query or {}).items()),
        tone=tone,
        order=order,
        visible=visible,
    )
    _queues[slug] = queue
    return queue


def unregister_queue(slug: str) -> None:
    _queues.pop(slug, None)


def get_queue(slug: str) -> Queue | None:
    return _queues.get(slug)


def queues_for(user: User) -> list[Queue]:
    """The queues ``user`` may see, in order."""
    return [
        queue
        for queue in sorted(_queues.values(), key=lambda q: (q.order, str(q.title)))
        if queue.visible(user)
    ]


def my_team_ids(user: User) -> QuerySet[Any]:
    """The teams ``user`` is a member of, as a subquery for ``team_id__in`` (read through
    nixflow_membership_user), so that a queue of "my teams" stays one query."""
    from nixflow.models import TeamMembership

    return TeamMembership.objects.filter(user=user).order_by().values("team_id")


def capped_count(queryset: QuerySet[Ticket], cap: int | None = None) -> ResultCount:
    """``SELECT count(*) FROM (SELECT ... LIMIT cap + 1)``: stops reading at cap + 1.
    The ticket list's own count (nixflow.toolkit.changelist), so that a queue's link
    shows the number the desk showed: exact, or "10,000+" (``is_exact`` False)."""
    return count_rows(queryset, cap=COUNT_CAP if cap is None else cap, unfiltered=False)


def counted_queues(
    user: User, cap: int | None = None, link: Callable[[Queue], str] = Queue.url
) -> list[CountedQueue]:
    """Each visible queue with its capped count and its link (``link(queue)``). One
    query per queue; a queue whose count fails is shown without one and logged: a
    broken queue must not take the desk down with it."""
    counted = []
    for queue in queues_for(user):
        try:
            # A savepoint, so that a failed count leaves the request's transaction usable.
            with transaction.atomic():
                count: ResultCount | None = capped_count(queue.queryset(user), cap)
        except Exception:
            logger.exception("Counting queue %r failed", queue.slug)
            count = None
        counted.append(CountedQueue(queue=queue, count=count, url=link(queue)))
    return counted


# --- links ------------------------------------------------------------------------------
# The desk also links the pages an agent goes to from it: the SLA dashboard (registered
# by the SLA app), reports (each report registers its link in its app's ready()).
@dataclass(frozen=True)
class DeskLink:
    slug: str  # also the link's data-testid: "<slug>-link"
    title: StrOrPromise
    url_name: str
    description: StrOrPromise = ""
    order: int = 100
    visible: Visible = for_agents

    def url(self) -> str:
        return reverse(self.url_name)


_links: dict[str, DeskLink] = {}


def register_desk_link(
    *,
    slug: str,
    title: StrOrPromise,
    url_name: str,
    description: StrOrPromise = "",
    order: int = 100,
    visible: Visible = for_agents,
) -> DeskLink:
    """Add (or replace, by slug) a link of the desk; ``url_name`` is reversed when shown."""
    link = DeskLink(
        slug=slug,
        title=title,
        url_name=url_name,
        description=description,
        order=order,
        visible=visible,
    )
    _links[slug] = link
    return link


def unregister_desk_link(slug: str) -> None:
    _links.pop(slug, None)


def links_for(user: User) -> list[DeskLink]:
    return [
        link
        for link in sorted(_links.values(), key=lambda k: (k.order, str(k.title)))
        if link.visible(user)
    ]
