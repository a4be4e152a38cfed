"""The ticket page's reply composer and its conversation timeline: every button of the
composer through the services (send, send and set a stage, internal notes, files, the
reopen question, the stale-reply refusal, composer tools), the timeline's content and
order, history values shown as dates, and the service ``ticket_reply`` itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from eventlog.models import EventLog
from nixflow import events, services
from nixflow.admin.tickets import shown_value, system_line
from nixflow.models import Comment, HistoryLog, Priority, Role, Stage, Ticket, User
from nixflow.services import replies
from nixflow.toolkit.composer import (
    ComposerTool,
    Draft,
    register_composer_tool,
    unregister_composer_tool,
)
from tests.factories import UserFactory
from tests.helpers import history

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(agent: User, requester: User, workflow: Any) -> Ticket:
    return services.ticket_create(requester=requester, title="Printer on fire", actor=requester)


def page_url(ticket: Ticket) -> str:
    return reverse("admin:nixflow_ticket_change", args=[ticket.pk])


def reply_url(ticket: Ticket) -> str:
    return reverse("admin:nixflow_ticket_reply", args=[ticket.pk])


def seen(client: Client, ticket: Ticket) -> int:
    """The newest comment id the composer carries, as the page the agent loaded has it."""
    page = client.get(page_url(ticket))
    assert page.status_code == 200
    return int(page.context["composer"].form.initial["seen_comment"])


def post(client: Client, ticket: Ticket, action: str = "send", **data: Any) -> Any:
    fields = {"visibility": "public", "seen_comment": seen(client, ticket), "action": action}
    fields.update(data)
    return client.post(reply_url(ticket), fields)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def composer(response: Any) -> Any:
    assert response.status_code == 200
    return response.context["composer"]


# --- the page ----------------------------------------------------------------------------
def test_the_page_has_the_composer_instead_of_the_comment_inline(
    agent_client: Client, ticket: Ticket
) -> None:
    page = agent_client.get(page_url(ticket)).content.decode()

    assert '<form id="reply-composer"' in page
    assert 'name="reply_body"' in page
    assert "New comment" not in page
    assert "add a comment" not in page.lower()
    # One button per action: send, and one per stage the workflow allows from New.
    buttons = re.findall(r'<button type="submit" name="action" value="([^"]+)"[^>]*>([^<]+)<', page)
    labels = [label for value, label in buttons if not value.startswith("insert:")]
    assert labels == [
        "Send",
        "Send and set Open",
        "Send and set Waiting on requester",
        "Send and resolve",
        "Send and close",
    ]
    assert 'src="/static/nixflow/admin/composer.js"' in page
    assert "<script>" not in page.split('id="reply-composer"')[1]


# --- sending -----------------------------------------------------------------------------
def test_send_posts_a_public_reply_and_says_it_was_mailed(
    agent_client: Client, agent: User, ticket: Ticket, requester: User
) -> None:
    response = post(agent_client, ticket, reply_body="Turn it off\r\nand on.")

    assert response.status_code == 302
    comment = Comment.objects.get(ticket=ticket)
    assert (comment.author, comment.is_internal, comment.body) == (
        agent,
        False,
        "Turn it off\nand on.",
    )
    ticket.refresh_from_db()
    assert ticket.first_response_at == comment.created
    assert ticket.stage.name == "New"
    shown = messages_of(agent_client.get(response["Location"]))
    assert shown == [f"Reply sent to {requester.email}."]


def test_a_public_reply_the_mail_will_not_carry_says_so(
    agent_client: Client, ticket: Ticket, requester: User
) -> None:
    requester.email = ""
    requester.save()

    response = post(agent_client, ticket, reply_body="Hello")

    shown = messages_of(agent_client.get(response["Location"]))
    assert shown == [f"Public reply added to {ticket.key}; no mail goes to the requester."]


def test_the_sent_message_follows_the_mail_subscriber(
    agent_client: Client, ticket: Ticket, requester: User
) -> None:
    """The mail goes out through email_integration's subscriber: without it, no mail."""
    from eventlog import subscribers

    saved = subscribers._registry["ticket.commented"].pop(replies.MAIL_SUBSCRIBER)
    try:
        response = post(agent_client, ticket, reply_body="Hello")
    finally:
        subscribers._registry["ticket.commented"][replies.MAIL_SUBSCRIBER] = saved

    assert "no mail goes to the requester" in messages_of(agent_client.get(response["Location"]))[0]


def test_an_internal_note_is_not_mailed_nor_a_first_response(
    agent_client: Client, ticket: Ticket
) -> None:
    response = post(agent_client, ticket, reply_body="Escalate?", visibility="internal")

    assert response.status_code == 302
    assert Comment.objects.get(ticket=ticket).is_internal
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert messages_of(agent_client.get(response["Location"])) == [
        f"Internal note added to {ticket.key}."
    ]


def test_send_and_set_stage_is_one_action_with_one_history_row_per_field(
    agent_client: Client, agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    before = len(history(ticket))
    waiting = stages["Waiting on requester"]

    response = post(agent_client, ticket, f"stage:{waiting.pk}", reply_body="Which printer?")

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.stage == waiting
    assert history(ticket)[before:] == [
        ("first_response_at", "", ticket.first_response_at.isoformat()),
        ("stage", "New", "Waiting on requester"),
    ]
    types = list(
        EventLog.objects.filter(ticket_key=ticket.key).order_by("id").values_list("type", flat=True)
    )
    assert types[-2:] == [events.TICKET_COMMENTED, events.TICKET_TRANSITIONED]
    assert messages_of(agent_client.get(response["Location"])) == [
        f"Reply sent to {ticket.requester.email}. {ticket.key} is now Waiting on requester."
    ]


def test_send_and_resolve(agent_client: Client, ticket: Ticket, stages: dict[str, Stage]) -> None:
    response = post(agent_client, ticket, f"stage:{stages['Resolved'].pk}", reply_body="Fixed.")

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.stage.name == "Resolved"
    assert ticket.resolved_at is not None


def test_a_stage_of_another_workflow_is_refused_and_nothing_is_saved(
    agent_client: Client, ticket: Ticket
) -> None:
    from tests.factories import WorkflowFactory

    elsewhere = WorkflowFactory(stages=["A", "B"]).stages.first()

    response = post(agent_client, ticket, f"stage:{elsewhere.pk}", reply_body="Hello")

    assert composer(response).errors == ["That stage is not in this ticket's workflow."]
    assert not Comment.objects.filter(ticket=ticket).exists()


def test_an_empty_reply_is_refused_with_the_text_kept(agent_client: Client, ticket: Ticket) -> None:
    response = post(agent_client, ticket, reply_body="   ")

    assert composer(response).errors == ["A comment needs a body."]
    assert not Comment.objects.filter(ticket=ticket).exists()
    # The page shown again keeps the ticket's own form posting to the ticket's page.
    assert (
        f'action="{page_url(ticket)}" method="post" id="ticket_form"' in response.content.decode()
    )


def test_attachments_go_with_the_reply_and_are_linked_in_the_timeline(
    agent_client: Client, ticket: Ticket
) -> None:
    upload = SimpleUploadedFile("steps.txt", b"1. off\n2. on\n")

    response = post(agent_client, ticket, reply_body="Steps attached.", attachments=upload)

    assert response.status_code == 302
    comment = Comment.objects.get(ticket=ticket)
    assert [a.filename for a in comment.attachments.all()] == ["steps.txt"]
    page = agent_client.get(page_url(ticket)).content.decode()
    link = re.search(r'<a href="([^"]+)">steps\.txt</a>', page).group(1)
    download = agent_client.get(link)
    assert b"".join(download.streaming_content) == b"1. off\n2. on\n"


def test_attachments_over_the_limit_are_refused_and_nothing_is_saved(
    agent_client: Client, ticket: Ticket, settings: Settings, stages: dict[str, Stage]
) -> None:
    settings.NIXFLOW_MAX_ATTACHMENT_BYTES = 10
    upload = SimpleUploadedFile("big.log", b"x" * 11)

    response = post(
        agent_client, ticket, f"stage:{stages['Open'].pk}", reply_body="Log.", attachments=upload
    )

    assert composer(response).errors == [
        "big.log is 11 bytes; the limit is 10 bytes per file.",
        "Nothing was sent: choose the files again before sending.",
    ]
    assert composer(response).form["reply_body"].value() == "Log."
    ticket.refresh_from_db()
    assert ticket.stage.name == "New"
    assert not Comment.objects.filter(ticket=ticket).exists()


# --- a closed ticket ---------------------------------------------------------------------
@pytest.fixture
def closed(ticket: Ticket, agent: User, stages: dict[str, Stage]) -> Ticket:
    return services.ticket_transition(ticket=ticket, to_stage=stages["Closed"], actor=agent)


def test_a_reply_on_a_closed_ticket_asks_whether_to_reopen(
    agent_client: Client, closed: Ticket, stages: dict[str, Stage]
) -> None:
    response = post(agent_client, closed, reply_body="One more thing")

    state = composer(response)
    assert (
        state.notice
        == f"{closed.key} is Closed. Reopen it with your reply, or send without reopening."
    )
    assert state.reopen == [
        (f"stage:{stages['Open'].pk}", "Send and reopen"),
        ("keep", "Send without reopening"),
    ]
    assert state.form["reply_body"].value() == "One more thing"
    assert not Comment.objects.filter(ticket=closed).exists()
    # The page's own buttons offer the reopen too.
    assert (f"stage:{stages['Open'].pk}", "Send and reopen") in state.actions


def test_send_and_reopen(agent_client: Client, closed: Ticket, stages: dict[str, Stage]) -> None:
    response = post(agent_client, closed, f"stage:{stages['Open'].pk}", reply_body="Reopening")

    assert response.status_code == 302
    closed.refresh_from_db()
    assert closed.stage.name == "Open"
    assert closed.closed_at is None
    assert Comment.objects.filter(ticket=closed).count() == 1


def test_send_without_reopening_is_an_explicit_choice(agent_client: Client, closed: Ticket) -> None:
    response = post(agent_client, closed, "keep", reply_body="For the record")

    assert response.status_code == 302
    closed.refresh_from_db()
    assert closed.stage.name == "Closed"
    assert Comment.objects.get(ticket=closed).body == "For the record"


def test_a_resolved_ticket_asks_too(
    agent_client: Client, ticket: Ticket, agent: User, stages: dict[str, Stage]
) -> None:
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)

    state = composer(post(agent_client, ticket, reply_body="Hm"))

    assert [label for _, label in state.reopen] == [
        "Send and reopen",
        "Send and close",
        "Send without reopening",
    ]


# --- stale replies -----------------------------------------------------------------------
def test_a_reply_after_a_new_public_comment_is_held_with_the_comment_shown_first(
    agent_client: Client, agent: User, ticket: Ticket, requester: User
) -> None:
    loaded = seen(agent_client, ticket)
    services.comment_create(ticket=ticket, author=requester, body="Never mind, it works!")

    response = agent_client.post(
        reply_url(ticket),
        {"visibility": "public", "seen_comment": loaded, "action": "send", "reply_body": "Try X"},
    )

    state = composer(response)
    assert state.notice.startswith("1 new public comment arrived since you opened the ticket.")
    assert [e.text for e in state.new_comments] == ["Never mind, it works!"]
    assert state.confirm == ("confirm:send", "Send anyway")
    assert state.form["reply_body"].value() == "Try X"
    html = response.content.decode()
    assert html.index("Never mind, it works!", html.index('id="reply-composer"')) < html.index(
        'name="reply_body"'
    )
    assert Comment.objects.filter(ticket=ticket).count() == 1

    # "Send anyway" sends.
    response = agent_client.post(
        reply_url(ticket),
        {
            "visibility": "public",
            "seen_comment": loaded,
            "action": "confirm:send",
            "reply_body": "Try X",
        },
    )
    assert response.status_code == 302
    assert Comment.objects.filter(ticket=ticket, author=agent).get().body == "Try X"


def test_new_internal_notes_or_own_comments_do_not_hold_a_reply(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    loaded = seen(agent_client, ticket)
    colleague = UserFactory(role=Role.AGENT)
    services.comment_create(ticket=ticket, author=colleague, body="note", is_internal=True)
    services.comment_create(ticket=ticket, author=agent, body="mine, from another tab")

    response = agent_client.post(
        reply_url(ticket),
        {"visibility": "public", "seen_comment": loaded, "action": "send", "reply_body": "ok"},
    )

    assert response.status_code == 302


def test_the_service_refuses_a_stale_reply_unless_confirmed(
    agent: User, ticket: Ticket, requester: User
) -> None:
    first = services.comment_create(ticket=ticket, author=requester, body="one")
    services.comment_create(ticket=ticket, author=requester, body="two")

    with pytest.raises(replies.StaleReply) as refused:
        replies.ticket_reply(
            ticket=ticket, author=agent, body="x", is_internal=False, seen_comment_id=first.pk
        )
    assert [c.body for c in refused.value.comments] == ["two"]

    reply = replies.ticket_reply(
        ticket=ticket,
        author=agent,
        body="x",
        is_internal=False,
        seen_comment_id=first.pk,
        confirmed=True,
    )
    assert reply.comment.body == "x"


# --- composer tools ----------------------------------------------------------------------
@pytest.fixture
def canned(stages: dict[str, Stage]) -> Iterator[list[tuple[str, str]]]:
    """A composer tool registered here, as the macros app registers its own: "thanks"
    drafts a public reply and moves the ticket to Open on send; "broken" drafts a note
    whose changes the workflow refuses; "secret" is refused outright."""
    sent: list[tuple[str, str]] = []

    def choices(request: HttpRequest, ticket: Ticket) -> list[tuple[str, str]]:
        return [("thanks", "Thanks"), ("broken", "Broken"), ("secret", "Secret")]

    def draft(request: HttpRequest, ticket: Ticket, value: str) -> Draft:
        if value == "secret":
            raise ValidationError("You may not use this one.")
        if value == "broken":
            return Draft(body="Checking internally.", is_internal=True, changes=["Stage → Closed"])
        return Draft(body=f"Thanks for {ticket.key}!", changes=["Stage → Open"])

    def on_send(request: HttpRequest, ticket: Ticket, value: str) -> list[str]:
        sent.append((ticket.key, value))
        target = stages["Open"] if value == "thanks" else stages["New"]  # New: not allowed
        services.ticket_transition(ticket=ticket, to_stage=target, actor=request.user)
        return [f"Stage → {target.name}"]

    register_composer_tool(
        ComposerTool(name="canned", label="Canned", choices=choices, draft=draft, on_send=on_send)
    )
    yield sent
    unregister_composer_tool("canned")


def test_insert_without_javascript_fills_the_draft_and_keeps_the_choice(
    agent_client: Client, ticket: Ticket, canned: list[tuple[str, str]]
) -> None:
    response = post(agent_client, ticket, "insert:canned", reply_body="Hi,", tool_canned="thanks")

    state = composer(response)
    assert state.form["reply_body"].value() == f"Hi,\n\nThanks for {ticket.key}!"
    assert state.form["composer_canned"].value() == "thanks"
    assert state.tool_changes == ["Canned: Stage → Open"]
    html = response.content.decode()
    assert '<input type="hidden" name="composer_canned" value="thanks"' in html
    assert not Comment.objects.filter(ticket=ticket).exists()
    assert canned == []


def test_a_refused_draft_is_shown(
    agent_client: Client, ticket: Ticket, canned: list[tuple[str, str]]
) -> None:
    state = composer(post(agent_client, ticket, "insert:canned", tool_canned="secret"))

    assert state.errors == ["You may not use this one."]


def test_sending_runs_the_tools_changes_in_the_replys_transaction(
    agent_client: Client, ticket: Ticket, canned: list[tuple[str, str]]
) -> None:
    response = post(agent_client, ticket, reply_body="Thanks!", composer_canned="thanks")

    assert response.status_code == 302
    assert canned == [(ticket.key, "thanks")]
    ticket.refresh_from_db()
    assert ticket.stage.name == "Open"
    assert messages_of(agent_client.get(response["Location"])) == [
        f"Reply sent to {ticket.requester.email}. Canned: Stage → Open."
    ]


def test_a_tool_that_fails_on_send_rolls_the_reply_back(
    agent_client: Client, ticket: Ticket, canned: list[tuple[str, str]], stages: dict[str, Stage]
) -> None:
    before = len(history(ticket))

    response = post(
        agent_client,
        ticket,
        f"stage:{stages['Open'].pk}",
        reply_body="Checking.",
        visibility="internal",
        composer_canned="broken",
    )

    state = composer(response)
    assert state.errors
    assert "cannot move from 'Open' to 'New'" in state.errors[0]
    assert state.form["reply_body"].value() == "Checking."
    assert not Comment.objects.filter(ticket=ticket).exists()
    ticket.refresh_from_db()
    assert ticket.stage.name == "New"
    assert len(history(ticket)) == before


def test_the_draft_view_answers_json_for_the_script(
    agent_client: Client, ticket: Ticket, canned: list[tuple[str, str]]
) -> None:
    url = reverse("admin:nixflow_ticket_reply_draft", args=[ticket.pk])

    ok = agent_client.get(url, {"tool": "canned", "value": "thanks"})
    refused = agent_client.get(url, {"tool": "canned", "value": "secret"})
    unknown = agent_client.get(url, {"tool": "nope", "value": "x"})

    assert ok.json() == {
        "body": f"Thanks for {ticket.key}!",
        "is_internal": False,
        "changes": ["Canned: Stage → Open"],
    }
    assert (refused.status_code, refused.json()) == (400, {"error": "You may not use this one."})
    assert unknown.status_code == 400


def test_requesters_cannot_reply_through_the_admin(
    client: Client, requester: User, ticket: Ticket
) -> None:
    requester.is_staff = True
    requester.save()
    client.force_login(requester)

    response = client.post(reply_url(ticket), {"reply_body": "x", "visibility": "internal"})

    assert response.status_code == 403
    assert not Comment.objects.filter(ticket=ticket).exists()


# --- the timeline ------------------------------------------------------------------------
def test_the_timeline_shows_comments_notes_and_changes_without_captions(
    agent_client: Client, agent: User, ticket: Ticket, requester: User, stages: dict[str, Stage]
) -> None:
    agent.first_name, agent.last_name = "Alice", "Agent"
    agent.save()
    services.comment_create(ticket=ticket, author=requester, body="It smokes.")
    services.comment_create(ticket=ticket, author=agent, body="Call facilities", is_internal=True)
    services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.URGENT})
    services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)

    response = agent_client.get(page_url(ticket))

    entries = [(e.kind, e.who, e.text) for e in response.context["timeline"]]
    requester_name = requester.get_full_name() or requester.username
    assert entries == [
        ("system", requester_name, "Opened the ticket"),
        ("system", requester_name, "Stage: New"),
        ("public", requester_name, "It smokes."),
        ("internal", "Alice Agent", "Call facilities"),
        ("system", "Alice Agent", f"Assigned to {agent.username}"),
        ("system", "Alice Agent", "Priority: Normal → Urgent"),
        ("system", "Alice Agent", "Stage: New → Open"),
    ]
    html = response.content.decode()
    assert 'class="nf-entry nf-entry-internal"' in html
    assert "Internal note</span>" in html
    assert "Public reply</span>" in html
    assert re.search(r"Comment \d+ on NF-", html) is None
    note = Comment.objects.get(is_internal=True)
    local = timezone.localtime(note.created)
    assert local.strftime("%H:%M") in response.context["timeline"][3].when


def test_the_timeline_shows_times_in_the_viewers_time_zone(
    agent_client: Client, agent: User, ticket: Ticket, requester: User
) -> None:
    agent.time_zone = "Asia/Tokyo"
    agent.save()
    comment = services.comment_create(ticket=ticket, author=requester, body="Hi")
    Comment.objects.filter(pk=comment.pk).update(created=datetime(2026, 12, 6, 22, 25, tzinfo=UTC))

    timeline = agent_client.get(page_url(ticket)).context["timeline"]

    assert [e.when for e in timeline if e.kind == "public"] == ["7 Dec 2026, 07:25"]


def test_the_order_toggle_is_remembered_in_the_session(
    agent_client: Client, agent: User, ticket: Ticket, requester: User
) -> None:
    services.comment_create(ticket=ticket, author=requester, body="first")
    services.comment_create(ticket=ticket, author=agent, body="second")

    def bodies(response: Any) -> list[str]:
        return [e.text for e in response.context["timeline"] if e.kind != "system"]

    assert bodies(agent_client.get(page_url(ticket))) == ["first", "second"]
    assert bodies(agent_client.get(page_url(ticket), {"timeline": "newest"})) == ["second", "first"]
    assert bodies(agent_client.get(page_url(ticket))) == ["second", "first"]  # remembered
    assert agent_client.session["nixflow.timeline_newest_first"] is True
    # Newest first, the composer comes before the timeline, next to the newest entry.
    html = agent_client.get(page_url(ticket)).content.decode()
    assert html.index('id="reply-composer"') < html.index('id="nf-timeline-title"')
    assert bodies(agent_client.get(page_url(ticket), {"timeline": "oldest"})) == ["first", "second"]


# --- history values ----------------------------------------------------------------------
def test_history_values_that_are_times_read_as_dates_in_the_viewers_zone(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    agent.time_zone = "Europe/Berlin"
    agent.save()
    HistoryLog.objects.create(
        ticket=ticket,
        actor=agent,
        field="first_response_at",
        old_value="",
        new_value="2026-12-06T22:25:26.439428+00:00",
    )

    html = agent_client.get(page_url(ticket)).content.decode()

    assert "2026-12-06T22:25:26" not in html
    assert "6 Dec 2026, 23:25" in html
    # The stored text is left as it was.
    assert HistoryLog.objects.get(field="first_response_at").new_value.startswith("2026-12-06T22")


def test_shown_value_and_system_lines() -> None:
    assert shown_value("") == "—"
    assert shown_value("2026-12-06T22:25") == "2026-12-06T22:25"  # no zone: not a moment
    assert shown_value("Waiting on requester") == "Waiting on requester"
    row = HistoryLog(field="assignee", old_value="bob", new_value="")
    assert system_line(row) == "Unassigned (was bob)"
    row = HistoryLog(field="tags", old_value="VPN", new_value="VPN, billing")
    assert system_line(row) == "Tags: VPN → VPN, billing"
    row = HistoryLog(field="team", old_value="", new_value="Service desk")
    assert system_line(row) == "Team: Service desk"


def test_the_draft_view_answers_only_get(agent_client: Client, ticket: Ticket) -> None:
    url = reverse("admin:nixflow_ticket_reply_draft", args=[ticket.pk])

    assert agent_client.post(url, {"tool": "x", "value": "y"}).status_code == 405


def test_a_storage_quota_refusal_is_shown_in_the_composer(
    agent_client: Client, ticket: Ticket, settings: Settings
) -> None:
    settings.NIXFLOW_TICKET_STORAGE_QUOTA_BYTES = 5

    response = post(
        agent_client,
        ticket,
        reply_body="More logs.",
        attachments=SimpleUploadedFile("more.log", b"x" * 6),
    )

    state = composer(response)
    assert "ticket's storage quota" in state.errors[0]
    assert not Comment.objects.filter(ticket=ticket).exists()
