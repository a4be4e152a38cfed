"""The ticket list's columns as an agent reads them (nixflow.admin.ticket_list): what
each shows, the priority sort by rank, and the columns feature apps register
(nixflow.toolkit.ticket_columns), rendered once per page."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.db import connection
from django.http import HttpRequest
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.html import format_html
from django.utils.safestring import SafeString

from nixflow.models import Priority, Ticket, User
from nixflow.toolkit import ticket_columns
from tests.core.admin_pages import url
from tests.factories import TicketFactory, UserFactory

pytestmark = pytest.mark.django_db


def changelist(client: Client, **params: Any) -> Any:
    response = client.get(url("ticket_changelist"), params)
    assert response.status_code == 200
    return response


def sort_param(response: Any, column: Any) -> str:
    """The ?o= value that sorts by ``column`` (its position among the list's columns)."""
    return str(list(response.context["cl"].list_display).index(column))


def test_the_list_shows_stage_names_requesters_and_highlights_urgent(
    agent_client: Client,
) -> None:
    ann = UserFactory(first_name="Ann", last_name="Lee", email="ann@example.com")
    urgent = TicketFactory(requester=ann, priority=Priority.URGENT, title="Payroll is down")

    content = changelist(agent_client).content.decode()

    assert '<span class="nf-person">Ann Lee</span>' in content
    assert '<span class="nf-email" title="ann@example.com">ann@example.com</span>' in content
    assert f'<td class="field-stage_name">{urgent.stage.name}</td>' in content
    assert f"{urgent.stage.name} (" not in content  # no "New (New)"
    assert '<span class="nf-priority nf-priority-urgent">Urgent</span>' in content
    assert 'class="nf-title" title="Payroll is down"' in content
    for header in ("key", "title", "requester", "stage", "priority", "assignee", "updated"):
        assert f">{header.capitalize()}</" in content or f">{header}</" in content.lower()
    assert "nixflow/admin/ticket_list.css" in content


def test_priority_sorts_by_rank_urgent_first_and_back(agent_client: Client) -> None:
    for priority in (Priority.LOW, Priority.URGENT, Priority.NORMAL, Priority.HIGH):
        TicketFactory(priority=priority)
    column = changelist(agent_client)
    o = sort_param(column, "priority_cell")

    first = [t.priority for t in changelist(agent_client, o=o).context["cl"].result_list]
    back = [t.priority for t in changelist(agent_client, o=f"-{o}").context["cl"].result_list]

    assert first == ["URGENT", "HIGH", "NORMAL", "LOW"]
    assert back == ["LOW", "NORMAL", "HIGH", "URGENT"]


def page_order_by(client: Client, **params: Any) -> str:
    """The ORDER BY of the list's page query."""
    with CaptureQueriesContext(connection) as queries:
        changelist(client, **params)
    (page,) = [q["sql"] for q in queries if q["sql"].startswith('SELECT "nixflow_ticket"."id"')]
    return page.split("ORDER BY")[1]


def test_the_priority_sort_has_the_tie_break_its_index_serves_in_both_directions(
    agent_client: Client,
) -> None:
    TicketFactory()
    o = sort_param(changelist(agent_client), "priority_cell")
    forwards, backwards = page_order_by(agent_client, o=o), page_order_by(agent_client, o=f"-{o}")
    # nf_ticket_priority_rank is (rank DESC, created DESC): walked forwards, and backwards
    # with the tie-break reversed along with the rank (the rank is the selected column,
    # which PostgreSQL matches to the index's expression).
    # The rank is a selected column, referred to by its position.
    assert re.match(
        r' \d+ DESC, "nixflow_ticket"."created" DESC, "nixflow_ticket"."id" DESC', forwards
    )
    assert re.match(
        r' \d+ ASC, "nixflow_ticket"."created" ASC, "nixflow_ticket"."id" ASC', backwards
    )


# --- columns feature apps register ----------------------------------------------------------
@pytest.fixture
def calls() -> Iterator[list[int]]:
    """A registered "Colour" column that counts its calls and the rows it got."""
    seen: list[int] = []

    def colours(request: HttpRequest, tickets: Sequence[Ticket]) -> dict[int, SafeString]:
        seen.append(len(tickets))
        return {t.pk: format_html('<b class="colour">{}</b>', t.title.upper()) for t in tickets}

    ticket_columns.register_ticket_column("colour", "Colour", colours, ordering="title")
    yield seen
    ticket_columns.unregister_ticket_column("colour")


def test_a_registered_column_renders_once_for_the_whole_page(
    agent_client: Client, calls: list[int]
) -> None:
    TicketFactory.create_batch(3, title="vpn")

    response = changelist(agent_client)

    assert calls == [3]
    content = response.content.decode()
    assert content.count('<td class="field-column_colour"><b class="colour">VPN</b></td>') == 3
    assert ">Colour</" in content


def test_a_registered_column_with_an_ordering_sorts(agent_client: Client, calls: list[int]) -> None:
    for title in ("b", "c", "a"):
        TicketFactory(title=title)
    (colour,) = [c for c in ticket_columns.ticket_columns() if c.name == "colour"]
    column = ticket_columns.ColumnCell(colour)
    o = sort_param(changelist(agent_client), column)

    assert [t.title for t in changelist(agent_client, o=o).context["cl"].result_list] == [
        "a",
        "b",
        "c",
    ]


def test_a_failing_column_leaves_its_cells_empty_and_the_list_up(
    agent_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: HttpRequest, tickets: Sequence[Ticket]) -> dict[int, SafeString]:
        raise RuntimeError("boom")

    ticket_columns.register_ticket_column("broken", "Broken", broken)
    try:
        TicketFactory()
        content = changelist(agent_client).content.decode()
    finally:
        ticket_columns.unregister_ticket_column("broken")
    assert '<td class="field-column_broken">-</td>' in content  # the admin's empty cell
    assert "Ticket column 'broken' failed" in caplog.text


def test_the_list_costs_the_same_queries_for_5_and_40_tickets_with_a_column(
    agent_client: Client, agent: User, calls: list[int]
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            changelist(agent_client)
        return len(captured)

    TicketFactory.create_batch(5, assignee=agent)
    with_five = queries()
    TicketFactory.create_batch(35, assignee=UserFactory(role="agent", first_name="Bo"))
    assert queries() == with_five
