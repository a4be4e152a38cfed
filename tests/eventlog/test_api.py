"""/api/events/ and the admin: read-only, agents only, filtered, cursor-paginated."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from eventlog import context
from eventlog.models import EventLog
from nixflow import services
from nixflow.models import Stage, Ticket, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def tickets(requester: User, agent: User, stages: dict[str, Stage]) -> list[Ticket]:
    first = services.ticket_create(requester=requester, title="One", actor=requester)
    second = services.ticket_create(requester=requester, title="Two", actor=requester)
    services.ticket_transition(ticket=first, to_stage=stages["Open"], actor=agent)
    services.comment_create(ticket=second, author=agent, body="Hello")
    return [first, second]


def ids(response: object) -> list[int]:
    return [e["id"] for e in response.json()["results"]]


def test_agents_list_events_newest_first_with_their_details(
    api_client: APIClient, agent: User, tickets: list[Ticket]
) -> None:
    api_client.force_authenticate(agent)
    response = api_client.get("/api/events/", {"ticket": tickets[0].key})

    assert response.status_code == 200
    body = response.json()
    assert [e["type"] for e in body["results"]] == ["ticket.transitioned", "ticket.created"]
    newest = body["results"][0]
    assert newest["actor"] == {"id": agent.pk, "label": "agent", "name": "agent"}
    assert newest["subject"] == {"app": "nixflow", "model": "ticket", "id": str(tickets[0].pk)}
    assert newest["ticket_key"] == tickets[0].key
    assert newest["payload"]["changes"]["stage"] == ["New", "Open"]
    assert "row_hash" not in newest


def test_requesters_and_anonymous_clients_cannot_read_the_event_log(
    api_client: APIClient, requester: User, tickets: list[Ticket]
) -> None:
    assert api_client.get("/api/events/").status_code == 401
    api_client.force_authenticate(requester)
    response = api_client.get("/api/events/")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only agents and admins can read the event log."}


def test_the_api_cannot_write_events(
    api_client: APIClient, agent: User, tickets: list[Ticket]
) -> None:
    api_client.force_authenticate(agent)
    event = EventLog.objects.filter(ticket_key=tickets[0].key).first()
    assert api_client.post("/api/events/", {"type": "x.y"}).status_code == 405
    assert api_client.patch(f"/api/events/{event.pk}/", {"type": "x.y"}).status_code == 405
    assert api_client.delete(f"/api/events/{event.pk}/").status_code == 405
    assert api_client.get(f"/api/events/{event.pk}/").json()["type"] == event.type


@pytest.mark.parametrize(
    ("params", "expected_types"),
    [
        ({"type": "ticket.commented"}, {"ticket.commented"}),
        ({"type_prefix": "ticket."}, {"ticket.created", "ticket.transitioned", "ticket.commented"}),
        (
            {"subject_model": "ticket"},
            {"ticket.created", "ticket.transitioned", "ticket.commented"},
        ),
    ],
)
def test_events_filter_by_type_and_subject(
    api_client: APIClient,
    agent: User,
    tickets: list[Ticket],
    params: dict,
    expected_types: set[str],
) -> None:
    api_client.force_authenticate(agent)
    response = api_client.get("/api/events/", params)
    assert {e["type"] for e in response.json()["results"]} == expected_types


def test_events_filter_by_actor_correlation_and_time(
    api_client: APIClient, agent: User, requester: User, tickets: list[Ticket]
) -> None:
    api_client.force_authenticate(agent)
    by_agent = api_client.get("/api/events/", {"actor": agent.pk}).json()["results"]
    assert {e["type"] for e in by_agent} == {"ticket.transitioned", "ticket.commented"}

    correlation = uuid.uuid4()
    with context.correlated(correlation):
        services.ticket_update(ticket=tickets[1], actor=agent, data={"priority": "HIGH"})
    found = api_client.get("/api/events/", {"correlation_id": str(correlation)})
    assert [e["type"] for e in found.json()["results"]] == ["ticket.updated"]

    later = (timezone.now() + timezone.timedelta(hours=1)).isoformat()
    assert api_client.get("/api/events/", {"occurred_after": later}).json()["results"] == []
    assert len(ids(api_client.get("/api/events/", {"occurred_before": later}))) >= 5
    bad = api_client.get("/api/events/", {"occurred_after": "yesterday-ish"})
    assert bad.status_code == 400
    assert "occurred_after" in bad.json()


def test_cursor_pagination_walks_every_event_once(
    api_client: APIClient, agent: User, requester: User
) -> None:
    for n in range(7):
        services.ticket_create(requester=requester, title=f"T{n}", actor=requester)
    api_client.force_authenticate(agent)
    seen, url = [], "/api/events/?type=ticket.created&page_size=3"
    while url:
        body = api_client.get(url).json()
        assert "count" not in body
        seen.extend(e["id"] for e in body["results"])
        url = body["next"]
    expected = list(
        EventLog.objects.filter(type="ticket.created").order_by("-id").values_list("id", flat=True)
    )
    assert seen == expected


def test_event_list_query_count_does_not_grow_with_the_page(
    api_client: APIClient,
    agent: User,
    requester: User,
    django_assert_max_num_queries: object,
) -> None:
    for n in range(30):
        services.ticket_create(requester=requester, title=f"T{n}", actor=requester)
    api_client.force_authenticate(agent)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for size in (2, 30):
        with CaptureQueriesContext(connection) as queries:
            assert api_client.get(f"/api/events/?page_size={size}").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_admin_shows_events_read_only_to_agents(
    client: Client, agent: User, tickets: list[Ticket]
) -> None:
    client.force_login(agent)
    listing = client.get("/admin/eventlog/eventlog/")
    assert listing.status_code == 200
    assert b'<td class="field-type">ticket.transitioned</td>' in listing.content
    event = EventLog.objects.filter(ticket_key=tickets[0].key).first()
    page = client.get(f"/admin/eventlog/eventlog/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get("/admin/eventlog/eventlog/add/").status_code == 403
    assert client.post(f"/admin/eventlog/eventlog/{event.pk}/delete/").status_code == 403
    filtered = client.get("/admin/eventlog/eventlog/", {"type": "ticket.commented"})
    assert b'<td class="field-type">ticket.commented</td>' in filtered.content
    assert b'<td class="field-type">ticket.transitioned</td>' not in filtered.content
