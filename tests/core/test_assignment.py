"""Auto-assignment per team: round-robin, fewest open tickets, away agents, caps with
tickets waiting until capacity frees, reassignment when an agent goes away, and two
processes creating tickets at once for one team."""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from eventlog.models import EventLog
from nixflow import events, services
from nixflow.models import (
    AssignmentMode,
    Availability,
    HistoryLog,
    Stage,
    Team,
    Ticket,
    User,
)
from tests.factories import AgentFactory, RequesterFactory, TeamFactory, TeamMembershipFactory
from tests.helpers import new_ticket
from tests.support.processes import REPO, database_url


def _team(mode: str, agents: int = 3, **fields: object) -> tuple[Team, list[User]]:
    members = [AgentFactory(username=f"member{n}") for n in range(agents)]
    team = TeamFactory(
        name="Support", is_default=True, assignment_mode=mode, members=members, **fields
    )
    return team, members


def _assignees(tickets: list[Ticket]) -> list[str | None]:
    return [t.assignee.username if t.assignee else None for t in tickets]


@pytest.mark.django_db
def test_a_team_that_assigns_by_hand_leaves_new_tickets_unassigned(requester: User) -> None:
    _team(AssignmentMode.OFF)
    assert new_ticket(requester).assignee is None


@pytest.mark.django_db
def test_round_robin_gives_tickets_to_each_member_in_turn(requester: User) -> None:
    _team(AssignmentMode.ROUND_ROBIN)
    tickets = [new_ticket(requester) for _ in range(6)]
    assert _assignees(tickets) == ["member0", "member1", "member2"] * 2


@pytest.mark.django_db
def test_round_robin_skips_away_inactive_and_non_agent_members(requester: User) -> None:
    team, members = _team(AssignmentMode.ROUND_ROBIN)
    User.objects.filter(pk=members[1].pk).update(availability=Availability.AWAY)
    User.objects.filter(pk=members[2].pk).update(is_active=False)
    demoted = AgentFactory(username="member3")
    TeamMembershipFactory(team=team, user=demoted)
    User.objects.filter(pk=demoted.pk).update(role="requester")
    assert _assignees([new_ticket(requester) for _ in range(2)]) == ["member0", "member0"]


@pytest.mark.django_db
def test_an_explicit_assignee_is_kept_and_does_not_move_the_rotation(requester: User) -> None:
    _, members = _team(AssignmentMode.ROUND_ROBIN)
    given = services.ticket_create(
        requester=requester, title="Mine", assignee=members[2], actor=members[2]
    )
    assert given.assignee == members[2]
    assert _assignees([new_ticket(requester)]) == ["member0"]


@pytest.mark.django_db
def test_least_open_gives_the_ticket_to_the_member_with_fewest_open_tickets(
    requester: User, stages: dict[str, Stage]
) -> None:
    team, members = _team(AssignmentMode.OFF)
    for member, count in zip(members, (2, 0, 1), strict=True):
        for _ in range(count):
            services.ticket_create(requester=requester, title="Old", assignee=member, actor=member)
    # A resolved ticket is not open: it does not count.
    done = services.ticket_create(
        requester=requester, title="Done", assignee=members[1], actor=None
    )
    Ticket.objects.filter(pk=done.pk).update(stage=stages["Resolved"])
    Team.objects.filter(pk=team.pk).update(assignment_mode=AssignmentMode.LEAST_OPEN)
    # Open: member0 2, member1 0, member2 1. Ties go to the member assigned longest ago
    # (never first), then to the older membership.
    assert _assignees([new_ticket(requester) for _ in range(4)]) == [
        "member1",
        "member2",
        "member1",
        "member0",
    ]


@pytest.mark.django_db
def test_a_ticket_waits_unassigned_when_every_member_is_at_the_cap(requester: User) -> None:
    _team(AssignmentMode.ROUND_ROBIN, agents=2, max_open_per_agent=1)
    first, second, third = (new_ticket(requester) for _ in range(3))
    assert _assignees([first, second, third]) == ["member0", "member1", None]


@pytest.mark.django_db
def test_a_waiting_ticket_is_assigned_when_a_member_resolves_one(
    requester: User, stages: dict[str, Stage]
) -> None:
    _, members = _team(AssignmentMode.ROUND_ROBIN, agents=2, max_open_per_agent=1)
    first, _, waiting, later = (new_ticket(requester) for _ in range(4))
    services.ticket_transition(ticket=first, to_stage=stages["Open"], actor=members[0])
    services.ticket_transition(ticket=first, to_stage=stages["Resolved"], actor=members[0])
    waiting.refresh_from_db()
    later.refresh_from_db()
    assert waiting.assignee == members[0]  # the oldest waiting ticket first
    assert later.assignee is None
    row = HistoryLog.objects.get(ticket=waiting, field="assignee")
    assert (row.actor, row.old_value, row.new_value) == (None, "", "member0")


@pytest.mark.django_db
def test_a_waiting_ticket_is_assigned_when_a_member_hands_one_over(requester: User) -> None:
    _, members = _team(AssignmentMode.ROUND_ROBIN, agents=2, max_open_per_agent=1)
    first, _, waiting = (new_ticket(requester) for _ in range(3))
    services.ticket_assign(ticket=first, assignee=None, actor=members[0])
    waiting.refresh_from_db()
    assert waiting.assignee is not None
    first.refresh_from_db()
    # first was unassigned too: it is now the oldest waiting ticket, but nobody is free.
    assert first.assignee is None


@pytest.mark.django_db
def test_a_waiting_ticket_is_assigned_when_a_member_comes_back(requester: User) -> None:
    team, members = _team(AssignmentMode.ROUND_ROBIN, agents=1)
    services.user_set_availability(
        user=members[0], availability=Availability.AWAY, actor=members[0]
    )
    waiting = new_ticket(requester)
    assert waiting.assignee is None
    assert waiting.team == team
    services.user_set_availability(
        user=members[0], availability=Availability.AVAILABLE, actor=members[0]
    )
    waiting.refresh_from_db()
    assert waiting.assignee == members[0]


@pytest.mark.django_db
def test_raising_the_cap_gives_out_waiting_tickets(requester: User, admin_user: User) -> None:
    team, _ = _team(AssignmentMode.ROUND_ROBIN, agents=1, max_open_per_agent=1)
    tickets = [new_ticket(requester) for _ in range(3)]
    services.team_update(team=team, actor=admin_user, data={"max_open_per_agent": 2})
    for ticket in tickets:
        ticket.refresh_from_db()
    assert _assignees(tickets) == ["member0", "member0", None]


@pytest.mark.django_db
def test_going_away_returns_open_tickets_to_a_team_that_reassigns(
    requester: User, stages: dict[str, Stage]
) -> None:
    _, members = _team(AssignmentMode.ROUND_ROBIN, agents=2, reassign_when_away=True)
    tickets = [new_ticket(requester) for _ in range(4)]  # member0, member1, member0, member1
    services.ticket_transition(ticket=tickets[0], to_stage=stages["Open"], actor=members[0])
    services.ticket_transition(ticket=tickets[0], to_stage=stages["Resolved"], actor=members[0])
    services.user_set_availability(
        user=members[0], availability=Availability.AWAY, actor=members[0]
    )
    for ticket in tickets:
        ticket.refresh_from_db()
    # The open one went to the other member; the resolved one stays with member0.
    assert _assignees(tickets) == ["member0", "member1", "member1", "member1"]
    event = EventLog.objects.get(type=events.USER_AVAILABILITY_CHANGED)
    assert event.payload == {"availability": "away", "previous": "available", "returned_tickets": 1}
    assert list(
        HistoryLog.objects.filter(ticket=tickets[2], field="assignee")
        .order_by("id")
        .values_list("old_value", "new_value")
    ) == [("", "member0"), ("member0", ""), ("", "member1")]


@pytest.mark.django_db
def test_going_away_keeps_tickets_of_teams_that_do_not_reassign(requester: User) -> None:
    _, members = _team(AssignmentMode.ROUND_ROBIN, agents=2)
    ticket = new_ticket(requester)
    services.user_set_availability(
        user=members[0], availability=Availability.AWAY, actor=members[0]
    )
    ticket.refresh_from_db()
    assert ticket.assignee == members[0]


@pytest.mark.django_db
def test_going_away_in_a_team_that_assigns_by_hand_leaves_tickets_in_its_queue(
    requester: User,
) -> None:
    _, members = _team(AssignmentMode.OFF, agents=2, reassign_when_away=True)
    ticket = services.ticket_create(
        requester=requester, title="Mine", assignee=members[0], actor=members[0]
    )
    services.user_set_availability(user=members[0], availability=Availability.AWAY, actor=None)
    ticket.refresh_from_db()
    assert ticket.assignee is None


@pytest.mark.django_db
def test_an_auto_assignment_is_a_ticket_assigned_event_by_the_system(requester: User) -> None:
    _, members = _team(AssignmentMode.ROUND_ROBIN)
    ticket = new_ticket(requester)
    event = EventLog.objects.get(type=events.TICKET_ASSIGNED, ticket_key=ticket.key)
    assert event.actor_id is None
    assert event.payload["assignee_id"] == members[0].pk
    assert event.payload["previous_assignee_id"] is None


@pytest.mark.django_db
def test_auto_assignment_costs_a_bounded_number_of_queries(
    requester: User, django_assert_max_num_queries: object
) -> None:
    _team(AssignmentMode.ROUND_ROBIN, agents=5, max_open_per_agent=50)
    new_ticket(requester)  # warm the default workflow and caches
    with django_assert_max_num_queries(30):  # type: ignore[operator]
        new_ticket(requester)


# --- Two processes at once --------------------------------------------------------------
TICKETS_PER_PROCESS = 500
AGENTS = 5


@pytest.mark.django_db(transaction=True)
def test_two_processes_creating_1000_tickets_at_once_share_them_200_each(
    tmp_path: Path,
) -> None:
    """Separate processes (as mail workers and API servers are) create tickets for one
    round-robin team at the same time: every ticket is assigned exactly once and each
    of the five agents gets a fifth of them, give or take one."""
    members = [AgentFactory(username=f"rr{n}") for n in range(AGENTS)]
    TeamFactory(
        name="Parallel", is_default=True, assignment_mode=AssignmentMode.ROUND_ROBIN,
        members=members,
    )  # fmt: skip
    requester = RequesterFactory()
    go = tmp_path / "go"
    env = {
        "DATABASE_URL": database_url(connection.settings_dict["NAME"]),
        "DJANGO_SETTINGS_MODULE": "nixflow.settings",
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "NIXFLOW_VAR_DIR": str(tmp_path),
    }
    cmd = [
        sys.executable, "-m", "tests.support.create_tickets",
        str(requester.pk), str(TICKETS_PER_PROCESS), str(go),
    ]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    go.touch()
    deadline = time.monotonic() + 600
    for proc in procs:
        proc.wait(timeout=max(1, deadline - time.monotonic()))
        assert proc.returncode == 0

    tickets = Ticket.objects.filter(title__startswith="Parallel ")
    assert tickets.count() == 2 * TICKETS_PER_PROCESS
    assert not tickets.filter(assignee__isnull=True).exists()
    per_agent = collections.Counter(tickets.values_list("assignee__username", flat=True))
    share = 2 * TICKETS_PER_PROCESS // AGENTS
    assert set(per_agent) == {m.username for m in members}
    assert all(share - 1 <= n <= share + 1 for n in per_agent.values()), per_agent
    # Each ticket was assigned once: one history row and one event each.
    rows = HistoryLog.objects.filter(ticket__in=tickets, field="assignee")
    assert rows.count() == 2 * TICKETS_PER_PROCESS
    assigned = EventLog.objects.filter(type=events.TICKET_ASSIGNED)
    assert assigned.count() == 2 * TICKETS_PER_PROCESS
    assert assigned.values("ticket_key").distinct().count() == 2 * TICKETS_PER_PROCESS
