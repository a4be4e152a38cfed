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
from datetime import datetime

from django.db import connection
from django.db.models import IntegerField, Value
from django.db.models.expressions import RawSQL
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


_OPEN_TICKETS_SQL = f"""(SELECT count(*) FROM (
    SELECT 1 FROM {Ticket._meta.db_table} t
    JOIN {Stage._meta.db_table} s ON s.id = t.stage_id
    WHERE t.assignee_id = {TeamMembership._meta.db_table}.user_id
      AND NOT (s.category = ANY(%s))
    LIMIT %s) AS o)"""  # noqa: S608 -- table names from the models, values as parameters


def _open_tickets(limit: int | None) -> RawSQL:
    """A member's open tickets (assigned to them, not in a done stage), counted up to
    ``limit``: with a cap only "fewer than the cap?" matters, so an agent with thousands
    of open tickets costs ``cap`` entries of nf_ticket_assignee_created, not thousands
    (None: no limit, for least-open)."""
    return RawSQL(  # noqa: S611 -- the constant above, values as parameters
        _OPEN_TICKETS_SQL, (list(DONE_CATEGORIES), limit), output_field=IntegerField()
    )


def _candidates(team: Team) -> list[TeamMembership]:
    """The team's members who can take a ticket now (active agents, available), each
    with ``open_tickets`` (0 when neither the mode nor a cap needs it), in one query."""
    cap = team.max_open_per_agent
    if team.assignment_mode == AssignmentMode.LEAST_OPEN:
        open_tickets: RawSQL | Value = _open_tickets(None)
    elif cap is not None:
        open_tickets = _open_tickets(cap)
    else:
        open_tickets = Value(0, output_field=IntegerField())
    return list(
        TeamMembership.objects.filter(
            team=team,
            user__is_active=True,
            user__role__in=[Role.AGENT, Role.ADMIN],
            user__availability=Availability.AVAILABLE,
        )
        .select_related("user")
        .annotate(open_tickets=open_tickets)
    )


def _pick(team: Team) -> TeamMembership | None:
    """The member who gets the team's next ticket, None when nobody can take one."""
    if team.assignment_mode == AssignmentMode.OFF:
        return None
    cap = team.max_open_per_agent
    candidates = [
        m
        for m in _candidates(team)
        if cap is None or m.open_tickets < cap  # type: ignore[attr-defined]
    ]

    # Never assigned first, then the one assigned longest ago; the membership id
    # breaks ties so that every process picks the same member from the same rows.
    def turn(m: TeamMembership) -> tuple[bool, datetime | None, int]:
        return (m.last_assigned_at is not None, m.last_assigned_at, m.pk)

    if team.assignment_mode == AssignmentMode.LEAST_OPEN:
        return min(
            candidates,
            key=lambda m: (m.open_tickets, *turn(m)),  # type: ignore[attr-defined]
            default=None,
        )
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


def _stamp(team: Team, member: TeamMembership) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _STAMP_SQL, {"now": timezone.now(), "team": team.pk, "membership": member.pk}
        )


def _give(ticket: Ticket, team: Team, member: TeamMembership) -> Ticket:
    _stamp(team, member)
    return ticket_services.ticket_assign(ticket=ticket, assignee=member.user, actor=None)


def _lock_team(team_id: int) -> Team:
    return Team.objects.select_for_update().get(pk=team_id)


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
    team = _lock_team(team.pk)
    member = _pick(team)
    if member is None:
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
    after its creation) to the member whose turn it is, through ``ticket_assign``; the
    caller has locked the ticket. Without an available member under the cap it stays
    unassigned."""
    if ticket.team_id is None or ticket.assignee_id is not None:
        return ticket
    # Read and locked in one query, and only when it assigns automatically (a team
    # that assigns by hand is not locked: nothing here would serialise on it).
    team = (
        Team.objects.select_for_update()
        .exclude(assignment_mode=AssignmentMode.OFF)
        .filter(pk=ticket.team_id)
        .first()
    )
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
        team = _lock_team(team_id)
        if team.assignment_mode == AssignmentMode.OFF:
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
