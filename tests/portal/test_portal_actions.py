"""What a requester does on their ticket's page: reply (with files), reopen or mark
resolved where the workflow allows it, stop following; and filing a new request."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from nixflow import services
from nixflow.models import Comment, StageCategory, Ticket, TicketWatcher, Transition
from tests.factories import TransitionFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def seen(ticket: Ticket) -> int:
    return Comment.objects.filter(ticket=ticket, is_internal=False).order_by("-pk")[0].pk


def stage_of(ticket: Ticket, category: str) -> Any:
    return ticket.workflow.stages.get(category=category)


# --- replies ----------------------------------------------------------------------------
def test_a_requester_replies_with_a_file_and_downloads_it(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    client = client_for(portal_scene.ana)
    response = client.post(
        f"/portal/tickets/{ticket.key}/reply/",
        {
            "body": "Manual feed works, thanks.",
            "seen": seen(ticket),
            "files": [SimpleUploadedFile("jam.png", PNG, content_type="image/png")],
        },
    )
    assert response.status_code == 302
    comment = Comment.objects.get(ticket=ticket, body="Manual feed works, thanks.")
    assert comment.author == portal_scene.ana
    assert not comment.is_internal
    [file] = comment.attachments.all()
    assert file.filename == "jam.png"
    page = client.get(f"/portal/tickets/{ticket.key}/").content.decode()
    assert "Your reply was sent." in page
    assert f"/portal/tickets/{ticket.key}/files/{file.pk}/" in page
    download = client.get(f"/portal/tickets/{ticket.key}/files/{file.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG  # type: ignore[attr-defined]
    assert download["Content-Disposition"].startswith("attachment")


def test_the_files_of_an_internal_note_are_not_served(portal_scene: Any) -> None:
    [internal] = portal_scene.note.attachments.all()
    client = client_for(portal_scene.ana)
    path = f"/portal/tickets/{portal_scene.ticket.key}/files/{internal.pk}/"
    assert client.get(path).status_code == 404
    # Nor through another ticket's address.
    assert client_for(portal_scene.ben).get(path).status_code == 404


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("invoice.pdf", b"MZ\x90\x00 not a pdf"), "is not a .pdf file"),
        (SimpleUploadedFile("empty.txt", b""), "is empty"),
        (SimpleUploadedFile("run.exe", b"MZ\x90\x00"), "not accepted"),
    ],
)
def test_a_refused_file_keeps_the_text_and_says_why(
    portal_scene: Any, upload: Any, message: str
) -> None:
    ticket = portal_scene.ticket
    before = Comment.objects.filter(ticket=ticket).count()
    response = client_for(portal_scene.ana).post(
        f"/portal/tickets/{ticket.key}/reply/",
        {
            "body": "Here is the scan, with my long explanation.",
            "seen": seen(ticket),
            "files": [upload],
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert "Here is the scan, with my long explanation." in page  # nothing typed is lost
    assert "Choose your files again" in page
    assert Comment.objects.filter(ticket=ticket).count() == before


def test_a_file_over_the_limit_is_refused(portal_scene: Any, settings: Any) -> None:
    settings.NIXFLOW_MAX_ATTACHMENT_BYTES = 10
    ticket = portal_scene.ticket
    response = client_for(portal_scene.ana).post(
        f"/portal/tickets/{ticket.key}/reply/",
        {
            "body": "Big one",
            "seen": seen(ticket),
            "files": [SimpleUploadedFile("a.txt", b"x" * 11)],
        },
    )
    assert response.status_code == 400
    assert "a file can be at most" in response.content.decode()


def test_an_empty_reply_is_refused(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    response = client_for(portal_scene.ana).post(
        f"/portal/tickets/{ticket.key}/reply/", {"body": "   ", "seen": seen(ticket)}
    )
    assert response.status_code == 400
    assert "Write a reply first." in response.content.decode()


def test_a_null_character_is_refused_with_a_message_not_a_database_error(
    portal_scene: Any,
) -> None:
    ticket = portal_scene.ticket
    ana = client_for(portal_scene.ana)
    comments = Comment.objects.count()
    tickets = Ticket.objects.count()

    reply = ana.post(
        f"/portal/tickets/{ticket.key}/reply/", {"body": "Jam\x00med", "seen": seen(ticket)}
    )
    filed = ana.post("/portal/new/", {"subject": "Scanner\x00 slow", "description": "Slow."})

    assert reply.status_code == filed.status_code == 400
    assert "Remove the null character" in reply.content.decode()
    assert "Remove the null character" in filed.content.decode()
    assert (Comment.objects.count(), Ticket.objects.count()) == (comments, tickets)


def test_a_null_character_in_a_search_or_a_subject_to_suggest_for_is_dropped(
    portal_scene: Any,
) -> None:
    ana = client_for(portal_scene.ana)

    for url in (
        "/portal/?status=all&q=jam%00s",
        "/portal/new/?subject=printer%20jams%00",
        "/portal/new/suggestions/?subject=printer%20jams%00",
    ):
        assert ana.get(url).status_code == 200, url
    assert ana.post("/portal/new/", {"subject": "printer\x00", "find": "1"}).status_code == 200


def test_a_reply_written_while_the_desk_answered_is_held_back_once(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    loaded = seen(ticket)
    services.comment_create(ticket=ticket, author=portal_scene.ada, body="Fixed it, try now.")
    client = client_for(portal_scene.ana)
    response = client.post(
        f"/portal/tickets/{ticket.key}/reply/", {"body": "Still broken!", "seen": loaded}
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert "Fixed it, try now." in page
    assert "Still broken!" in page  # kept in the form
    assert not Comment.objects.filter(body="Still broken!").exists()
    again = client.post(
        f"/portal/tickets/{ticket.key}/reply/", {"body": "Still broken!", "seen": seen(ticket)}
    )
    assert again.status_code == 302
    assert Comment.objects.filter(body="Still broken!").exists()


def test_an_internal_note_never_holds_a_reply_back(portal_scene: Any) -> None:
    """The requester must not learn that a note was written: no stale-reply refusal."""
    ticket = portal_scene.ticket
    loaded = seen(ticket)
    services.comment_create(ticket=ticket, author=portal_scene.ada, body="psst", is_internal=True)
    response = client_for(portal_scene.ana).post(
        f"/portal/tickets/{ticket.key}/reply/", {"body": "Any news?", "seen": loaded}
    )
    assert response.status_code == 302


def test_a_watcher_replies_too(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    response = client_for(portal_scene.wes).post(
        f"/portal/tickets/{ticket.key}/reply/", {"body": "Same here.", "seen": seen(ticket)}
    )
    assert response.status_code == 302
    assert Comment.objects.get(body="Same here.").author == portal_scene.wes


# --- reopen, resolve --------------------------------------------------------------------
def test_reopen_is_offered_and_works_where_the_workflow_allows_it(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    resolved, opened = stage_of(ticket, "RESOLVED"), stage_of(ticket, "OPEN")
    services.ticket_transition(ticket=ticket, to_stage=resolved, actor=portal_scene.ada)
    client = client_for(portal_scene.ana)
    page = client.get(f"/portal/tickets/{ticket.key}/").content.decode()
    assert "Reopen request" in page
    assert "Resolved" in page
    response = client.post(
        f"/portal/tickets/{ticket.key}/stage/", {"from": resolved.pk, "to": opened.pk}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.stage == opened
    assert ticket.resolved_at is None


def test_no_reopen_where_the_workflow_forbids_it(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    closed, opened = stage_of(ticket, "CLOSED"), stage_of(ticket, "OPEN")
    services.ticket_transition(ticket=ticket, to_stage=closed, actor=portal_scene.ada)
    client = client_for(portal_scene.ana)
    page = client.get(f"/portal/tickets/{ticket.key}/").content.decode()
    assert "Reopen request" not in page  # Closed → Open is for agents in the default workflow
    assert "This request is closed." in page
    response = client.post(
        f"/portal/tickets/{ticket.key}/stage/", {"from": closed.pk, "to": opened.pk}
    )
    assert response.status_code == 400
    ticket.refresh_from_db()
    assert ticket.stage == closed
    reply = client.post(f"/portal/tickets/{ticket.key}/reply/", {"body": "hello?", "seen": 0})
    assert reply.status_code == 409


def test_mark_resolved_only_with_a_transition_the_requester_may_take(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    new, resolved = ticket.stage, stage_of(ticket, "RESOLVED")
    client = client_for(portal_scene.ana)
    path = f"/portal/tickets/{ticket.key}/"
    assert "Mark as resolved" not in client.get(path).content.decode()
    refused = client.post(f"{path}stage/", {"from": new.pk, "to": resolved.pk})
    assert refused.status_code == 400
    Transition.objects.filter(from_stage=new, to_stage=resolved).update(requester_allowed=True)
    assert "Mark as resolved" in client.get(path).content.decode()
    # A watcher gets no such button and cannot take it.
    assert "Mark as resolved" not in client_for(portal_scene.wes).get(path).content.decode()
    assert (
        client_for(portal_scene.wes)
        .post(f"{path}stage/", {"from": new.pk, "to": resolved.pk})
        .status_code
        == 400
    )
    done = client.post(f"{path}stage/", {"from": new.pk, "to": resolved.pk})
    assert done.status_code == 302
    ticket.refresh_from_db()
    assert ticket.stage == resolved


def test_a_stale_stage_button_is_refused(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    resolved, opened = stage_of(ticket, "RESOLVED"), stage_of(ticket, "OPEN")
    services.ticket_transition(ticket=ticket, to_stage=resolved, actor=portal_scene.ada)
    services.ticket_transition(ticket=ticket, to_stage=opened, actor=portal_scene.ada)
    # The page the requester loaded showed it resolved, with "Reopen".
    response = client_for(portal_scene.ana).post(
        f"/portal/tickets/{ticket.key}/stage/", {"from": resolved.pk, "to": opened.pk}
    )
    assert response.status_code == 409
    assert "changed since you opened it" in response.content.decode()


def test_a_custom_workflow_reopen_to_a_waiting_stage(db: None) -> None:
    from tests.factories import UserFactory, WorkflowFactory

    flow = WorkflowFactory(stages=["Received", "Working", "Done"])
    done = flow.stages.get(name="Done")
    working = flow.stages.get(name="Working")
    TransitionFactory(workflow=flow, from_stage=done, to_stage=working, requester_allowed=True)
    zoe = UserFactory(username="zoe")
    ticket = services.ticket_create(requester=zoe, title="Custom", workflow=flow, actor=zoe)
    Ticket.objects.filter(pk=ticket.pk).update(stage=done)
    page = client_for(zoe).get(f"/portal/tickets/{ticket.key}/").content.decode()
    assert "Reopen request" in page
    assert done.category == StageCategory.RESOLVED


# --- following --------------------------------------------------------------------------
def test_a_watcher_stops_following_and_loses_the_ticket(portal_scene: Any) -> None:
    ticket = portal_scene.ticket
    client = client_for(portal_scene.wes)
    assert "Stop following" in client.get(f"/portal/tickets/{ticket.key}/").content.decode()
    response = client.post(f"/portal/tickets/{ticket.key}/unwatch/")
    assert response.status_code == 302
    assert not TicketWatcher.objects.filter(ticket=ticket, user=portal_scene.wes).exists()
    assert client.get(f"/portal/tickets/{ticket.key}/").status_code == 404


def test_the_requester_cannot_stop_following_their_own(portal_scene: Any) -> None:
    client = client_for(portal_scene.ana)
    page = client.get(f"/portal/tickets/{portal_scene.ticket.key}/").content.decode()
    assert "Stop following" not in page
    assert client.post(f"/portal/tickets/{portal_scene.ticket.key}/unwatch/").status_code == 400


def test_pages_answer_wrong_methods_with_405(portal_scene: Any) -> None:
    client = client_for(portal_scene.ana)
    key = portal_scene.ticket.key
    assert client.get(f"/portal/tickets/{key}/reply/").status_code == 405
    assert client.post("/portal/").status_code == 405
    assert client.delete("/portal/new/").status_code == 405


# --- new requests -----------------------------------------------------------------------
def test_a_simple_request_with_a_file_is_filed(portal_scene: Any) -> None:
    client = client_for(portal_scene.ben)
    response = client.post(
        "/portal/new/",
        {
            "subject": "Need a second monitor",
            "description": "For the new starter on Monday.",
            "files": [SimpleUploadedFile("desk.png", PNG, content_type="image/png")],
        },
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(title="Need a second monitor")
    assert ticket.requester == portal_scene.ben
    assert ticket.description == "For the new starter on Monday."
    assert ticket.comments.get().attachments.get().filename == "desk.png"
    assert response["Location"] == f"/portal/tickets/{ticket.key}/"


def test_a_request_without_subject_keeps_what_was_typed(portal_scene: Any) -> None:
    response = client_for(portal_scene.ben).post(
        "/portal/new/", {"subject": " ", "description": "Long story about my printer."}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Give your request a subject." in page
    assert "Long story about my printer." in page
    assert not Ticket.objects.filter(description="Long story about my printer.").exists()


def test_simple_requests_can_be_switched_off(portal_scene: Any, settings: Any) -> None:
    settings.PORTAL_SIMPLE_REQUESTS = False
    client = client_for(portal_scene.ben)
    assert 'id="new-description"' not in client.get("/portal/new/").content.decode()
    response = client.post("/portal/new/", {"subject": "x", "description": "y"})
    assert response.status_code == 403
    assert not Ticket.objects.filter(title="x").exists()
