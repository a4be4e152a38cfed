"""Suspended mail: staff see why a message was held and release or reject it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from email_integration import services
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus, SenderAuth
from eventlog.models import EventLog
from nixflow.models import Comment, Role, Ticket, User
from tests.email_integration.messages import mail, message_id_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/email_integration/emailmessage/"


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory(username="bob", email="bob@desk.test", role=Role.AGENT)


@pytest.fixture
def held(account: EmailAccount, bob: User) -> EmailMessage:
    """Carol's ticket, and an unauthenticated reply in Bob's name, suspended."""
    first = mail()
    services.message_ingest(account=account, raw=first)
    reply = mail(sender="bob@desk.test", body="Done, closing.", in_reply_to=message_id_of(first))
    message = services.message_ingest(account=account, raw=reply)
    assert message.status == EmailMessageStatus.SUSPENDED
    return message


def act(client: Client, action: str, message: EmailMessage) -> bytes:
    response = client.post(
        CHANGELIST, {"action": action, "_selected_action": [message.pk]}, follow=True
    )
    assert response.status_code == 200
    return response.content


def test_the_admin_lists_suspended_mail_with_its_reason(client: Client, held: EmailMessage) -> None:
    client.force_login(UserFactory(username="root", role=Role.ADMIN))
    page = client.get(CHANGELIST, {"status__exact": "suspended"})
    assert page.status_code == 200
    assert b"is the address of staff user bob" in page.content
    assert b"Release (suspended) messages" in page.content


def test_an_admin_releases_a_message_which_then_acts_as_its_sender(
    client: Client, held: EmailMessage, bob: User
) -> None:
    admin = UserFactory(username="root", role=Role.ADMIN)
    client.force_login(admin)

    assert b"Released 1 message(s)" in act(client, "release", held)

    held.refresh_from_db()
    assert held.status == EmailMessageStatus.PROCESSED
    assert (held.sender_auth, held.reviewed_by) == (SenderAuth.RELEASED, admin)
    assert held.authentication.startswith("released by root")
    assert held.comment.author == bob
    assert held.comment.body == "Done, closing."
    ticket = Ticket.objects.get()
    assert ticket.first_response_at is not None
    released = EventLog.objects.get(type="email.released", subject_id=str(held.pk))
    assert released.actor == admin


def test_an_agent_may_release_only_mail_in_their_own_name(
    client: Client, held: EmailMessage, bob: User
) -> None:
    client.force_login(UserFactory(username="alice", role=Role.AGENT))
    assert b"Only an admin, or the staff member whose address it bears" in act(
        client, "release", held
    )
    held.refresh_from_db()
    assert held.status == EmailMessageStatus.SUSPENDED
    assert not Comment.objects.filter(author=bob).exists()

    client.force_login(bob)
    act(client, "release", held)
    held.refresh_from_db()
    assert (held.status, held.reviewed_by) == (EmailMessageStatus.PROCESSED, bob)


def test_a_rejected_message_is_kept_and_never_processed(
    client: Client, held: EmailMessage, agent: User, bob: User
) -> None:
    client.force_login(agent)
    assert b"Rejected 1 message(s)" in act(client, "reject", held)
    held.refresh_from_db()
    assert (held.status, held.reviewed_by) == (EmailMessageStatus.REJECTED, agent)
    assert EventLog.objects.filter(type="email.rejected", subject_id=str(held.pk)).exists()

    call_command("reprocess_email", "--id", str(held.pk))
    act(client, "reprocess", held)
    assert b"Only a suspended message" in act(client, "release", held)
    held.refresh_from_db()
    assert held.status == EmailMessageStatus.REJECTED
    assert bytes(held.raw)  # kept
    assert not Comment.objects.filter(author=bob).exists()


def test_suspended_mail_is_never_reprocessed_into_a_comment(held: EmailMessage, bob: User) -> None:
    (again,) = services.messages_reprocess(messages=[held])
    assert again.status == EmailMessageStatus.SUSPENDED
    assert not Comment.objects.filter(author=bob).exists()


def test_agents_find_suspended_mail_through_the_api(
    api_client: APIClient, held: EmailMessage, agent: User
) -> None:
    api_client.force_authenticate(agent)
    listed = api_client.get("/api/email/messages/", {"status": "suspended"}).json()["results"]
    assert [m["id"] for m in listed] == [held.pk]
    (message,) = listed
    assert message["sender_auth"] == "none"
    assert "not authenticated" in message["error_reason"]
    assert message["reviewed_by"] is None


def test_agents_release_and_reject_through_the_api_as_in_the_admin(
    api_client: APIClient, held: EmailMessage, account: EmailAccount, bob: User
) -> None:
    url = f"/api/email/messages/{held.pk}"
    api_client.force_authenticate(UserFactory(username="alice", role=Role.AGENT))
    refused = api_client.post(f"{url}/release/")
    assert refused.status_code == 403
    assert "Only an admin" in refused.json()["detail"]

    api_client.force_authenticate(bob)
    released = api_client.post(f"{url}/release/")
    assert released.status_code == 200
    assert (released.json()["status"], released.json()["sender_auth"]) == ("processed", "released")
    assert released.json()["reviewed_by"] == bob.pk

    again = api_client.post(f"{url}/reject/")
    assert again.status_code == 409
    assert "Only a suspended message" in again.json()["detail"]

    other = services.message_ingest(account=account, raw=mail(sender="bob@desk.test"))
    rejected = api_client.post(f"/api/email/messages/{other.pk}/reject/")
    assert (rejected.status_code, rejected.json()["status"]) == (200, "rejected")
    assert Ticket.objects.count() == 1  # Carol's; the rejected message opened none
