"""Auto-assignment: a team's new tickets go to its members by round-robin or to the one
with the fewest open tickets, among active agents who are available, optionally capped
at ``max_open_per_agent`` open tickets each.

A ticket no member can take (all away, or all at the cap) waits unassigned in the team's
queue; ``drain`` gives waiting tickets out, oldest first, when capacity frees: a
member's ticket is resolved or closed, or given to someone else, a member comes back,
or the team's configuration changes (``nixflow.services.teams.on_ticket_event`` and
the team services call it).

Every assignment goes through ``ticket_assign`` with the system as the actor, so it has
its history row and its ``ticket.assigned`` event like an agent's.

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


@dataclass(frozen=True)
class _Candidate:
    membership_id: int
    user_id: int
    last_assigned_at: datetime | None
    open_tickets: int


# One query for the team's available members and their open tickets. The open count
# is bounded by LIMIT: with a cap only "fewer than the cap?" matters, so an agent with
# thousands of open tickets costs `cap` index entries, not thousands (LIMIT NULL: no
# limit, for least-open; LIMIT 0 skips the count for an uncapped round-robin).
_CANDIDATES_SQL = f"""
SELECT m.id, m.user_id, m.last_assigned_at,
       (SELECT count(*) FROM (
            SELECT 1 FROM {Ticket._meta.db_table} t
            JOIN {Stage._meta.db_table} s ON s.id = t.stage_id
            WHERE t.assignee_id = m.user_id AND NOT (s.category = ANY(%(done)s))
            LIMIT %(limit)s) AS o)
FROM {TeamMembership._meta.db_table} m
JOIN {User._meta.db_table} u ON u.id = m.user_id
WHERE m.team_id = %(team)s AND u.is_active AND u.role = ANY(%(roles)s)
  AND u.availability = %(available)s
"""  # noqa: S608 -- table names from the models, values as parameters


def _candidates(team: Team) -> list[_Candidate]:
    cap = team.max_open_per_agent
    if team.assignment_mode == AssignmentMode.LEAST_OPEN:
        limit: int | None = None
    else:
        limit = cap or 0
    params: dict[str, Any] = {
        "team": team.pk,
        "done": list(DONE_CATEGORIES),
        "limit": limit,
        "roles": [Role.AGENT, Role.ADMIN],
        "available": Availability.AVAILABLE,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CANDIDATES_SQL, params)
        rows = cursor.fetchall()
    return [_Candidate(*row) for row in rows]


def _pick(team: Team) -> _Candidate | None:
    """The member who gets the team's next ticket, None when nobody can take one."""
    if team.assignment_mode == AssignmentMode.OFF:
        return None
    cap = team.max_open_per_agent
    candidates = [c for c in _candidates(team) if cap is None or c.open_tickets < cap]

    # Never assigned first, then the one assigned longest ago; the membership id
    # breaks ties so that every process picks the same member from the same rows.
    def turn(c: _Candidate) -> tuple[bool, datetime | None, int]:
        return (c.last_assigned_at is not None, c.last_assigned_at, c.membership_id)

    if team.assignment_mode == AssignmentMode.LEAST_OPEN:
        return min(candidates, key=lambda c: (c.open_tickets, *turn(c)), default=None)
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


def _give(ticket: Ticket, team: Team, candidate: _Candidate) -> Ticket:
    with connection.cursor() as cursor:
        cursor.execute(
            _STAMP_SQL,
            {"now": timezone.now(), "team": team.pk, "membership": candidate.membership_id},
        )
    assignee = User.objects.get(pk=candidate.user_id)
    return ticket_services.ticket_assign(ticket=ticket, assignee=assignee, actor=None)


def _lock_team(team_id: int) -> Team:
    return Team.objects.select_for_update().get(pk=team_id)


def auto_assign(*, ticket: Ticket) -> Ticket:
    """Give an unassigned ticket of an auto-assigning team to the member whose turn it is
    (in the caller's transaction, with the ticket locked or new); the ticket as it is
    afterwards. Without an available member under the cap it stays unassigned."""
    team = ticket.team
    if team is None or ticket.assignee_id is not None:
        return ticket
    if team.assignment_mode == AssignmentMode.OFF:
        return ticket  # no lock for teams that assign by hand (most tickets of most desks)
    team = _lock_team(team.pk)  # serializes the team's picks; see the module docstring
    candidate = _pick(team)
    if candidate is None:
        return ticket
    return _give(ticket, team, candidate)


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
        team = _lock_team(team_id)
        if team.assignment_mode == AssignmentMode.OFF:
            continue
        for _ in range(limit):
            candidate = _pick(team)
            if candidate is None:
                break
            waiting = _next_waiting(team, keep)
            if waiting is None:
                break
            _give(waiting, team, candidate)
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
