"""The admin's home page is the desk: NixFlow's branding, the signed-in agent's queues
with capped counts, each linking to the ticket list filtered to exactly its tickets
(nixflow.toolkit.queues, nixflow.admin_site, nixflow.admin.desk)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib import admin
from django.db import connection
from django.db.models import QuerySet
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nixflow import services
from nixflow.models import Priority, Role, Stage, Ticket, User
from nixflow.toolkit import queues
from sla import services as sla_services
from tests.factories import UserFactory
from tests.sla.factories import SLAPolicyFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)  # a Wednesday afternoon
M = timedelta(minutes=1)
DESK = "/admin/"
CHANGELIST = "/admin/nixflow/ticket/"


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    """The queues compare clocks with now: the same now for the scene and the pages."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def colleague(db: None) -> User:
    return UserFactory(username="colleague", role=Role.AGENT)


@pytest.fixture
def scene(
    agent: User, colleague: User, requester: User, stages: dict[str, Stage]
) -> dict[str, Ticket]:
    """Tickets in every queue and outside them, under a 24x7 policy (NORMAL: first
    response 60 min, warning at 75 %), opened through the services so clocks run."""
    SLAPolicyFactory(name="Standard", targets={Priority.NORMAL: (60, 30, 480)})

    def opened(minutes_ago: int, assignee: User | None = None) -> Ticket:
        with time_machine.travel(NOW - minutes_ago * M, tick=False):
            return services.ticket_create(
                requester=requester, title="VPN down", actor=agent, assignee=assignee
            )

    tickets = {
        "mine_new": opened(5, assignee=agent),
        "mine_open": opened(10, assignee=agent),
        "mine_resolved": opened(20, assignee=agent),
        "theirs": opened(10, assignee=colleague),
        "unassigned": opened(10),
        "unassigned_closed": opened(30),
        "at_risk": opened(50),  # 10 min left of 60, warned at 45
        "breached": opened(120),  # first response due an hour ago
    }
    services.ticket_transition(ticket=tickets["mine_open"], to_stage=stages["Open"], actor=agent)
    for name, stage in (("mine_resolved", "Resolved"), ("unassigned_closed", "Closed")):
        services.ticket_transition(ticket=tickets[name], to_stage=stages[stage], actor=agent)
    sla_services.sla_scan(now=NOW)
    return tickets


# In the desk's order. No teams here (tests/core/test_views.py has them): the team
# queues are empty, and "breaching within the hour" is the agent's own.
EXPECTED: dict[str, set[str]] = {
    "mine": {"mine_new", "mine_open"},
    "team-unassigned": set(),
    "team-open": set(),
    "waiting": set(),
    "requester-replied": set(),
    "unassigned": {"unassigned", "at_risk", "breached"},
    "at-risk": {"at_risk"},
    "breaching-soon": {"mine_new", "mine_open"},  # first responses due in 55 and 50 min
    "breached": {"breached"},
}


def keys(tickets: QuerySet[Ticket] | list[Ticket], scene: dict[str, Ticket]) -> set[str]:
    names = {ticket.pk: name for name, ticket in scene.items()}
    return {names[ticket.pk] for ticket in tickets}


# --- the registry ------------------------------------------------------------------------
def test_the_core_and_the_sla_app_register_the_queues_in_order(agent: User) -> None:
    assert [q.slug for q in queues.queues_for(agent)] == list(EXPECTED)
    assert [q.title for q in queues.queues_for(agent)] == [
        "My open tickets",
        "Unassigned in my teams",
        "My teams' open tickets",
        "Waiting on customer",
        "Updated by the requester",
        "Unassigned",
        "At risk",
        "Breaching within the hour",
        "Breached",
    ]


def test_each_queue_selects_exactly_its_tickets(agent: User, scene: dict[str, Ticket]) -> None:
    for slug, expected in EXPECTED.items():
        queue = queues.get_queue(slug)
        assert queue is not None
        assert (slug, keys(queue.queryset(agent), scene)) == (slug, expected)


def test_my_open_tickets_are_the_signed_in_agents(
    colleague: User, scene: dict[str, Ticket]
) -> None:
    queue = queues.get_queue("mine")
    assert queue is not None
    assert keys(queue.queryset(colleague), scene) == {"theirs"}


def test_an_app_adds_a_queue_and_hides_it_from_whom_it_chooses(
    agent: User, admin_user: User, scene: dict[str, Ticket]
) -> None:
    queues.register_queue(
        slug="urgent-new",
        title="Urgent and new",
        tickets=lambda tickets, user: tickets.filter(priority=Priority.URGENT),
        order=15,
        visible=lambda user: user.role == Role.ADMIN,
    )
    try:
        assert [q.slug for q in queues.queues_for(admin_user)][:3] == [
            "mine",
            "team-unassigned",
            "team-open",
        ]
        assert "urgent-new" in [q.slug for q in queues.queues_for(admin_user)]
        assert "urgent-new" not in [q.slug for q in queues.queues_for(agent)]
        # Registering again under the same slug replaces the queue.
        queues.register_queue(slug="urgent-new", title="Urgent", tickets=lambda t, u: t)
        assert [q.title for q in queues.queues_for(agent) if q.slug == "urgent-new"] == ["Urgent"]
    finally:
        queues.unregister_queue("urgent-new")
    assert queues.get_queue("urgent-new") is None


def test_a_queue_link_is_the_ticket_list_with_its_queue_parameter() -> None:
    queue = queues.get_queue("at-risk")
    assert queue is not None
    assert queue.url() == f"{CHANGELIST}?queue=at-risk"


# --- capped counts -----------------------------------------------------------------------
def test_a_count_is_exact_up_to_the_cap_and_then_says_more(
    agent: User, scene: dict[str, Ticket]
) -> None:
    tickets = Ticket.objects.all()  # 8
    exact = queues.capped_count(tickets, cap=8)
    assert (exact, exact.is_exact, str(exact)) == (8, True, "8")
    over = queues.capped_count(tickets, cap=5)
    assert (over, over.is_exact, str(over)) == (5, False, "5+")


def test_a_count_reads_at_most_one_row_past_the_cap(agent: User, scene: dict[str, Ticket]) -> None:
    with CaptureQueriesContext(connection) as queries:
        queues.capped_count(Ticket.objects.all(), cap=10_000)
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert "LIMIT 10001" in sql
    assert sql.startswith("SELECT COUNT(*)")


# --- the page ----------------------------------------------------------------------------
def counts_on(response: object) -> dict[str, str]:
    return {item.queue.slug: str(item.count) for item in response.context["desk_queues"]}


def test_the_desk_shows_each_queue_with_its_count_and_link(
    agent_client: Client, scene: dict[str, Ticket]
) -> None:
    response = agent_client.get(DESK)

    assert response.status_code == 200
    assert counts_on(response) == {slug: str(len(names)) for slug, names in EXPECTED.items()}
    html = response.content.decode()
    for slug, names in EXPECTED.items():
        assert f'data-testid="queue-{slug}-count" data-count="{len(names)}"' in html
        assert f'href="{CHANGELIST}?queue={slug}' in html
    assert 'data-testid="sla-dashboard-link"' in html
    assert f'href="{reverse("sla_dashboard")}"' in html


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_a_queue_link_lists_the_same_tickets_as_its_count(
    agent_client: Client, agent: User, scene: dict[str, Ticket], slug: str
) -> None:
    desk = agent_client.get(DESK)
    (item,) = [item for item in desk.context["desk_queues"] if item.queue.slug == slug]

    listed = agent_client.get(item.url)

    assert listed.status_code == 200
    changelist = listed.context["cl"]
    assert changelist.result_count == item.count
    assert keys(list(changelist.result_list), scene) == EXPECTED[slug]


def test_a_capped_count_reads_the_same_on_the_desk_and_in_the_list(
    agent_client: Client, scene: dict[str, Ticket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queues, "COUNT_CAP", 2)
    monkeypatch.setattr(admin.site.get_model_admin(Ticket), "count_cap", 2)
    desk = agent_client.get(DESK)
    (item,) = [item for item in desk.context["desk_queues"] if item.queue.slug == "unassigned"]

    listed = agent_client.get(item.url)

    assert str(item.count) == "2+"
    assert 'data-testid="queue-unassigned-count" data-count="2" data-capped="true">2+<' in (
        desk.content.decode()
    )
    assert str(listed.context["cl"].result_count) == "2+"


def test_an_unknown_queue_lists_no_tickets_rather_than_all(
    agent_client: Client, scene: dict[str, Ticket]
) -> None:
    listed = agent_client.get(f"{CHANGELIST}?queue=gone")

    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == []


def test_the_desk_reads_a_fixed_number_of_queries_whatever_the_tickets(
    agent_client: Client, agent: User, scene: dict[str, Ticket], requester: User
) -> None:
    agent_client.get(DESK)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as before:
        agent_client.get(DESK)
    for _ in range(5):
        services.ticket_create(requester=requester, title="More", actor=agent, assignee=agent)
    with CaptureQueriesContext(connection) as after:
        response = agent_client.get(DESK)

    assert counts_on(response)["mine"] == "7"
    assert len(after.captured_queries) == len(before.captured_queries)
    counts = [
        q["sql"]
        for q in after.captured_queries
        if q["sql"].startswith("SELECT COUNT(*)") and '"nixflow_ticket"' in q["sql"]
    ]
    assert len(counts) == len(EXPECTED)  # one per queue, however many tickets
    assert all("LIMIT 10001" in sql for sql in counts)


def test_a_queue_that_fails_leaves_the_desk_up_without_its_count(
    agent_client: Client, scene: dict[str, Ticket]
) -> None:
    def broken(tickets: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
        return tickets.extra(where=["no_such_column = 1"])

    queues.register_queue(slug="broken", title="Broken", tickets=broken, order=99)
    try:
        response = agent_client.get(DESK)
    finally:
        queues.unregister_queue("broken")

    assert response.status_code == 200
    counts = counts_on(response)
    assert counts["broken"] == "None"
    assert counts["mine"] == "2"  # the queries after the failure still ran


@pytest.mark.parametrize("who", ["requester", "anonymous"])
def test_requesters_and_strangers_are_sent_to_the_login_page(
    client: Client, requester: User, who: str
) -> None:
    if who == "requester":
        client.force_login(requester)

    response = client.get(DESK)

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={DESK}"


def test_an_admin_sees_the_desk_too(client: Client, admin_user: User) -> None:
    client.force_login(admin_user)

    response = client.get(DESK)

    assert [item.queue.slug for item in response.context["desk_queues"]] == list(EXPECTED)


# --- branding ----------------------------------------------------------------------------
def test_the_admin_is_branded_nixflow(
    agent_client: Client,
) -> None:
    html = agent_client.get(DESK).content.decode()

    assert "<title>Desk | NixFlow</title>" in html
    assert 'class="nf-brand"' in html
    assert "Django administration" not in html
    assert "Django site admin" not in html
    assert "nixflow/admin/desk.css" in html


def test_the_login_page_is_branded_nixflow(client: Client) -> None:
    html = client.get("/admin/login/").content.decode()

    assert "<title>Log in | NixFlow</title>" in html
    assert "Sign in to the NixFlow service desk" in html
    assert "Django" not in html


def test_every_app_still_registers_on_the_default_site() -> None:
    from nixflow.admin_site import NixFlowAdminSite
    from sla.models import SLAPolicy

    assert isinstance(admin.site._wrapped, NixFlowAdminSite)  # type: ignore[attr-defined]
    assert admin.site.is_registered(Ticket)
    assert admin.site.is_registered(SLAPolicy)
    assert admin.site.site_url == "/help/"


def test_a_running_clock_past_its_warning_is_at_risk_before_the_monitor_marks_it(
    agent: User, requester: User
) -> None:
    SLAPolicyFactory(name="Standard", targets={Priority.NORMAL: (60, 30, 480)})
    with time_machine.travel(NOW - 46 * M, tick=False):  # warned a minute ago
        ticket = services.ticket_create(requester=requester, title="Slow", actor=agent)
    queue = queues.get_queue("at-risk")
    assert queue is not None

    assert list(queue.queryset(agent)) == [ticket]
    assert ticket.sla_metrics.get(metric_type="first_response").status == "running"


def test_the_sla_queues_link_to_the_list_sorted_most_urgent_first(
    agent_client: Client, agent: User, requester: User, scene: dict[str, Ticket]
) -> None:
    with time_machine.travel(NOW - 100 * M, tick=False):  # due 40 minutes ago
        later = services.ticket_create(requester=requester, title="Later", actor=agent)
    sla_services.sla_scan(now=NOW)
    desk = agent_client.get(DESK)
    (item,) = [item for item in desk.context["desk_queues"] if item.queue.slug == "breached"]

    listed = agent_client.get(item.url)

    assert "o=" in item.url
    rows = list(listed.context["cl"].result_list)
    assert [t.pk for t in rows] == [scene["breached"].pk, later.pk]  # the oldest deadline first
    assert [t.sla_due_at for t in rows] == sorted(t.sla_due_at for t in rows)


def test_the_model_lists_start_with_the_core_and_its_tickets(agent_client: Client) -> None:
    response = agent_client.get(DESK)

    apps = response.context["app_list"]
    assert [app["app_label"] for app in apps][:2] == ["nixflow", "sla"]
    assert apps[0]["models"][0]["object_name"] == "Ticket"
    assert [app["name"] for app in apps[3:]] == sorted(app["name"] for app in apps[3:])


def test_view_site_leads_to_the_help_center(agent_client: Client) -> None:
    page = agent_client.get(DESK).content.decode()
    assert '<a href="/help/">View site</a>' in page
    assert agent_client.get("/help/").status_code == 200
