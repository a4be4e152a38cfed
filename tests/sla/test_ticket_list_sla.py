"""The SLA where agents work (sla.desk): the ticket list's SLA column, its sort by
Ticket.sla_due_at and its filter, and the clocks panel on the ticket's page.

The scene, with Standard (NORMAL: first response 60 min, warning at 75 %; HIGH 15 min;
no LOW targets), looked at T0 + 50 min after a monitor scan:

    ticket     opened    first response due     at T0+50
    high       T0+10     T0+25 (HIGH)           overdue 25 min (breached, still counting)
    risky      T0        T0+60                  10 min left, at risk (past 45 min)
    fine       T0+15     T0+75                  25 min left, on track
    waiting    T0        -                      paused (waiting on the requester)
    low        T0        -                      no clock (no LOW target)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from nixflow import services
from nixflow.models import Priority, Stage, Ticket, User
from nixflow.toolkit.ticket_columns import ColumnCell, ticket_columns
from sla import services as sla_services
from sla.models import SLAPolicy
from tests.core.admin_pages import url
from tests.sla.conftest import T0, logged_in, open_ticket

pytestmark = pytest.mark.django_db

MIN = 60
M = timedelta(minutes=1)


@pytest.fixture
def scene(
    policy: SLAPolicy, requester: User, agent: User, stages: dict[str, Stage]
) -> dict[str, Ticket]:
    with time_machine.travel(T0, tick=False) as clock:
        risky = open_ticket(requester)
        waiting = open_ticket(requester)
        services.ticket_transition(
            ticket=waiting, to_stage=stages["Waiting on requester"], actor=agent
        )
        low = open_ticket(requester, priority=Priority.LOW)
        clock.shift(10 * MIN)
        high = open_ticket(requester, priority=Priority.HIGH)
        clock.shift(5 * MIN)
        fine = open_ticket(requester)
        clock.shift(35 * MIN)
        sla_services.sla_scan()
    return {"high": high, "risky": risky, "fine": fine, "waiting": waiting, "low": low}


@pytest.fixture
def desk(agent: User) -> Client:
    return logged_in(agent)


def sla_column() -> ColumnCell:
    (column,) = [c for c in ticket_columns() if c.name == "sla"]
    return ColumnCell(column)


def listing(client: Client, **params: Any) -> Any:
    with time_machine.travel(T0 + 50 * M, tick=False):
        response = client.get(url("ticket_changelist"), params)
    assert response.status_code == 200
    return response


def sla_sort(client: Client) -> str:
    return str(list(listing(client).context["cl"].list_display).index(sla_column()))


def test_the_sla_column_shows_each_tickets_time_left_and_state(
    desk: Client, scene: dict[str, Ticket]
) -> None:
    content = listing(desk).content.decode()

    def cell(name: str) -> str:
        row = content.split(f">{scene[name].key}</a>")[1].split("</tr>")[0]
        return row.split('class="field-column_sla">')[1].split("</td>")[0]

    assert 'class="nf-sla nf-sla-overdue"' in cell("high")
    assert '>overdue <span class="nf-nowrap">25 min</span></span>' in cell("high")
    assert 'class="nf-sla nf-sla-at-risk"' in cell("risky")
    assert '><span class="nf-nowrap">10 min</span> left</span>' in cell("risky")
    assert 'class="nf-sla nf-sla-on-track"' in cell("fine")
    assert '><span class="nf-nowrap">25 min</span> left</span>' in cell("fine")
    assert ">paused</span>" in cell("waiting")
    assert cell("low") == "-"
    # The tooltip names the clock and its deadline, in the admin's one date format.
    assert 'title="First response due 2 Mar 2026, 10:15"' in cell("fine")


def test_sorting_by_sla_puts_the_most_urgent_first_and_tickets_without_a_clock_last(
    desk: Client, scene: dict[str, Ticket]
) -> None:
    o = sla_sort(desk)
    rows = [t.pk for t in listing(desk, o=o).context["cl"].result_list]
    back = [t.pk for t in listing(desk, o=f"-{o}").context["cl"].result_list]

    urgent_first = [scene[n].pk for n in ("high", "risky", "fine")]
    assert rows[:3] == urgent_first
    assert set(rows[3:]) == {scene["waiting"].pk, scene["low"].pk}
    assert back[-3:] == urgent_first[::-1]


def test_the_sla_sort_orders_by_sla_due_at_then_created_both_ways(
    desk: Client, scene: dict[str, Ticket]
) -> None:
    o = sla_sort(desk)

    def order_by(o: str) -> str:
        with CaptureQueriesContext(connection) as queries:
            listing(desk, o=o)
        (page,) = [q["sql"] for q in queries if q["sql"].startswith('SELECT "nixflow_ticket"."id"')]
        return page.split("ORDER BY ")[1]

    assert order_by(o).startswith(
        '"nixflow_ticket"."sla_due_at" ASC NULLS LAST, "nixflow_ticket"."created" DESC, '
        '"nixflow_ticket"."id" DESC'
    )
    assert order_by(f"-{o}").startswith(
        '"nixflow_ticket"."sla_due_at" DESC NULLS FIRST, "nixflow_ticket"."created" ASC, '
        '"nixflow_ticket"."id" ASC'
    )


@pytest.mark.parametrize(
    ("state", "names"),
    [
        ("overdue", {"high"}),
        ("at_risk", {"risky"}),
        ("on_track", {"fine"}),
        ("paused", {"waiting"}),
        ("none", {"low"}),
    ],
)
def test_the_sla_filter_selects_tickets_by_state(
    desk: Client, scene: dict[str, Ticket], state: str, names: set[str]
) -> None:
    rows = listing(desk, sla=state).context["cl"].result_list
    assert {t.pk for t in rows} == {scene[n].pk for n in names}


def test_the_list_with_its_sla_column_costs_the_same_queries_for_5_and_30_tickets(
    desk: Client, scene: dict[str, Ticket], requester: User
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            listing(desk)
        return len(captured)

    with_five = queries()
    with time_machine.travel(T0 + 40 * M, tick=False):
        for _ in range(25):
            open_ticket(requester)
    assert queries() == with_five


def test_the_ticket_page_shows_its_clocks(desk: Client, scene: dict[str, Ticket]) -> None:
    with time_machine.travel(T0 + 50 * M, tick=False):
        fine = desk.get(url("ticket_change", scene["fine"].pk)).content.decode()
        waiting = desk.get(url("ticket_change", scene["waiting"].pk)).content.decode()
        low = desk.get(url("ticket_change", scene["low"].pk)).content.decode()

    panel = fine.split('data-panel="sla-clocks"')[1].split("</fieldset>")[0]
    assert (
        "<td>First response</td><td>Standard</td><td>Running</td><td>2 Mar 2026, 10:15</td>"
        in panel
    )
    assert ">25 min left</span>" in panel
    assert "<td>Resolution</td>" in panel
    assert "paused, 1 h left" in waiting.split('data-panel="sla-clocks"')[1]
    assert "No SLA policy applies to this ticket." in low
    # Next to the ticket's fields, above the conversation and the panels placed below.
    assert fine.index('data-panel="sla-clocks"') < fine.index('id="nf-timeline-title"')
    assert fine.index('data-panel="sla-clocks"') < fine.index('data-panel="suggested-articles"')


def test_the_overdue_filter_lists_the_most_overdue_first_unless_sorted_otherwise(
    desk: Client, scene: dict[str, Ticket], requester: User
) -> None:
    with time_machine.travel(T0 + 5 * M, tick=False):
        later = open_ticket(requester, priority=Priority.HIGH)  # due T0+20: overdue 30 min
    with time_machine.travel(T0 + 50 * M, tick=False):
        sla_services.sla_scan()

    def rows(**params: str) -> list[int]:
        return [t.pk for t in listing(desk, sla="overdue", **params).context["cl"].result_list]

    assert rows() == [later.pk, scene["high"].pk]  # due T0+20, then T0+25
    key = str(list(listing(desk).context["cl"].list_display).index("key"))
    assert rows(o=key) == [scene["high"].pk, later.pk]  # by key, as asked
