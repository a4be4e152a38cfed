"""The desk's built-in views of issue 17 (nixflow.admin.desk, sla.queues): each one's
tickets against the database across teams, agents, stages and comments, their counts
(capped) and their links on the ticket list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from nixflow.models import Role, Stage, Team, TeamMembership, Ticket, User
from nixflow.toolkit import queues
from tests.factories import CommentFactory, TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
M = timedelta(minutes=1)
DESK = "/admin/"


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def people(agent: User) -> dict[str, User]:
    return {
        "me": agent,
        "mate": UserFactory(username="mate", role=Role.AGENT),  # in my team
        "stranger": UserFactory(username="stranger", role=Role.AGENT),  # other team only
        "customer": UserFactory(username="customer", role=Role.REQUESTER),
    }


@pytest.fixture
def teams(people: dict[str, User]) -> dict[str, Team]:
    support = Team.objects.create(name="Support")
    billing = Team.objects.create(name="Billing")
    network = Team.objects.create(name="Network")
    TeamMembership.objects.create(team=support, user=people["me"])
    TeamMembership.objects.create(team=network, user=people["me"])
    TeamMembership.objects.create(team=support, user=people["mate"], is_lead=True)
    TeamMembership.objects.create(team=billing, user=people["stranger"])
    return {"support": support, "billing": billing, "network": network}


@pytest.fixture
def scene(
    people: dict[str, User], teams: dict[str, Team], stages: dict[str, Stage]
) -> dict[str, Ticket]:
    """One ticket per case, each in some views and not in others."""
    me, mate, customer = people["me"], people["mate"], people["customer"]

    def ticket(
        stage: str = "New",
        assignee: User | None = None,
        team: str | None = None,
        due_in: int | None = None,
    ) -> Ticket:
        return TicketFactory(
            requester=customer,
            stage=stages[stage],
            assignee=assignee,
            team=teams[team] if team else None,
            sla_due_at=None if due_in is None else NOW + due_in * M,
        )

    tickets = {
        "mine_new": ticket(assignee=me, team="support"),
        "mine_no_team": ticket(assignee=me, due_in=30),
        "mine_waiting": ticket("Waiting on requester", assignee=me, team="support"),
        "mine_resolved": ticket("Resolved", assignee=me, team="support"),
        "mine_replied": ticket("Open", assignee=me, team="support"),
        "mine_answered": ticket("Open", assignee=me, team="support"),
        "mine_noted": ticket("Open", assignee=me),
        "mine_replied_closed": ticket("Closed", assignee=me),
        "support_unassigned": ticket(team="support", due_in=59),
        "network_unassigned": ticket(team="network"),
        "support_mates": ticket("Open", assignee=mate, team="support", due_in=61),
        "support_closed": ticket("Closed", team="support"),
        "billing_unassigned": ticket(team="billing", due_in=10),
        "billing_theirs_waiting": ticket("Waiting on requester", assignee=people["stranger"]),
        "no_team_unassigned": ticket(),
        "mine_overdue": ticket(assignee=me, due_in=-5),
        "mates_due_soon_no_team": ticket(assignee=mate, due_in=20),
    }
    t = tickets

    def said(ticket: Ticket, author: User, minutes_ago: int, internal: bool = False) -> None:
        CommentFactory(
            ticket=ticket, author=author, is_internal=internal, created=NOW - minutes_ago * M
        )

    # The requester wrote after my reply.
    said(t["mine_replied"], me, 30)
    said(t["mine_replied"], customer, 10)
    # I answered after the requester.
    said(t["mine_answered"], customer, 30)
    said(t["mine_answered"], me, 10)
    # The requester wrote, then I left an internal note: still their turn to be answered.
    said(t["mine_noted"], customer, 30)
    said(t["mine_noted"], me, 10, internal=True)
    # The requester wrote on a ticket that is closed: not open work.
    said(t["mine_replied_closed"], customer, 5)
    # A colleague answered last on my ticket: answered.
    said(t["mine_waiting"], customer, 40)
    said(t["mine_waiting"], mate, 20)
    return tickets


EXPECTED: dict[str, set[str]] = {
    "mine": {
        "mine_new",
        "mine_no_team",
        "mine_waiting",
        "mine_replied",
        "mine_answered",
        "mine_noted",
        "mine_overdue",
    },
    "team-unassigned": {"support_unassigned", "network_unassigned"},
    "team-open": {
        "mine_new",
        "mine_waiting",
        "mine_replied",
        "mine_answered",
        "support_unassigned",
        "network_unassigned",
        "support_mates",
    },
    "waiting": {"mine_waiting"},
    "requester-replied": {"mine_replied", "mine_noted"},
    # Mine or my teams', due within the next hour and not yet passed.
    "breaching-soon": {"mine_no_team", "support_unassigned"},
}


def names(tickets: object, scene: dict[str, Ticket]) -> set[str]:
    by_pk = {ticket.pk: name for name, ticket in scene.items()}
    return {by_pk[ticket.pk] for ticket in tickets}  # type: ignore[attr-defined]


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_each_built_in_view_selects_exactly_its_tickets(
    agent: User, scene: dict[str, Ticket], slug: str
) -> None:
    queue = queues.get_queue(slug)
    assert queue is not None

    assert names(queue.queryset(agent), scene) == EXPECTED[slug]


def test_the_team_views_follow_the_agents_teams(
    people: dict[str, User], teams: dict[str, Team], scene: dict[str, Ticket]
) -> None:
    unassigned, team_open = queues.get_queue("team-unassigned"), queues.get_queue("team-open")
    assert unassigned is not None
    assert team_open is not None

    assert names(unassigned.queryset(people["stranger"]), scene) == {"billing_unassigned"}
    assert names(unassigned.queryset(people["mate"]), scene) == {"support_unassigned"}
    TeamMembership.objects.filter(user=people["me"], team=teams["network"]).delete()
    assert names(unassigned.queryset(people["me"]), scene) == {"support_unassigned"}
    agent_without_team = UserFactory(username="loner", role=Role.AGENT)
    assert list(team_open.queryset(agent_without_team)) == []


def test_breaching_soon_is_the_next_hour_only_and_moves_with_the_clock(
    agent: User, scene: dict[str, Ticket]
) -> None:
    queue = queues.get_queue("breaching-soon")
    assert queue is not None

    with time_machine.travel(NOW + 35 * M, tick=False):
        # mine_no_team (due at +30) has breached; support_mates (+61) is now within the
        # hour; support_unassigned (+59) still is.
        assert names(queue.queryset(agent), scene) == {"support_unassigned", "support_mates"}


def test_a_reply_by_the_requester_puts_my_ticket_back_in_the_view(
    agent: User, people: dict[str, User], scene: dict[str, Ticket]
) -> None:
    queue = queues.get_queue("requester-replied")
    assert queue is not None
    CommentFactory(ticket=scene["mine_answered"], author=people["customer"], created=NOW)

    assert "mine_answered" in names(queue.queryset(agent), scene)


def test_the_desk_shows_each_built_in_view_with_its_count(
    agent_client: Client, scene: dict[str, Ticket]
) -> None:
    response = agent_client.get(DESK)

    counts = {item.queue.slug: str(item.count) for item in response.context["desk_queues"]}
    assert {slug: counts[slug] for slug in EXPECTED} == {
        slug: str(len(expected)) for slug, expected in EXPECTED.items()
    }
    html = response.content.decode()
    assert 'data-testid="queue-requester-replied-count" data-count="2"' in html


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_a_built_in_views_link_lists_the_same_tickets_as_its_count(
    agent_client: Client, scene: dict[str, Ticket], slug: str
) -> None:
    desk = agent_client.get(DESK)
    (item,) = [item for item in desk.context["desk_queues"] if item.queue.slug == slug]

    listed = agent_client.get(item.url)

    assert listed.status_code == 200
    assert listed.context["cl"].result_count == item.count
    assert names(listed.context["cl"].result_list, scene) == EXPECTED[slug]


def test_the_counts_of_the_views_are_capped_like_the_lists(
    agent_client: Client, scene: dict[str, Ticket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queues, "COUNT_CAP", 3)
    monkeypatch.setattr(admin.site.get_model_admin(Ticket), "count_cap", 3)
    desk = agent_client.get(DESK)
    (item,) = [item for item in desk.context["desk_queues"] if item.queue.slug == "team-open"]

    listed = agent_client.get(item.url)

    assert str(item.count) == "3+"
    assert str(listed.context["cl"].result_count) == "3+"


def test_requester_replied_reads_one_latest_comment_per_ticket_through_its_index(
    agent: User, scene: dict[str, Ticket]
) -> None:
    queue = queues.get_queue("requester-replied")
    assert queue is not None
    with CaptureQueriesContext(connection) as queries:
        queues.capped_count(queue.queryset(agent))

    (sql,) = [q["sql"] for q in queries.captured_queries if "COUNT" in q["sql"]]
    # A correlated subquery, newest public comment first, one row: not a join of
    # every comment of the agent's tickets.
    assert 'ORDER BY U0."created" DESC' in sql
    assert "LIMIT 1" in sql
