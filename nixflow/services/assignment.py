"""Auto-assignment: a team's new tickets go to its members by round-robin or to the one
with the fewest open tickets, among active agents who are available, optionally capped
at ``max_open_per_agent`` open tickets each.

A ticket no member can take (all away, or all at the cap) waits unassigned in the team's
queue; ``drain`` gives waiting tickets out, oldest first, when capacity frees: a
member's ticket is resolved or closed, or given to someone else, a member comes back,
or the team's configuration changes (``nixflow.services.teams.on_ticket_event`` and
the team services call it).

Every assignment makes ``ticket_assign``'s change (``assign_locked``, on the row the
caller locked) with the system as the actor, so it has its history row and its
``ticket.assigned`` event like an agent's.

Concurrency. Tickets of one team are created in parallel (API requests, mail workers,
form submissions). Each pick locks the team's row (``SELECT ... FOR UPDATE``) and holds
it until the creating transaction commits, so the picks of one team run one at a time
and each sees the previous one's ``last_assigned_at`` and open tickets: no member is
skipped or chosen twice for one turn. The team row, rather than the memberships, is
the lock because it is one row in a known place (no ordering of several locks to get
right) and because ``team_update`` locks it too, so a pick never runs against a
membership list that is half-changed. Picks of different teams do not wait for each
other.

Lock order, to stay free of deadlocks: a ticket's row first, then team rows (several in
ascending id), and after a team lock only ``SKIP LOCKED`` on other tickets. Every
ticket service locks its ticket before anything reaches here (``ticket_create``'s new
row is invisible to others until commit), so a transaction waiting for a team never
holds a team another waits for while wanting its ticket; ``drain`` skips waiting tickets
someone else has locked (that transaction is changing them and, if it leaves one
unassigned, will find it under the team lock itself) instead of waiting for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from nixflow import events
from nixflow.models import (
    DONE_CATEGORIES,
    AssignmentMode,
    Availability,
    Role,
    Stage,
    Team,
    TeamMembership,
    Ticket,
    User,
)
from nixflow.services import tickets as ticket_services

# How many waiting tickets one drain gives out at most: a team switched to
# auto-assignment with a long unassigned backlog gets it over the next events, not in
# one long transaction.
DRAIN_LIMIT = 100


# The picks run once per new ticket of an auto-assigning team, under its lock, so their
# two reads are written as SQL once (the ORM would compile each query again for every
# ticket: most of a pick's cost at hundreds of tickets a second; bench/assignment.py).
_MEMBERSHIP, _USER = TeamMembership._meta.db_table, User._meta.db_table
_USER_FIELDS = list(User._meta.concrete_fields)
_USER_COLUMNS = ", ".join(f"u.{f.column}" for f in _USER_FIELDS)

# A member's open tickets (assigned to them, not in a done stage), counted up to a limit:
# with a cap only "fewer than the cap?" matters, so an agent with thousands of open
# tickets costs ``cap`` entries of nf_ticket_assignee_created, not thousands (NULL: no
# limit, for least-open); 0 without a cap in round-robin (nothing needs it).
_OPEN_TICKETS_SQL = f"""CASE WHEN %(count)s THEN (SELECT count(*) FROM (
    SELECT 1 FROM {Ticket._meta.db_table} t
    JOIN {Stage._meta.db_table} s ON s.id = t.stage_id
    WHERE t.assignee_id = m.user_id AND NOT (s.category = ANY(%(done)s))
    LIMIT %(limit)s) AS o) ELSE 0 END"""  # noqa: S608 -- table names from the models

_CANDIDATES_SQL = f"""
SELECT m.id, m.last_assigned_at, {_OPEN_TICKETS_SQL}, {_USER_COLUMNS}
FROM {_MEMBERSHIP} m JOIN {_USER} u ON u.id = m.user_id
WHERE m.team_id = %(team)s AND u.is_active AND u.role = ANY(%(roles)s)
  AND u.availability = %(available)s
"""  # noqa: S608 -- table and column names from the models, values as parameters


@dataclass(frozen=True)
class Candidate:
    """A member who can take a ticket now: their membership's id and turn, their open
    tickets (see _OPEN_TICKETS_SQL) and the user."""

    membership_id: int
    last_assigned_at: datetime | None
    open_tickets: int
    user: User


def _candidates(team: Team) -> list[Candidate]:
    """The team's members who can take a ticket now (active agents, available), each
    with their open tickets when the mode or a cap needs them, in one query."""
    cap = team.max_open_per_agent
    least_open = team.assignment_mode == AssignmentMode.LEAST_OPEN
    params: dict[str, Any] = {
        "count": least_open or cap is not None,
        "done": [str(category) for category in DONE_CATEGORIES],
        "limit": None if least_open else cap,
        "team": team.pk,
        "roles": [str(Role.AGENT), str(Role.ADMIN)],
        "available": str(Availability.AVAILABLE),
    }
    with connection.cursor() as cursor:
        cursor.execute(_CANDIDATES_SQL, params)
        rows = cursor.fetchall()
    names = [f.attname for f in _USER_FIELDS]
    return [
        Candidate(pk, last, open_tickets, User.from_db(connection.alias, names, user))
        for pk, last, open_tickets, *user in rows
    ]


def _pick(team: Team) -> Candidate | None:
    """The member who gets the team's next ticket, None when nobody can take one."""
    if team.assignment_mode == AssignmentMode.OFF:
        return None
    cap = team.max_open_per_agent
    candidates = [m for m in _candidates(team) if cap is None or m.open_tickets < cap]

    # Never assigned first, then the one assigned longest ago; the membership id
    # breaks ties so that every process picks the same member from the same rows.
    def turn(m: Candidate) -> tuple[bool, datetime | None, int]:
        return (m.last_assigned_at is not None, m.last_assigned_at, m.membership_id)

    if team.assignment_mode == AssignmentMode.LEAST_OPEN:
        return min(candidates, key=lambda m: (m.open_tickets, *turn(m)), default=None)
    return min(candidates, key=turn, default=None)


# The round-robin's memory moves forward even if clocks do not agree: the new stamp is
# after every stamp of the team, so that a process whose clock lags (another server)
# cannot put the member it just chose back at the front of the rotation.
_STAMP_SQL = f"""
UPDATE {TeamMembership._meta.db_table}
SET last_assigned_at = GREATEST(
    %(now)s,
    (SELECT max(last_assigned_at) FROM {TeamMembership._meta.db_table}
     WHERE team_id = %(team)s) + interval '1 microsecond')
WHERE id = %(membership)s
"""  # noqa: S608 -- table names from the models


def _stamp(team: Team, member: Candidate) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _STAMP_SQL,
            {"now": timezone.now(), "team": team.pk, "membership": member.membership_id},
        )


def _give(ticket: Ticket, team: Team, member: Candidate) -> Ticket:
    """Assign the (locked) ticket to ``member``: the change ``ticket_assign`` makes, by
    the system, without locking and loading the row once more."""
    _stamp(team, member)
    return ticket_services.assign_locked(ticket=ticket, assignee=member.user, actor=None)


_TEAM_FIELDS = list(Team._meta.concrete_fields)
_LOCK_TEAM_SQL = f"""
SELECT {", ".join(f.column for f in _TEAM_FIELDS)} FROM {Team._meta.db_table}
WHERE id = %(team)s AND assignment_mode <> %(off)s FOR UPDATE
"""  # noqa: S608 -- table and column names from the model, values as parameters


def _lock_auto_team(team_id: int) -> Team | None:
    """The team's row, read and locked for this transaction in one statement, when it
    assigns automatically; None when it assigns by hand (and then it is not locked:
    nothing here would serialise on it)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_TEAM_SQL, {"team": team_id, "off": str(AssignmentMode.OFF)})
        row = cursor.fetchone()
    names = [f.attname for f in _TEAM_FIELDS]
    return None if row is None else Team.from_db(connection.alias, names, row)


def pick_for_new_ticket(*, ticket: Ticket) -> User | None:
    """The agent a ticket being created goes to (``ticket_create`` calls this before it
    inserts the row, so that the row is written once, assignee included), None when its
    team assigns by hand or nobody can take it now (it then waits in the queue).

    The team's row stays locked until the creating transaction commits (see the module
    docstring); the ticket row does not exist yet, so no lock is held before this one.
    """
    team = ticket.team
    if team is None or team.assignment_mode == AssignmentMode.OFF:
        return None  # no lock for teams that assign by hand
    team = _lock_auto_team(team.pk)
    member = _pick(team) if team is not None else None
    if team is None or member is None:
        return None
    _stamp(team, member)
    return member.user


def record_auto_assignment(*, ticket: Ticket, assignee: User) -> None:
    """The history row and ``ticket.assigned`` event of a new ticket's auto-assignment,
    as ``ticket_assign`` writes them, by the system."""
    ticket_services._commit_change(
        ticket=ticket,
        actor=None,
        event_type=events.TICKET_ASSIGNED,
        changes={"assignee": (None, assignee)},
        at=ticket.created,
        payload={"assignee_id": assignee.pk, "previous_assignee_id": None},
    )


def auto_assign(*, ticket: Ticket) -> Ticket:
    """Give an unassigned open ticket of an auto-assigning team (moved there, or routed
    after its creation) to the member whose turn it is, as ``ticket_assign`` would; the
    caller has locked the ticket. Without an available member under the cap it stays
    unassigned."""
    if ticket.team_id is None or ticket.assignee_id is not None:
        return ticket
    team = _lock_auto_team(ticket.team_id)
    if team is None:
        return ticket
    member = _pick(team)
    if member is None:
        return ticket
    return _give(ticket, team, member)


def _next_waiting(team: Team, keep: int | None) -> Ticket | None:
    # SKIP LOCKED: a waiting ticket another transaction has locked is being changed
    # there; waiting for it while holding the team lock could deadlock with it.
    waiting = (
        Ticket.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(team=team, assignee__isnull=True)
        .exclude(stage__category__in=DONE_CATEGORIES)
        .order_by("created", "id")
    )
    if keep is not None:
        waiting = waiting.exclude(pk=keep)
    return waiting.first()


def drain(*, team_ids: Iterable[int], limit: int = DRAIN_LIMIT, keep: int | None = None) -> int:
    """Give the waiting tickets of these teams to members who can take them, oldest
    first, up to ``limit`` per team; how many were given. ``keep``: a ticket left
    waiting (one an agent just put back in the queue, which would otherwise go straight
    back to them). Teams are locked in ascending id order, so that two drains of
    overlapping teams never wait for each other in a circle."""
    given = 0
    for team_id in sorted(set(team_ids)):
        team = _lock_auto_team(team_id)
        if team is None:
            continue
        for _ in range(limit):
            member = _pick(team)
            if member is None:
                break
            waiting = _next_waiting(team, keep)
            if waiting is None:
                break
            _give(waiting, team, member)
            given += 1
    return given


def auto_assigning_teams(*, user_id: int, capped_only: bool = False) -> list[int]:
    """The ids of the teams ``user_id`` is a member of that assign automatically."""
    teams = Team.objects.filter(memberships__user_id=user_id).exclude(
        assignment_mode=AssignmentMode.OFF
    )
    if capped_only:
        teams = teams.filter(max_open_per_agent__isnull=False)
    return list(teams.values_list("pk", flat=True))


def capacity_freed(*, user_id: int, keep: int | None = None) -> int:
    """An agent has one open ticket less: their capped teams' waiting tickets may go out
    (to them or another member; the mode decides), except ``keep``. Uncapped teams have
    nobody at a cap, so a ticket waits there only while nobody is available."""
    return drain(team_ids=auto_assigning_teams(user_id=user_id, capped_only=True), keep=keep)
