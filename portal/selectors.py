"""Reads of the portal: a person's own tickets and their public side only.

Everything a requester reads here goes through these functions, so that the rule "the
public conversation only" lives in one place: comments with ``is_internal=False``, the
attachments of those, the ``search_public`` document, and ``Ticket.public_updated`` (an
internal note moves ``updated`` but not that). Stage names are the desk's own words and
may be internal ("Escalated to vendor"); the requester reads the stage's category in
plain words instead (``status_text``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from nixflow.models import (
    Attachment,
    Comment,
    HistoryLog,
    StageCategory,
    Ticket,
    TicketWatcher,
    Transition,
    User,
)
from nixflow.search import TicketSearch, snippets
from nixflow.selectors import requested_or_watched
from portal.models import DeflectionAttempt

DONE = (StageCategory.RESOLVED, StageCategory.CLOSED)
OPEN, CLOSED, ALL = "open", "closed", "all"
STATUSES = (OPEN, CLOSED, ALL)

# The category of a stage in the requester's words.
STATUS_TEXT: dict[str, Any] = {
    StageCategory.NEW: pgettext_lazy("ticket status", "Received"),
    StageCategory.OPEN: pgettext_lazy("ticket status", "In progress"),
    StageCategory.WAITING: pgettext_lazy("ticket status", "Waiting for a reply"),
    StageCategory.RESOLVED: pgettext_lazy("ticket status", "Resolved"),
    StageCategory.CLOSED: pgettext_lazy("ticket status", "Closed"),
}
REQUESTED, WATCHING = "requested", "watching"
RELATION_TEXT = {REQUESTED: _("Your request"), WATCHING: _("Following")}


def page_size() -> int:
    return int(getattr(settings, "PORTAL_PAGE_SIZE", 25))


def status_text(category: str) -> str:
    return str(STATUS_TEXT.get(category, category))


def activity() -> Coalesce:
    """The last change the requester can see (see ``Ticket.public_updated``)."""
    return Coalesce("public_updated", "created", output_field=DateTimeField())


def mine_filter(user: User) -> Q:
    """The tickets ``user`` requested or watches, whatever their role: the portal is
    one's own desk, so agents see there what they asked for, not the whole desk."""
    return requested_or_watched(user)


# --- the list -------------------------------------------------------------------------
@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the row with this activity time and id."""

    at: datetime
    pk: int

    def encode(self) -> str:
        raw = f"{self.at.isoformat()}|{self.pk}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """None for anything that is not a cursor we wrote (the first page then)."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at, pk = raw.split("|")
            parsed = datetime.fromisoformat(at)
            number = int(pk)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return None
        if parsed.tzinfo is None or not 0 < number < 2**63:
            return None
        return cls(at=parsed, pk=number)


@dataclass
class TicketPage:
    tickets: list[Ticket]
    next_cursor: str
    searched: bool


def _searched(
    tickets: QuerySet[Ticket], query: str
) -> tuple[QuerySet[Ticket], TicketSearch | None]:
    """``tickets`` that match ``query`` in their public conversation (a key: that
    ticket), and the search, for the snippets."""
    if not query:
        return tickets, None
    number = Ticket.number_from_key(query)
    if number is not None:
        return tickets.filter(pk=number), None
    search = TicketSearch.build(query, internal=False)
    if not search.parsed.has_positive_terms:
        return tickets.none(), None
    return tickets.filter(search.match()), search


def ticket_page(*, user: User, status: str = OPEN, query: str = "", after: str = "") -> TicketPage:
    """One page of ``user``'s tickets, newest activity first (keyset paging: a page is
    a range of (activity, id), whatever page it is), filtered by status and by a search
    of the public conversation. Each row is annotated with ``activity`` and
    ``relation`` (REQUESTED or WATCHING); a search adds ``snippet`` (public text). Two
    queries at most, whatever the number of tickets."""
    tickets: QuerySet[Ticket] = (
        Ticket.objects.filter(mine_filter(user))
        .select_related("stage")
        .only("id", "title", "created", "public_updated", "requester_id", "stage__category")
        .annotate(
            activity=activity(),
            relation=Case(
                When(requester=user, then=Value(REQUESTED)),
                default=Value(WATCHING),
                output_field=CharField(),
            ),
        )
    )
    if status == OPEN:
        tickets = tickets.exclude(stage__category__in=DONE)
    elif status == CLOSED:
        tickets = tickets.filter(stage__category__in=DONE)
    tickets, search = _searched(tickets, query.strip())
    cursor = Cursor.decode(after) if after else None
    if cursor is not None:
        tickets = tickets.filter(
            Q(activity__lt=cursor.at) | Q(activity=cursor.at, pk__lt=cursor.pk)
        )
    size = page_size()
    rows = list(tickets.order_by(F("activity").desc(), "-pk")[: size + 1])
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = Cursor(at=rows[-1].activity, pk=rows[-1].pk).encode()  # type: ignore[attr-defined]
    for row in rows:
        row.status_text = status_text(row.stage.category)  # type: ignore[attr-defined]
        row.relation_text = RELATION_TEXT[row.relation]  # type: ignore[attr-defined]
        row.snippet = ""  # type: ignore[attr-defined]
    if search is not None and rows:
        found = snippets([row.pk for row in rows], search)
        for row in rows:
            row.snippet = found.get(row.pk, "")  # type: ignore[attr-defined]
    return TicketPage(tickets=rows, next_cursor=next_cursor, searched=bool(query.strip()))


# --- one ticket -----------------------------------------------------------------------
def ticket_get(*, user: User, key: str) -> Ticket | None:
    """``user``'s ticket with ``key`` (requested or watched), else None: a ticket of
    someone else is answered exactly like one that does not exist."""
    number = Ticket.number_from_key(key)
    if number is None or not user.is_authenticated:
        return None
    watching = TicketWatcher.objects.filter(ticket=OuterRef("pk"), user=user)
    return (
        Ticket.objects.filter(mine_filter(user), pk=number)
        .select_related("stage", "requester")
        .annotate(activity=activity(), watching=Exists(watching))
        .first()
    )


def opened_by(*, ticket: Ticket) -> User:
    """Who opened ``ticket``: its creation's history row names them (an agent, through
    the admin or the API, opens tickets for requesters); the requester when none does
    (rows loaded without the services)."""
    row = (
        HistoryLog.objects.filter(ticket=ticket, field="ticket", new_value="created")
        .select_related("actor")
        .order_by("id")
        .first()
    )
    return row.actor if row is not None and row.actor is not None else ticket.requester


def public_comments(*, ticket: Ticket) -> QuerySet[Comment]:
    """The ticket's public conversation, oldest first, with authors and files."""
    return (
        Comment.objects.filter(ticket=ticket, is_internal=False)
        .select_related("author")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("created", "id")
    )


def public_attachment(*, ticket: Ticket, attachment_id: int) -> Attachment | None:
    """A file of a public comment of ``ticket``; None for any other."""
    return (
        Attachment.objects.filter(
            pk=attachment_id, comment__ticket=ticket, comment__is_internal=False
        )
        .select_related("comment")
        .first()
    )


@dataclass(frozen=True)
class StageAction:
    """A move the requester may make from here: ``kind`` "reopen" or "resolve"."""

    kind: str
    stage_id: int
    label: str


def stage_actions(*, ticket: Ticket, user: User) -> list[StageAction]:
    """The workflow's transitions from the ticket's stage that its requester may take
    (``Transition.requester_allowed``), as at most one "reopen" (from a resolved or
    closed stage to an open one) and one "resolve" (to a resolved stage). Watchers and
    everyone else get none: the core lets only the requester take them."""
    if ticket.requester_id != user.pk:
        return []
    current = ticket.stage.category
    transitions = (
        Transition.objects.filter(from_stage=ticket.stage_id, requester_allowed=True)
        .select_related("to_stage")
        .order_by("to_stage__position")
    )
    actions: dict[str, StageAction] = {}
    for transition in transitions:
        target = transition.to_stage.category
        if current in DONE and target not in DONE:
            actions.setdefault(
                "reopen", StageAction("reopen", transition.to_stage_id, str(_("Reopen request")))
            )
        elif current not in DONE and target == StageCategory.RESOLVED:
            actions.setdefault(
                "resolve",
                StageAction("resolve", transition.to_stage_id, str(_("Mark as resolved"))),
            )
    return list(actions.values())


# --- deflection -----------------------------------------------------------------------
def deflection_window() -> timedelta:
    return timedelta(minutes=int(getattr(settings, "PORTAL_DEFLECTION_WINDOW_MINUTES", 30)))


@dataclass(frozen=True)
class DeflectionCounts:
    attempts: int  # "New request" visits with suggestions shown
    opened: int  # of which the requester opened a suggestion
    deflected: int  # of which no request followed within the window


def deflected_attempts(
    *, since: datetime, until: datetime, now: datetime | None = None
) -> QuerySet[DeflectionAttempt]:
    """Attempts that count as deflected, by the time their first suggestion was opened
    (``since`` <= it < ``until``): a suggestion was opened, no request was filed from
    the page, and the requester opened no ticket at all (by the portal, a form or mail)
    from the attempt's start until the window after that opening had passed. An
    attempt whose window is still running is not counted yet."""
    now = now or timezone.now()
    window = deflection_window()
    filed = Ticket.objects.filter(
        requester=OuterRef("requester"),
        created__gte=OuterRef("created"),
        created__lte=OuterRef("first_opened_at") + window,
    )
    return DeflectionAttempt.objects.filter(
        first_opened_at__gte=since,
        first_opened_at__lt=min(until, now - window),
        ticket__isnull=True,
    ).exclude(Exists(filed))


def deflection_counts(
    *, since: datetime, until: datetime, now: datetime | None = None
) -> DeflectionCounts:
    """Attempts, openings and deflections over [since, until): attempts by their start,
    openings and deflections by their first opening. For the desk's reports."""
    started = DeflectionAttempt.objects.filter(created__gte=since, created__lt=until)
    opened = DeflectionAttempt.objects.filter(first_opened_at__gte=since, first_opened_at__lt=until)
    return DeflectionCounts(
        attempts=started.count(),
        opened=opened.count(),
        deflected=deflected_attempts(since=since, until=until, now=now).count(),
    )


def deflection_count(*, since: datetime, until: datetime, now: datetime | None = None) -> int:
    """How many attempts were deflected over [since, until) (``deflected_attempts``)."""
    return deflected_attempts(since=since, until=until, now=now).count()


def attempt_get(*, user: User, token: str) -> DeflectionAttempt | None:
    return DeflectionAttempt.objects.filter(token=token, requester=user).first()


def suggested_articles(*, subject: str, description: str = "") -> Sequence[Any]:
    """Published public articles that may answer a request with this subject
    (``knowledge.suggestions``, the ticket page's suggestions, on text not yet a
    ticket); empty when the knowledge base is not installed."""
    from django.apps import apps

    if not apps.is_installed("knowledge") or not subject.strip():
        return []
    from knowledge.suggestions import articles_suggested_for_ticket

    # Never saved: its words only. pk 0 is no ticket (ids start at 1), so "articles
    # linked to this ticket" is simply none.
    draft = Ticket(pk=0, title=subject, description=description)
    # Published public articles only, whoever asks: the portal is the requester's side
    # (an agent filing a request of their own gets what a requester would read).
    return articles_suggested_for_ticket(ticket=draft, user=None, limit=5)


def published_forms() -> list[Any]:
    """The desk's published forms (``/forms/<slug>/``); empty without the form builder."""
    from django.apps import apps

    if not apps.is_installed("forms_builder"):
        return []
    from forms_builder.selectors import form_list_published

    return list(form_list_published().only("id", "name", "slug", "description"))
