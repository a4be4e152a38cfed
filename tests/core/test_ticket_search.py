"""Full-text search over the conversation (nixflow.search): documents kept in the writing
transaction, ranking, what requesters may find, the query syntax, filters, merge
re-indexing, the backfill command, the admin list's queries and snippets."""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from nixflow import search as search_module
from nixflow import services
from nixflow.events import TICKET_MERGED, TicketEvent, publish
from nixflow.models import Comment, Priority, Role, Ticket, User, Workflow
from nixflow.search import TicketSearch, refresh_documents, search_tickets, snippets
from nixflow.toolkit import search_query
from tests.core.admin_pages import url
from tests.factories import UserFactory
from tests.helpers import new_ticket
from tests.list_pages import rows
from tests.support.browser import browser, login

__all__ = ["browser"]  # the shared fixture, used by name below
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def found(text: str, *, internal: bool = True) -> list[Ticket]:
    """The search's tickets, best first (as the API orders them)."""
    tickets = search_tickets(Ticket.objects.all(), text, internal=internal)
    return list(tickets.order_by("-search_rank", "-created", "-id"))


def keys(response: object) -> list[str]:
    return [row["key"] for row in response.json()["results"]]  # type: ignore[attr-defined]


def stored(ticket: Ticket) -> tuple[str | None, str | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT search_agent::text, search_public::text FROM nixflow_ticket WHERE id = %s",
            [ticket.pk],
        )
        return cursor.fetchone()  # type: ignore[return-value]


# --- ranking -----------------------------------------------------------------------------
def test_a_title_match_outranks_a_description_match_which_outranks_comments(
    requester: User, agent: User, workflow: Workflow
) -> None:
    in_comments = new_ticket(requester, title="Mail problem")
    for _ in range(3):  # many occurrences in comments still rank below one in the title
        services.comment_create(
            ticket=in_comments, author=agent, body="The router, the router, the router."
        )
    in_title = new_ticket(requester, title="Router down")
    in_description = new_ticket(requester, title="Slow", description="since the router reboot")

    assert found("router") == [in_title, in_description, in_comments]


def test_the_api_lists_the_best_match_first_unless_an_ordering_is_asked(
    agent_api: APIClient, requester: User, agent: User, workflow: Workflow
) -> None:
    in_title = new_ticket(requester, title="Router down")
    in_comment = new_ticket(requester, title="Mail problem")
    services.comment_create(ticket=in_comment, author=agent, body="Rebooted the router.")

    assert keys(agent_api.get("/api/tickets/?search=router")) == [in_title.key, in_comment.key]
    by_date = agent_api.get("/api/tickets/?search=router&ordering=-created")
    assert keys(by_date) == [in_comment.key, in_title.key]


def test_the_api_says_where_the_words_were_found_in_the_callers_view(
    agent_api: APIClient, requester: User, agent: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester, title="Mail problem")
    services.comment_create(ticket=ticket, author=agent, body="Rebooted the <i>router</i>.")
    services.comment_create(
        ticket=ticket, author=agent, body="The router vendor owes us one.", is_internal=True
    )
    mine = APIClient()
    mine.force_authenticate(requester)

    [row] = agent_api.get("/api/tickets/?search=router").json()["results"]
    [own] = mine.get("/api/tickets/?search=rebooted").json()["results"]

    assert "<mark>router</mark>" in row["search_snippet"]
    assert "<i>" not in row["search_snippet"]  # the text's own markup never comes through
    assert "vendor" not in own["search_snippet"]  # requesters see the public part only
    assert "<mark>Rebooted</mark>" in own["search_snippet"]
    [plain] = agent_api.get("/api/tickets/").json()["results"]
    assert plain["search_snippet"] is None


def test_the_admin_list_shows_the_best_match_first_until_a_column_is_chosen(
    agent_client: Client, requester: User, agent: User, workflow: Workflow
) -> None:
    # Oldest first: title, comment, description; so rank, age and key orders all differ.
    in_title = new_ticket(requester, title="Router down")
    in_comment = new_ticket(requester, title="Mail problem")
    services.comment_create(ticket=in_comment, author=agent, body="Rebooted the router.")
    in_description = new_ticket(requester, title="Slow", description="since the router reboot")

    ranked = agent_client.get(url("ticket_changelist"), {"q": "router"})
    by_key = agent_client.get(url("ticket_changelist"), {"q": "router", "o": "1"})

    assert rows(ranked) == [in_title, in_description, in_comment]
    assert rows(by_key) == [in_title, in_comment, in_description]


def test_the_found_column_is_there_only_while_searching(
    agent_client: Client, requester: User, workflow: Workflow
) -> None:
    new_ticket(requester, title="Router down")

    searching = agent_client.get(url("ticket_changelist"), {"q": "router"}).content.decode()
    listing = agent_client.get(url("ticket_changelist")).content.decode()

    assert "column-column_search" in searching
    assert "column-column_search" not in listing


def test_the_api_pages_search_results_by_cursor_without_repeats(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    tickets = [new_ticket(requester, title=f"Router {n}") for n in range(5)]
    tickets += [new_ticket(requester, title="Other", description="router") for _ in range(2)]

    seen: list[str] = []
    page = agent_api.get("/api/tickets/?search=router&page_size=3")
    while True:
        assert page.status_code == 200
        seen += keys(page)
        if not page.json()["next"]:
            break
        page = agent_api.get(page.json()["next"])

    assert sorted(seen) == sorted(t.key for t in tickets)
    assert len(seen) == len(set(seen))
    assert seen[-2:] == [t.key for t in reversed(tickets[5:])]  # description matches last


# --- what requesters may find ------------------------------------------------------------
def test_internal_comments_never_match_for_requesters(
    requester: User, agent: User, requester_api: APIClient, agent_api: APIClient, workflow: Workflow
) -> None:
    ticket = new_ticket(requester, title="Laptop")
    services.comment_create(
        ticket=ticket, author=agent, body="Vendor escalation ref zanzibar", is_internal=True
    )
    services.comment_create(ticket=ticket, author=agent, body="We ordered a new battery.")

    assert keys(requester_api.get("/api/tickets/?search=zanzibar")) == []
    assert keys(requester_api.get('/api/tickets/?search="escalation ref"')) == []
    assert keys(requester_api.get("/api/tickets/?search=zanz*")) == []
    assert keys(requester_api.get("/api/tickets/?search=battery")) == [ticket.key]
    # A word of the public text and one of the internal note: not found either.
    assert keys(requester_api.get("/api/tickets/?search=battery zanzibar")) == []
    assert keys(agent_api.get("/api/tickets/?search=zanzibar")) == [ticket.key]
    snippet = snippets([ticket.pk], TicketSearch.build("battery", internal=False))[ticket.pk]
    assert "zanzibar" not in snippet
    assert "<mark>battery</mark>" in snippet


def test_requesters_find_only_their_own_tickets(
    requester: User, other_requester: User, requester_api: APIClient, workflow: Workflow
) -> None:
    mine = new_ticket(requester, title="Printer jammed")
    new_ticket(other_requester, title="Printer jammed too")

    assert keys(requester_api.get("/api/tickets/?search=printer")) == [mine.key]


# --- the query syntax ----------------------------------------------------------------------
def test_phrase_prefix_exclusion_and_or(requester: User, workflow: Workflow) -> None:
    reset = new_ticket(requester, title="Password reset link expired")
    link = new_ticket(requester, title="Link to the reset page", description="password")
    printer = new_ticket(requester, title="Printer offline")

    assert set(found("password reset")) == {reset, link}
    assert found('"reset link"') == [reset]
    assert found('"password reset" -expired') == []
    assert found("password -expired") == [link]
    assert set(found("print*")) == {printer}
    assert set(found("printer or expired")) == {printer, reset}
    assert found("-password") == []  # only an exclusion: nothing to look for


def test_the_parser_reads_the_web_syntax() -> None:
    parsed = search_query.parse('vpn "reset link" -mac conn* or wifi')
    assert parsed.normalized() == 'vpn "reset link" -mac conn* or wifi'
    assert [(t.text, t.negated, t.phrase, t.prefix) for t in parsed.terms] == [
        ("vpn", False, False, False),
        ("reset link", False, True, False),
        ("mac", True, False, False),
        ("conn", False, False, True),
        ("wifi", False, False, False),
    ]
    assert search_query.parse("a*").terms[0].prefix is False  # too short to be a prefix
    assert search_query.parse("-vpn").has_positive_terms is False
    sql, params = search_query.tsquery_sql(search_query.parse("it's conn*"), "english")
    assert params == ["it's", "'conn':*"]  # what was typed is a parameter, never SQL
    assert "it's" not in sql


def test_odd_input_is_searched_not_an_error(
    agent_api: APIClient, requester: User, workflow: Workflow
) -> None:
    new_ticket(requester, title="Disk 100% full")
    for text in ["'", '"', "!!", "&|", ":*", "a:*", "(", "-", "*", "x" * 5000, "\\", "NF-0"]:
        response = agent_api.get("/api/tickets/", {"search": text})
        assert response.status_code == 200, text
    assert len(keys(agent_api.get("/api/tickets/", {"search": "100%"}))) == 1


def test_keys_and_requesters_still_find_their_tickets(
    agent: User, workflow: Workflow, requester: User
) -> None:
    carol = User.objects.create(
        username="carol", email="carol@example.com", first_name="Carol", last_name="Jones"
    )
    hers = new_ticket(carol, title="VPN drops")
    mention = new_ticket(requester, title="VPN too", description="same as carol")
    other = new_ticket(requester, title="Unrelated")

    assert found(hers.key.lower()) == [hers]
    assert set(found("carol")) == {hers, mention}
    assert found("carol@example.com") == [hers]
    assert set(found("vpn jones")) == {hers}
    assert other not in found("vpn")


# --- combined with filters and views -------------------------------------------------------
def test_search_combines_with_the_api_filters(
    agent_api: APIClient, requester: User, agent: User, workflow: Workflow
) -> None:
    urgent = new_ticket(requester, title="VPN down", priority=Priority.URGENT)
    new_ticket(requester, title="VPN slow", priority=Priority.LOW)
    assigned = new_ticket(requester, title="VPN flaky")
    services.ticket_assign(ticket=assigned, assignee=agent, actor=agent)

    assert keys(agent_api.get("/api/tickets/?search=vpn&priority=URGENT")) == [urgent.key]
    assert keys(agent_api.get(f"/api/tickets/?search=vpn&assignee={agent.pk}")) == [assigned.key]


def test_search_combines_with_the_admin_filters(
    agent_client: Client, requester: User, workflow: Workflow
) -> None:
    urgent = new_ticket(requester, title="VPN down", priority=Priority.URGENT)
    new_ticket(requester, title="VPN slow", priority=Priority.LOW)

    page = agent_client.get(url("ticket_changelist"), {"q": "vpn", "priority__exact": "URGENT"})

    assert rows(page) == [urgent]


# --- kept in the writing transaction ---------------------------------------------------------
def test_a_comment_is_searchable_at_once_and_a_rollback_leaves_the_documents(
    requester: User, agent: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester, title="Laptop")
    before = stored(ticket)
    assert "laptop" in (before[0] or "")
    seen_inside: list[list[Ticket]] = []

    def reply_then_fail() -> None:
        with transaction.atomic():
            services.comment_create(ticket=ticket, author=agent, body="Replaced the keyboard.")
            seen_inside.append(found("keyboard"))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        reply_then_fail()

    assert seen_inside == [[ticket]]  # searchable inside the writing transaction
    assert stored(ticket) == before
    assert found("keyboard") == []
    services.ticket_update(ticket=ticket, actor=agent, data={"title": "Docking station"})
    assert found("docking") == [ticket]
    assert found("laptop") == []


def test_a_save_of_a_ticket_loaded_earlier_keeps_the_newer_document(
    requester: User, agent: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester, title="Laptop")
    stale = Ticket.objects.get(pk=ticket.pk)
    services.comment_create(ticket=ticket, author=agent, body="Replaced the keyboard.")

    stale.save()

    assert found("keyboard") == [ticket]


def test_a_merge_reindexes_the_source_and_the_target(
    requester: User, agent: User, workflow: Workflow
) -> None:
    source = new_ticket(requester, title="Duplicate")
    target = new_ticket(requester, title="Original")
    comment = services.comment_create(ticket=source, author=agent, body="Serial XK42 noted.")
    assert found("xk42") == [source]

    with transaction.atomic():
        Comment.objects.filter(pk=comment.pk).update(ticket=target)
        publish(
            TicketEvent(
                type=TICKET_MERGED,
                ticket=source,
                actor=agent,
                occurred_at=timezone.now(),
                payload={"into_id": target.pk, "comment_ids": [comment.pk]},
            )
        )

    assert found("xk42") == [target]


# --- backfill and bulk loading ---------------------------------------------------------------
def test_the_backfill_writes_missing_documents_in_batches(
    requester: User, agent: User, workflow: Workflow
) -> None:
    tickets = [new_ticket(requester, title=f"Router {n}") for n in range(5)]
    services.comment_create(ticket=tickets[0], author=agent, body="Firmware", is_internal=True)
    Ticket.objects.filter(pk__in=[t.pk for t in tickets[:4]]).update(
        search_agent=None, search_public=None
    )
    kept = stored(tickets[4])
    assert len(found("router")) == 1

    out = StringIO()
    call_command("backfill_search", "--batch-size=2", stdout=out)

    assert "of 4 tickets" in out.getvalue()
    assert len(found("router")) == 5
    assert found("firmware") == [tickets[0]]
    assert found("firmware", internal=False) == []
    assert stored(tickets[4]) == kept
    call_command("backfill_search", "--all", stdout=out)
    assert "of 5 tickets" in out.getvalue()


def test_refresh_caps_a_huge_conversation_instead_of_failing(
    requester: User, agent: User, workflow: Workflow
) -> None:
    ticket = new_ticket(requester, title="Logs")
    words = " ".join(f"w{n}x{n * 7}" for n in range(100_000))  # 1.2 MB of distinct words
    services.comment_create(ticket=ticket, author=agent, body=words)
    services.comment_create(ticket=ticket, author=agent, body="final answer")

    assert refresh_documents([ticket.pk]) == 1
    assert found("logs") == [ticket]


# --- the admin list ----------------------------------------------------------------------
def test_the_admin_search_shows_snippets_in_a_constant_number_of_queries(
    agent_client: Client, requester: User, agent: User, workflow: Workflow
) -> None:
    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = agent_client.get(url("ticket_changelist"), {"q": "router"})
        assert response.status_code == 200
        return len(queries)

    first = new_ticket(requester, title="Mail")
    services.comment_create(ticket=first, author=agent, body="Restarted the router <b>x</b>.")
    few = page_queries()
    for n in range(6):
        new_ticket(requester, title=f"Router {n}")
    page = agent_client.get(url("ticket_changelist"), {"q": "router"})

    assert page_queries() == few
    html = page.content.decode()
    assert "Restarted the <mark>router</mark>" in html
    assert "<b>x</b>" not in html  # the text's markup never reaches the page
    assert set(rows(page)) == set(Ticket.objects.all())


# --- in a browser ------------------------------------------------------------------------
SCREENSHOTS = Path(os.environ.get("NIXFLOW_SCREENSHOTS", "/tmp"))  # noqa: S108 -- test output


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_admin_list_highlights_where_the_words_were_found(
    browser: WebDriver, live_server: object, requester: User, workflow: Workflow
) -> None:
    agent = UserFactory(username="searcher", role=Role.AGENT)
    ticket = new_ticket(requester, title="Mail stopped", description="Since Monday morning.")
    services.comment_create(
        ticket=ticket,
        author=agent,
        body="Checked the mail server: the SMTP relay refuses our certificate since Monday.",
    )
    new_ticket(requester, title="SMTP relay setup for the scanner")
    login(browser, live_server.url, agent.username, PASSWORD)  # type: ignore[attr-defined]

    for width in (1440, 375):
        browser.set_window_size(width, 900)
        browser.get(f"{live_server.url}/admin/nixflow/ticket/?q=%22smtp+relay%22")  # type: ignore[attr-defined]
        marks = browser.find_elements(By.CSS_SELECTOR, "#result_list mark")
        browser.save_screenshot(str(SCREENSHOTS / f"ticket_search_{width}.png"))
        assert [m.text.lower() for m in marks][:2] == ["smtp", "relay"]
    listed = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(listed) == 2


def test_common_words_are_found_by_walking_the_newest_tickets(
    monkeypatch: pytest.MonkeyPatch, requester: User, workflow: Workflow
) -> None:
    monkeypatch.setattr(search_module, "WINDOW", 4)
    tickets = [new_ticket(requester, title=f"Pickup rollers worn {n}") for n in range(12)]
    new_ticket(requester, title="Rollers and a pickup")  # both words, not the phrase
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE nixflow_ticket")

    with CaptureQueriesContext(connection) as queries:
        listed = found('"pickup rollers"')

    assert set(listed) == set(tickets[-4:])  # the newest window of matches
    assert any(f"LIMIT {search_module.WALK_LIMIT}" in q["sql"] for q in queries)
    assert found("quokka") == []


def test_the_merge_service_moves_what_the_search_finds(
    requester: User, agent: User, workflow: Workflow
) -> None:
    source = new_ticket(requester, title="Duplicate")
    target = new_ticket(requester, title="Original")
    services.comment_create(ticket=source, author=agent, body="Serial QZ77 noted.")

    services.ticket_merge(sources=[source], target=target, actor=agent)

    assert found("qz77") == [target]
    assert found("qz77", internal=False) == [target]
