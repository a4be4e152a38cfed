"""Who has a ticket's page open, and who is writing a reply there: the collision warning.

The ticket's admin page beats every ``HEARTBEAT_SECONDS`` (``presence_beat``, through
``POST /api/tickets/{key}/presence/``); a row is someone's presence while its last beat
is younger than ``FRESH_SECONDS`` (three beats, so that one late or lost beat does not
make an agent flicker out of the list). Rows are ephemeral: no history and no event (an
agent's page would otherwise write one every ten seconds into the append-only log).

Old rows cost nothing to the answers (every read filters on freshness) but would pile up:
each beat deletes the ticket's rows older than ``STALE_SECONDS`` in the same statement as
its upsert, and about one beat in ``SWEEP_ONE_IN`` also sweeps every ticket's
(``presence_sweep``, a range of the ``seen_at`` index). That keeps the table to the
people on tickets right now without a scheduled task of its own; ``presence_sweep`` is
also what a periodic task would call (docs/collision.md).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from nixflow.models import Comment, Ticket, TicketPresence, User
from nixflow.toolkit.auth import require_agent

HEARTBEAT_SECONDS = 10  # how often the ticket page beats (presence.js reads it from the page)
FRESH_SECONDS = 30  # a beat younger than this is someone on the page
STALE_SECONDS = 120  # a beat older than this is deleted
SWEEP_ONE_IN = 50  # about one beat in this many sweeps the whole table


@dataclass(frozen=True)
class Presence:
    """Someone else on the ticket's page."""

    user_id: int
    name: str
    composing: bool
    seen_at: datetime


# One statement: the upsert (exact when two pages beat at once, whoever's row it is) and
# the ticket's stale rows of other people (the caller's own row is the one upserted).
_BEAT_SQL = f"""
WITH gone AS (
    DELETE FROM {TicketPresence._meta.db_table}
    WHERE ticket_id = %(ticket)s AND user_id <> %(user)s AND seen_at < %(stale)s
)
INSERT INTO {TicketPresence._meta.db_table} (ticket_id, user_id, composing, seen_at)
VALUES (%(ticket)s, %(user)s, %(composing)s, %(now)s)
ON CONFLICT ON CONSTRAINT nixflow_presence_unique
DO UPDATE SET composing = EXCLUDED.composing, seen_at = EXCLUDED.seen_at
"""  # noqa: S608 -- table names from the model, values as parameters


def presence_beat(*, ticket: Ticket, user: User, composing: bool) -> None:
    """Record that ``user`` (an agent) has the ticket's page open now, writing a reply
    when ``composing``. The caller has checked that they may see the ticket."""
    require_agent(user, "show their presence on a ticket")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _BEAT_SQL,
            {
                "ticket": ticket.pk,
                "user": user.pk,
                "composing": composing,
                "now": now,
                "stale": now - timedelta(seconds=STALE_SECONDS),
            },
        )
    if random.randrange(SWEEP_ONE_IN) == 0:  # noqa: S311 -- spreading work, not a secret
        presence_sweep(now=now)


def presence_others(*, ticket: Ticket, user: User) -> list[Presence]:
    """The others on the ticket's page now (beat within ``FRESH_SECONDS``), those
    writing a reply first, then by name."""
    fresh = timezone.now() - timedelta(seconds=FRESH_SECONDS)
    rows = (
        TicketPresence.objects.filter(ticket=ticket, seen_at__gte=fresh)
        .exclude(user=user)
        .select_related("user")
    )
    others = [
        Presence(
            user_id=row.user_id,
            name=row.user.get_full_name() or row.user.get_username(),
            composing=row.composing,
            seen_at=row.seen_at,
        )
        for row in rows
    ]
    return sorted(others, key=lambda p: (not p.composing, p.name.casefold(), p.user_id))


def presence_leave(*, ticket: Ticket, user: User) -> None:
    """Forget ``user`` on the ticket's page (they left it): others stop seeing them at
    once instead of after ``FRESH_SECONDS``."""
    require_agent(user, "show their presence on a ticket")
    TicketPresence.objects.filter(ticket=ticket, user=user).delete()


def presence_sweep(*, now: datetime | None = None) -> int:
    """Delete every row older than ``STALE_SECONDS``; how many."""
    before = (now or timezone.now()) - timedelta(seconds=STALE_SECONDS)
    deleted, _ = TicketPresence.objects.filter(seen_at__lt=before).delete()
    return deleted


def ticket_newest_public_comment_id(*, ticket: Ticket) -> int | None:
    """The id of the ticket's newest public comment, None without one: what a page
    compares with the one it was loaded with. Newest by ``created`` (the nf_comment_ticket
    index read backwards), the id breaking ties."""
    return (
        Comment.objects.filter(ticket=ticket, is_internal=False)
        .order_by("-created", "-id")
        .values_list("id", flat=True)
        .first()
    )
