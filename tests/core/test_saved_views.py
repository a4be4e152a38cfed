"""Saved views (nixflow.services.saved_views, nixflow.admin.saved_views,
nixflow.api.saved_views): saved from the ticket list, counted on the desk with the list's
own filters, shared with a team, changed by whom may, and the same through the API."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow import services as core_services
from nixflow.admin.saved_views import ViewQueryError, view_count, view_tickets
from nixflow.models import Priority, Role, SavedView, Team, TeamMembership, Ticket, User
from nixflow.services import saved_views as services
from nixflow.toolkit import queues
from tests.factories import TicketFactory, UserFactory
from tests.helpers import as_user

pytestmark = pytest.mark.django_db

DESK = "/admin/"
CHANGELIST = "/admin/nixflow/ticket/"
ADD = "/admin/nixflow/savedview/add/"


@pytest.fixture
def mate(db: None) -> User:
    return UserFactory(username="mate", role=Role.AGENT)


@pytest.fixture
def team(agent: User, mate: User) -> Team:
    support = Team.objects.create(name="Support")
    TeamMembership.objects.create(team=support, user=agent)
    TeamMembership.objects.create(team=support, user=mate, is_lead=True)
    return support


@pytest.fixture
def tickets(agent: User, requester: User) -> dict[str, Ticket]:
    return {
        "urgent_mine": TicketFactory(requester=requester, assignee=agent, priority=Priority.URGENT),
        "urgent_vpn": TicketFactory(
            requester=requester, title="VPN is down", priority=Priority.URGENT
        ),
        "normal_vpn": TicketFactory(requester=requester, title="VPN slow"),
    }


URGENT = "priority__exact=URGENT"


def keys(queryset: object) -> set[int]:
    return {ticket.pk for ticket in queryset}  # type: ignore[attr-defined]


# --- the view's tickets are the list's ----------------------------------------------------
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (URGENT, {"urgent_mine", "urgent_vpn"}),
        ("q=vpn", {"urgent_vpn", "normal_vpn"}),
        (f"{URGENT}&q=vpn&o=-1", {"urgent_vpn"}),
        ("queue=mine", {"urgent_mine"}),
        ("", {"urgent_mine", "urgent_vpn", "normal_vpn"}),
    ],
)
def test_a_views_tickets_are_what_the_ticket_list_shows_for_its_query(
    agent_client: Client, agent: User, tickets: dict[str, Ticket], query: str, expected: set[str]
) -> None:
    listed = agent_client.get(f"{CHANGELIST}?{query}")

    assert keys(view_tickets(agent, query)) == {tickets[name].pk for name in expected}
    assert keys(listed.context["cl"].result_list) == keys(view_tickets(agent, query))
    assert view_count(agent, query) == listed.context["cl"].result_count


@pytest.mark.parametrize(
    "query",
    [
        "no_such_field=1",
        "priority__exact=URGENT&assignee__id__exact=abc",
        "queue__gone=1",
        "q=vpn%00",
    ],
)
def test_a_query_the_list_cannot_run_is_a_clear_error(agent: User, query: str) -> None:
    with pytest.raises(ViewQueryError, match=r"\w"):
        view_count(agent, query)


def test_the_page_and_cursor_are_not_part_of_a_view(agent: User) -> None:
    view = services.saved_view_create(
        owner=agent, actor=agent, name="Urgent", query=f"?{URGENT}&p=3&cursor=a.xyz&e=1"
    )
    assert view.query == URGENT


# --- saving from the ticket list -----------------------------------------------------------
def test_the_ticket_list_offers_to_save_what_it_shows(
    agent_client: Client, tickets: dict[str, Ticket]
) -> None:
    html = agent_client.get(f"{CHANGELIST}?{URGENT}&q=vpn").content.decode()

    assert 'data-testid="save-view"' in html
    assert f'href="{ADD}?query={quote(f"{URGENT}&q=vpn", safe="")}"' in html


def test_an_agent_saves_a_view_from_the_list_and_finds_it_on_the_desk_with_its_count(
    agent_client: Client, agent: User, tickets: dict[str, Ticket]
) -> None:
    form = agent_client.get(f"{ADD}?query={quote(URGENT + '&p=2', safe='')}")
    assert form.context["adminform"].form.initial["query"] == URGENT

    saved = agent_client.post(ADD, {"name": "Urgent", "team": "", "query": URGENT, "position": 0})

    view = SavedView.objects.get()
    assert saved.status_code == 302
    assert saved["Location"] == f"{CHANGELIST}?{URGENT}"
    assert (view.owner, view.team, view.query) == (agent, None, URGENT)
    assert EventLog.objects.filter(type="view.created", actor=agent).count() == 1
    desk = agent_client.get(DESK)
    (item,) = desk.context["desk_views"]
    assert (item.view, item.count, item.url) == (view, 2, f"{CHANGELIST}?{URGENT}")
    assert f'data-testid="view-{view.pk}-count" data-count="2"' in desk.content.decode()


def test_the_admin_refuses_a_team_the_agent_is_not_in_and_a_broken_query(
    agent_client: Client, mate: User
) -> None:
    other = Team.objects.create(name="Billing")
    response = agent_client.post(
        ADD, {"name": "Theirs", "team": other.pk, "query": "no_such_field=1", "position": 0}
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"team", "query"}
    assert not SavedView.objects.exists()


def test_an_invalid_stored_query_shows_as_an_error_on_the_desk_not_a_500(
    agent_client: Client, agent: User, tickets: dict[str, Ticket]
) -> None:
    broken = SavedView.objects.create(name="Old", owner=agent, query="gone_filter=1")
    fine = SavedView.objects.create(name="Urgent", owner=agent, query=URGENT)

    response = agent_client.get(DESK)

    assert response.status_code == 200
    by_view = {item.view: item for item in response.context["desk_views"]}
    assert by_view[broken].count is None
    assert "cannot show" in by_view[broken].error
    assert by_view[fine].count == 2  # the desk goes on after a broken view
    assert f'data-testid="view-{broken.pk}-error"' in response.content.decode()


def test_the_desk_costs_one_query_per_saved_view(
    agent_client: Client, agent: User, tickets: dict[str, Ticket]
) -> None:
    def statements(queries: CaptureQueriesContext) -> list[str]:
        # Each count runs in a savepoint (a broken view must not end the transaction).
        return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]

    SavedView.objects.create(name="One", owner=agent, query=URGENT)
    agent_client.get(DESK)
    with CaptureQueriesContext(connection) as one:
        agent_client.get(DESK)
    for n in range(4):
        SavedView.objects.create(name=f"More {n}", owner=agent, query=f"{URGENT}&o=-1")
    with CaptureQueriesContext(connection) as five:
        agent_client.get(DESK)

    assert len(statements(five)) == len(statements(one)) + 4
    counts = [
        sql
        for sql in statements(five)
        if sql.startswith("SELECT COUNT(*)") and 'FROM "nixflow_ticket"' in sql
    ]
    assert len(counts) == len(queues.queues_for(agent)) + 5  # built-in views, saved ones


# --- who sees and changes what --------------------------------------------------------------
def test_personal_views_are_the_owners_and_team_views_the_teams(
    agent: User, mate: User, team: Team
) -> None:
    stranger = UserFactory(username="stranger", role=Role.AGENT)
    mine = services.saved_view_create(owner=agent, actor=agent, name="Mine", query=URGENT)
    shared = services.saved_view_create(
        owner=agent, actor=agent, name="Shared", query=URGENT, team=team
    )

    assert list(services.saved_views_visible(agent)) == [mine, shared]
    assert list(services.saved_views_visible(mate)) == [shared]
    assert list(services.saved_views_visible(stranger)) == []


def test_the_owner_and_the_teams_lead_change_a_team_view_and_other_members_do_not(
    agent: User, mate: User, team: Team
) -> None:
    member = UserFactory(username="member", role=Role.AGENT)
    TeamMembership.objects.create(team=team, user=member)
    view = services.saved_view_create(
        owner=agent, actor=agent, name="Shared", query=URGENT, team=team
    )

    services.saved_view_update(view=view, actor=mate, data={"name": "Renamed by the lead"})
    with pytest.raises(PermissionDenied):
        services.saved_view_update(view=view, actor=member, data={"name": "No"})
    with pytest.raises(PermissionDenied):
        services.saved_view_delete(view=view, actor=member)
    services.saved_view_delete(view=view, actor=agent)

    assert not SavedView.objects.exists()
    assert list(
        EventLog.objects.filter(type__startswith="view.")
        .order_by("id")
        .values_list("type", flat=True)
    ) == ["view.created", "view.updated", "view.deleted"]


def test_a_view_is_shared_only_with_a_team_of_the_agents(agent: User) -> None:
    other = Team.objects.create(name="Billing")
    with pytest.raises(ValidationError):
        services.saved_view_create(owner=agent, actor=agent, name="X", query="", team=other)


def test_requesters_save_no_views(requester: User) -> None:
    with pytest.raises(PermissionDenied):
        services.saved_view_create(owner=requester, actor=requester, name="X", query="")


def test_another_agents_personal_view_is_not_in_the_admin(agent_client: Client, mate: User) -> None:
    theirs = services.saved_view_create(owner=mate, actor=mate, name="Theirs", query=URGENT)

    assert agent_client.get(f"/admin/nixflow/savedview/{theirs.pk}/change/").status_code == 302
    assert agent_client.get("/admin/nixflow/savedview/").context["cl"].result_count == 0


# --- the API ---------------------------------------------------------------------------------
def test_the_api_lists_the_built_in_and_saved_views_with_counts(
    agent_api: APIClient, agent: User, team: Team, tickets: dict[str, Ticket]
) -> None:
    view = services.saved_view_create(
        owner=agent, actor=agent, name="Urgent", query=URGENT, team=team
    )

    response = agent_api.get("/api/views/")

    assert response.status_code == 200
    by_id = {item["id"]: item for item in response.json()}
    assert by_id["mine"]["kind"] == "built_in"
    assert (by_id["mine"]["count"], by_id["mine"]["count_text"]) == (1, "1")
    assert by_id[str(view.pk)] | {} == by_id[str(view.pk)]
    assert (by_id[str(view.pk)]["kind"], by_id[str(view.pk)]["count"]) == ("team", 2)
    assert by_id[str(view.pk)]["team"] == team.pk


def test_a_views_tickets_through_the_api_are_the_ticket_lists_page(
    agent_api: APIClient, agent: User, tickets: dict[str, Ticket]
) -> None:
    view = services.saved_view_create(owner=agent, actor=agent, name="Urgent", query=URGENT)
    expected_keys = [tickets["urgent_vpn"].key, tickets["urgent_mine"].key]  # newest first

    saved = agent_api.get(f"/api/views/{view.pk}/tickets/")
    built_in = agent_api.get("/api/views/mine/tickets/")
    plain = agent_api.get("/api/tickets/?priority=URGENT")

    assert saved.status_code == 200
    assert [t["key"] for t in saved.json()["results"]] == expected_keys
    assert saved.json()["results"] == plain.json()["results"]  # serialized alike
    assert [t["key"] for t in built_in.json()["results"]] == [tickets["urgent_mine"].key]


def test_saved_views_round_trip_through_the_api(
    agent_api: APIClient, agent: User, team: Team, tickets: dict[str, Ticket]
) -> None:
    created = agent_api.post(
        "/api/views/", {"name": "VPN", "query": "?q=vpn&p=2", "team": None}, format="json"
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["query"] == "q=vpn"
    assert created.json()["count"] == 2

    changed = agent_api.patch(f"/api/views/{pk}/", {"team": team.pk}, format="json")
    assert (changed.status_code, changed.json()["kind"]) == (200, "team")
    for query in ("nope=1", "q=vpn%00"):
        refused = agent_api.patch(f"/api/views/{pk}/", {"query": query}, format="json")
        assert refused.status_code == 400
        assert "query" in refused.json()

    assert agent_api.delete(f"/api/views/{pk}/").status_code == 204
    assert agent_api.get(f"/api/views/{pk}/tickets/").status_code == 404


def test_the_api_hides_other_agents_personal_views_and_refuses_requesters(
    agent_api: APIClient, mate: User, requester: User
) -> None:
    theirs = services.saved_view_create(owner=mate, actor=mate, name="Theirs", query=URGENT)

    assert agent_api.get(f"/api/views/{theirs.pk}/tickets/").status_code == 404
    assert agent_api.delete(f"/api/views/{theirs.pk}/").status_code == 404
    assert agent_api.get("/api/views/no-such-view/tickets/").status_code == 404
    requester_api = as_user(APIClient(), requester)
    assert requester_api.get("/api/views/").status_code == 403
    assert requester_api.get("/api/views/mine/tickets/").status_code == 403


def test_a_stored_query_that_no_longer_runs_is_a_conflict_in_the_api(
    agent_api: APIClient, agent: User
) -> None:
    broken = SavedView.objects.create(name="Old", owner=agent, query="gone_filter=1")

    listed = {item["id"]: item for item in agent_api.get("/api/views/").json()}
    tickets = agent_api.get(f"/api/views/{broken.pk}/tickets/")

    assert listed[str(broken.pk)]["count"] is None
    assert listed[str(broken.pk)]["error"]
    assert tickets.status_code == 409


def test_a_capped_view_count_reads_the_same_on_the_desk_and_in_the_api(
    agent_client: Client,
    agent_api: APIClient,
    agent: User,
    tickets: dict[str, Ticket],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queues, "COUNT_CAP", 1)
    monkeypatch.setattr(admin.site.get_model_admin(Ticket), "count_cap", 1)
    view = services.saved_view_create(owner=agent, actor=agent, name="Urgent", query=URGENT)

    (item,) = agent_client.get(DESK).context["desk_views"]
    listed = agent_client.get(item.url)
    api = {v["id"]: v for v in agent_api.get("/api/views/").json()}[str(view.pk)]

    assert str(item.count) == str(listed.context["cl"].result_count) == "1+"
    assert (api["count_text"], api["count_is_exact"]) == ("1+", False)


def test_the_demo_of_the_core_services_still_passes_through(agent: User, requester: User) -> None:
    # A saved view's team may be deleted: its views go with it (cascade), no error.
    team = Team.objects.create(name="Temp")
    TeamMembership.objects.create(team=team, user=agent)
    services.saved_view_create(owner=agent, actor=agent, name="T", query="", team=team)
    core_services.ticket_create(requester=requester, title="x", actor=agent)
    team.delete()
    assert not SavedView.objects.exists()


def test_the_owner_renames_and_deletes_a_view_in_the_admin(
    agent_client: Client, agent: User, tickets: dict[str, Ticket]
) -> None:
    view = services.saved_view_create(owner=agent, actor=agent, name="Urgent", query=URGENT)
    change = f"/admin/nixflow/savedview/{view.pk}/change/"

    renamed = agent_client.post(
        change, {"name": "Urgent ones", "team": "", "query": URGENT, "position": 2}
    )
    deleted = agent_client.post(f"/admin/nixflow/savedview/{view.pk}/delete/", {"post": "yes"})

    assert renamed.status_code == 302
    assert deleted.status_code == 302
    assert not SavedView.objects.exists()
    recorded = EventLog.objects.filter(type__startswith="view.").order_by("id")
    assert [(e.type, e.payload.get("fields")) for e in recorded] == [
        ("view.created", None),
        ("view.updated", ["name", "position"]),
        ("view.deleted", None),
    ]


def test_a_team_lead_edits_the_teams_view_in_the_admin_and_a_member_only_reads_it(
    client: Client, agent: User, mate: User, team: Team
) -> None:
    member = UserFactory(username="member", role=Role.AGENT)
    TeamMembership.objects.create(team=team, user=member)
    view = services.saved_view_create(
        owner=agent, actor=agent, name="Shared", query=URGENT, team=team
    )
    change = f"/admin/nixflow/savedview/{view.pk}/change/"
    data = {"name": "By the lead", "team": team.pk, "query": URGENT, "position": 0}

    client.force_login(member)
    client.post(change, data)
    assert SavedView.objects.get().name == "Shared"
    client.force_login(mate)
    client.post(change, data)
    assert SavedView.objects.get().name == "By the lead"


def test_a_view_saved_through_the_api_without_a_query_is_the_whole_list(
    agent_api: APIClient,
) -> None:
    response = agent_api.post("/api/views/", {"name": "Everything"}, format="json")

    assert response.status_code == 201, response.content
    assert SavedView.objects.get(name="Everything").query == ""
