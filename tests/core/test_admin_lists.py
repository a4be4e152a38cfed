"""The ticket list at any size: search by index, numbered pages then keyset pages (never
a deep OFFSET), capped and estimated counts, no facets (nixflow.toolkit.changelist)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nixflow.admin import CommentAdmin, HistoryLogAdmin, TicketAdmin
from nixflow.admin import workflows as workflow_admin
from nixflow.models import Priority, Role, Stage, StageCategory, Ticket, User, Workflow
from nixflow.toolkit.changelist import CURSOR_VAR, FastListAdmin, ResultCount
from tests import list_pages
from tests.core.admin_pages import url
from tests.factories import (
    AgentFactory,
    CommentFactory,
    HistoryLogFactory,
    TicketFactory,
    UserFactory,
)
from tests.list_pages import link, rows

PER_PAGE, NUMBERED = 3, 2


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    list_pages.small_pages(
        monkeypatch,
        TicketAdmin,
        CommentAdmin,
        HistoryLogAdmin,
        per_page=PER_PAGE,
        numbered=NUMBERED,
    )


def search(client: Client, q: str, **params: str) -> set[Ticket]:
    return set(rows(client.get(url("ticket_changelist"), {"q": q, **params})))


def walk(client: Client, name: str, **params: str) -> tuple[list[Any], list[int]]:
    return list_pages.walk(client, url(name), **params)


# --- search ------------------------------------------------------------------------------
@pytest.fixture
def carol(db: None) -> User:
    return UserFactory(
        username="carol", email="Carol.Jones@Example.com", first_name="Carol", last_name="Jones"
    )


def test_search_finds_by_title_word_description_word_key_and_requester(
    agent_client: Client, carol: User, workflow: Workflow
) -> None:
    by_carol = TicketFactory(requester=carol, title="VPN drops", description="every hour")
    printer = TicketFactory(title="Printer jams again", description="tray two")
    scanner = TicketFactory(title="Scanner", description="the printer driver crashes")
    TicketFactory(title="Something else", description="nothing")

    assert search(agent_client, "jams") == {printer}
    assert search(agent_client, "PRINTER") == {printer, scanner}
    assert search(agent_client, "driver") == {scanner}
    assert search(agent_client, f"nf-{scanner.pk}") == {scanner}
    assert search(agent_client, "carol.jones@example.com") == {by_carol}
    assert search(agent_client, "Carol") == {by_carol}
    assert search(agent_client, "jones") == {by_carol}
    assert search(agent_client, "carol") == {by_carol}  # the username
    assert search(agent_client, "no-such-word") == set()


def test_search_words_must_all_match_each_in_the_text_or_the_requester(
    agent_client: Client, carol: User, workflow: Workflow
) -> None:
    vpn = TicketFactory(requester=carol, title="VPN drops")
    TicketFactory(title="VPN slow")
    printer = TicketFactory(requester=carol, title="Printer jams")

    assert search(agent_client, "vpn carol") == {vpn}
    assert search(agent_client, "jones jams") == {printer}
    assert search(agent_client, '"printer jams"') == {printer}
    assert search(agent_client, "vpn jams") == set()


def test_a_short_word_alone_finds_requesters_not_every_ticket_that_contains_it(
    agent_client: Client, workflow: Workflow
) -> None:
    li = UserFactory(username="li", last_name="Li")
    by_li = TicketFactory(requester=li, title="Broken chair")
    TicketFactory(title="Lights off")  # contains "li", but a two-letter word has no index

    assert search(agent_client, "li") == {by_li}
    assert search(agent_client, "li chair") == {by_li}


def test_a_persons_email_address_finds_their_tickets_not_mentions_of_it(
    agent_client: Client, carol: User, workflow: Workflow
) -> None:
    by_carol = TicketFactory(requester=carol, title="VPN drops")
    TicketFactory(title="Call back", description="cc carol.jones@example.com")
    mentioned = TicketFactory(title="Forward", description="from someone@elsewhere.test")

    assert search(agent_client, "Carol.Jones@example.com") == {by_carol}
    assert search(agent_client, "someone@elsewhere.test") == {mentioned}


def test_search_combines_with_the_filters(
    agent_client: Client, carol: User, stages: dict[str, Stage], workflow: Workflow
) -> None:
    urgent = TicketFactory(requester=carol, title="VPN down", priority=Priority.URGENT)
    TicketFactory(requester=carol, title="VPN slow", priority=Priority.LOW)
    open_one = TicketFactory(title="VPN flaky", stage=stages["Open"])

    assert search(agent_client, "vpn", priority__exact=Priority.URGENT) == {urgent}
    assert search(agent_client, "carol", priority__exact=Priority.LOW) != {urgent}
    assert search(agent_client, "vpn", stage_category=StageCategory.OPEN) == {open_one}


def test_the_requester_search_is_one_query_and_the_ticket_query_lists_their_ids(
    agent_client: Client, carol: User, workflow: Workflow
) -> None:
    TicketFactory(requester=carol, title="VPN drops")

    with CaptureQueriesContext(connection) as queries:
        agent_client.get(url("ticket_changelist"), {"q": "carol"})

    sqls = [q["sql"] for q in queries]
    people = [sql for sql in sqls if 'FROM "nixflow_user"' in sql and "UPPER" in sql]
    assert len(people) == 1
    tickets = [q["sql"] for q in queries if 'FROM "nixflow_ticket"' in q["sql"]]
    # The requester ids are a list in the ticket query, which the GIN and requester
    # indexes then combine; a sub-select of users there would stop that.
    assert tickets
    assert all('FROM "nixflow_user"' not in sql for sql in tickets)
    assert all(f'"requester_id" IN ({carol.pk})' in sql for sql in tickets)


# --- paging ------------------------------------------------------------------------------
def test_paging_walks_every_ticket_in_order_without_an_offset_past_the_numbered_pages(
    agent_client: Client, small_pages: None, workflow: Workflow
) -> None:
    now = timezone.now()
    # Two tickets share a creation time: the key breaks the tie, on both sides of a page.
    created = [now - timedelta(minutes=n) for n in (1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9)]
    for at in created:
        TicketFactory(created=at)

    seen, used_offsets = walk(agent_client, "ticket_changelist")

    assert seen == list(Ticket.objects.order_by("-created", "-pk"))
    assert used_offsets
    assert max(used_offsets) <= (NUMBERED - 1) * PER_PAGE


def test_previous_from_a_cursor_page_shows_the_rows_before_it(
    agent_client: Client, small_pages: None, workflow: Workflow
) -> None:
    TicketFactory.create_batch(12)
    everything = list(Ticket.objects.order_by("-created", "-pk"))
    page2 = agent_client.get(url("ticket_changelist"), {"p": NUMBERED})
    page3 = agent_client.get(url("ticket_changelist") + link(page2, "next"))
    page4 = agent_client.get(url("ticket_changelist") + link(page3, "next"))
    assert rows(page4) == everything[9:12]

    back = agent_client.get(url("ticket_changelist") + link(page4, "prev"))

    assert rows(back) == everything[6:9]
    first = agent_client.get(url("ticket_changelist") + link(page3, "prev"))
    assert rows(first) == everything[3:6]


def test_a_page_past_the_numbered_ones_is_refused_not_served_by_offset(
    agent_client: Client, small_pages: None, workflow: Workflow
) -> None:
    TicketFactory.create_batch(12)

    response = agent_client.get(url("ticket_changelist"), {"p": NUMBERED + 1})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_a_broken_cursor_is_refused(agent_client: Client, workflow: Workflow) -> None:
    TicketFactory()

    response = agent_client.get(url("ticket_changelist"), {CURSOR_VAR: "a.bm90IGpzb24"})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_the_cursor_is_not_kept_when_sorting_filtering_or_searching(
    agent_client: Client, small_pages: None, workflow: Workflow
) -> None:
    TicketFactory.create_batch(12)
    page2 = agent_client.get(url("ticket_changelist"), {"p": NUMBERED})
    cursor_page = agent_client.get(url("ticket_changelist") + link(page2, "next"))
    html = cursor_page.content.decode()
    cl = cursor_page.context["cl"]

    assert CURSOR_VAR not in cl.params
    assert f'name="{CURSOR_VAR}"' not in html  # the search form's hidden fields
    for spec in cl.filter_specs:
        for choice in spec.choices(cl):
            assert CURSOR_VAR not in parse_qs(urlsplit(choice["query_string"]).query)


def test_sorting_by_key_pages_by_keys_too(
    agent_client: Client, small_pages: None, workflow: Workflow
) -> None:
    TicketFactory.create_batch(8)
    key_column = TicketAdmin.list_display.index("key") + 1
    seen, used_offsets = walk(agent_client, "ticket_changelist", o=str(key_column))

    assert seen == list(Ticket.objects.order_by("pk"))
    assert max(used_offsets) <= (NUMBERED - 1) * PER_PAGE


def test_page_queries_do_not_grow_with_the_page_size(
    agent_client: Client, agent: User, workflow: Workflow
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            rows(agent_client.get(url("ticket_changelist")))
        return len(captured)

    TicketFactory.create_batch(3, assignee=agent)
    with_three = queries()
    TicketFactory.create_batch(30, assignee=agent)

    assert queries() == with_three


# --- counts, facets, show all ------------------------------------------------------------
def test_a_filtered_count_stops_at_the_cap(
    agent_client: Client, monkeypatch: pytest.MonkeyPatch, workflow: Workflow
) -> None:
    monkeypatch.setattr(TicketAdmin, "count_cap", 5)
    TicketFactory.create_batch(7, priority=Priority.HIGH)
    TicketFactory.create_batch(2, priority=Priority.LOW)

    high = agent_client.get(url("ticket_changelist"), {"priority__exact": Priority.HIGH})
    low = agent_client.get(url("ticket_changelist"), {"priority__exact": Priority.LOW})

    assert high.context["cl"].count_text == "5+ tickets"
    assert "5+ tickets" in high.content.decode()
    assert low.context["cl"].count_text == "2 tickets"
    assert not high.context["cl"].can_show_all


def test_the_unfiltered_count_is_the_tables_estimate_above_the_cap(
    agent_client: Client, monkeypatch: pytest.MonkeyPatch, workflow: Workflow
) -> None:
    monkeypatch.setattr(TicketAdmin, "count_cap", 5)
    TicketFactory.create_batch(12)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE nixflow_ticket")

    with CaptureQueriesContext(connection) as queries:
        response = agent_client.get(url("ticket_changelist"))

    assert response.context["cl"].count_text == "about 12 tickets"
    assert not any("COUNT(" in q["sql"] and "nixflow_ticket" in q["sql"] for q in queries)


def test_result_count_reads_as_what_it_is() -> None:
    assert str(ResultCount(1_000_000, "estimate")) == "about 1,000,000"
    assert str(ResultCount(10_000, "at_least")) == "10,000+"
    assert str(ResultCount(42)) == "42"
    assert ResultCount(42) == 42


def test_facets_are_off_even_when_asked_for(agent_client: Client, workflow: Workflow) -> None:
    TicketFactory.create_batch(2)

    response = agent_client.get(url("ticket_changelist"), {"_facets": "1"})

    assert response.context["cl"].add_facets is False
    assert "Show counts" not in response.content.decode()
    assert TicketAdmin.show_facets is FastListAdmin.show_facets


# --- filters -----------------------------------------------------------------------------
def test_the_assignee_filter_lists_active_agents_and_admins_only(
    agent_client: Client, agent: User, workflow: Workflow
) -> None:
    admin_person = UserFactory(username="boss", role=Role.ADMIN, first_name="Bo", last_name="Ss")
    gone = AgentFactory(username="gone", is_active=False)
    requester = UserFactory(username="just-a-requester")
    TicketFactory(requester=requester, assignee=agent)

    response = agent_client.get(url("ticket_changelist"))
    (spec,) = [s for s in response.context["cl"].filter_specs if s.title == "assignee"]
    listed = {label for _, label in spec.lookup_choices}

    assert listed == {"agent", "Bo Ss"}
    assert gone.username not in listed
    assert requester.username not in listed
    assert admin_person.get_full_name() in listed


def test_the_stage_filter_reads_as_categories_and_filters_by_them(
    agent_client: Client, stages: dict[str, Stage], workflow: Workflow
) -> None:
    new = TicketFactory()
    TicketFactory(stage=stages["Open"])

    response = agent_client.get(url("ticket_changelist"), {"stage_category": StageCategory.NEW})
    (spec,) = [s for s in response.context["cl"].filter_specs if s.title == "stage"]

    assert [label for _, label in spec.lookup_choices] == [
        str(label) for _, label in StageCategory.choices
    ]
    assert rows(response) == [new]


# --- the other core lists ----------------------------------------------------------------
def test_comment_and_history_lists_page_by_keys_and_find_by_ticket_key(
    agent_client: Client, small_pages: None, workflow: Workflow
) -> None:
    ticket, other = TicketFactory(), TicketFactory()
    CommentFactory.create_batch(8, ticket=ticket)
    CommentFactory.create_batch(2, ticket=other)
    HistoryLogFactory.create_batch(8, ticket=ticket)

    comments, comment_offsets = walk(agent_client, "comment_changelist")
    history, history_offsets = walk(agent_client, "historylog_changelist")

    assert [c.pk for c in comments] == sorted((c.pk for c in comments), reverse=True)
    assert len(comments) == 10
    assert len(history) == 8
    assert max(comment_offsets + history_offsets) <= (NUMBERED - 1) * PER_PAGE
    found = rows(agent_client.get(url("comment_changelist"), {"q": other.key}))
    assert {c.ticket_id for c in found} == {other.pk}
    assert len(found) == 2


def test_the_workflow_list_caps_its_ticket_counts(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch, workflow: Workflow
) -> None:
    monkeypatch.setattr(workflow_admin, "TICKET_COUNT_CAP", 3)
    TicketFactory.create_batch(5)

    response = admin_client.get(url("workflow_changelist"))

    assert "3+" in response.content.decode()
