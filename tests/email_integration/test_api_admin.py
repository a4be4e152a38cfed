"""The mail API (inbound posting, accounts, messages) and the mail admin."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from email_integration import services
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus
from eventlog import outbox
from eventlog.models import OutboxMessage
from nixflow.models import Role, Ticket, User
from tests.email_integration.messages import mail
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def post_raw(client: APIClient, account: EmailAccount, raw: bytes) -> object:
    return client.generic(
        "POST", f"/api/email/inbound/{account.pk}/", raw, content_type="message/rfc822"
    )


def test_a_mail_server_posts_a_raw_message_with_a_token(
    api_client: APIClient, account: EmailAccount, agent: User
) -> None:
    token = Token.objects.create(user=agent)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    raw = mail()

    first = post_raw(api_client, account, raw)
    again = post_raw(api_client, account, raw)

    # Stored and answered at once; read by a worker (the outbox's task, run here).
    assert (first.status_code, again.status_code) == (202, 202)
    body = first.json()
    assert body == {"id": body["id"], "status": "received", "created": True}
    assert again.json() == {"id": body["id"], "status": "received", "created": False}
    assert not Ticket.objects.exists()
    # One processing task for the message, however often it is posted.
    assert OutboxMessage.objects.filter(task=services.PROCESS_TASK).count() == 1
    outbox.run_inline()  # the relay and a worker: processing, then acknowledging
    message = api_client.get(f"/api/email/messages/{body['id']}/").json()
    assert message["status"] == "processed"
    assert message["ticket"] == Ticket.objects.get().key


def test_inbound_posting_is_refused_to_requesters_anonymous_and_bad_bodies(
    api_client: APIClient, account: EmailAccount, requester: User, agent: User, settings: Settings
) -> None:
    assert post_raw(api_client, account, mail()).status_code == 401
    api_client.force_authenticate(requester)
    assert post_raw(api_client, account, mail()).status_code == 403
    api_client.force_authenticate(agent)
    assert post_raw(api_client, account, b"  ").status_code == 400
    response = api_client.post(f"/api/email/inbound/{account.pk}/", {"x": 1}, format="json")
    assert response.status_code == 415
    settings.EMAIL_MAX_MESSAGE_BYTES = 100
    too_big = post_raw(api_client, account, mail(body="x" * 500))
    assert too_big.status_code == 413
    assert "larger than 100 bytes" in too_big.json()["detail"]
    assert post_raw(api_client, account.__class__(pk=999999), mail()).status_code == 404
    assert not EmailMessage.objects.exists()


def test_account_passwords_are_write_only_and_only_admins_change_accounts(
    api_client: APIClient, agent: User
) -> None:
    admin = UserFactory(role=Role.ADMIN, is_superuser=True)
    api_client.force_authenticate(admin)
    created = api_client.post(
        "/api/email/accounts/",
        {
            "name": "Support",
            "address": "support@desk.test",
            "protocol": "IMAP",
            "host": "imap.desk.test",
            "port": 993,
            "username": "support",
            "password": "hunter2",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert "password" not in created.json()
    assert created.json()["has_password"] is True
    account = EmailAccount.objects.get(name="Support")
    assert account.password == "hunter2"

    patched = api_client.patch(
        f"/api/email/accounts/{account.pk}/", {"password": "", "folder": "Support"}, format="json"
    )
    assert patched.status_code == 200
    account.refresh_from_db()
    assert (account.password, account.folder) == ("hunter2", "Support")

    api_client.force_authenticate(agent)
    listed = api_client.get("/api/email/accounts/").json()["results"]
    assert [a["name"] for a in listed] == ["Support"]
    assert all("password" not in a for a in listed)
    assert (
        api_client.patch(f"/api/email/accounts/{account.pk}/", {"folder": "X"}).status_code == 403
    )


def test_agents_list_messages_with_filters(
    api_client: APIClient, account: EmailAccount, agent: User, requester: User
) -> None:

    processed = services.message_ingest(account=account, raw=mail())
    services.message_ingest(account=account, raw=mail(headers={"Auto-Submitted": "auto-replied"}))
    api_client.force_authenticate(agent)
    ignored = api_client.get("/api/email/messages/", {"status": "ignored"}).json()["results"]
    assert [m["message_type"] for m in ignored] == ["auto_reply"]
    by_ticket = api_client.get("/api/email/messages/", {"ticket": processed.ticket.key})
    assert [m["id"] for m in by_ticket.json()["results"]] == [processed.pk]
    api_client.force_authenticate(requester)
    assert api_client.get("/api/email/messages/").status_code == 403


def test_admin_serves_the_raw_message_as_a_download_and_reprocesses_failures(
    client: Client, account: EmailAccount, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:

    from nixflow import services as core_services

    monkeypatch.setattr(core_services, "ticket_create", lambda **k: 1 / 0)
    failed = services.message_ingest(account=account, raw=mail())
    assert failed.status == EmailMessageStatus.FAILED
    monkeypatch.undo()
    client.force_login(agent)

    raw = client.get(f"/admin/email_integration/emailmessage/{failed.pk}/raw/")
    assert raw.status_code == 200
    assert raw["Content-Disposition"] == (
        f'attachment; filename="message-{failed.pk}.eml"; '
        f"filename*=UTF-8''message-{failed.pk}.eml"
    )
    assert b"".join(raw.streaming_content) == bytes(failed.raw)

    page = client.get("/admin/email_integration/emailmessage/", {"status": "failed"})
    assert page.status_code == 200
    response = client.post(
        "/admin/email_integration/emailmessage/",
        {"action": "reprocess", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert b"1 processed" in response.content
    failed.refresh_from_db()
    assert failed.status == EmailMessageStatus.PROCESSED


def test_admin_account_form_never_shows_the_password_and_tests_connections(
    client: Client, account: EmailAccount
) -> None:
    admin = UserFactory(role=Role.ADMIN, is_superuser=True, is_staff=True)
    EmailAccount.objects.filter(pk=account.pk).update(password="hunter2")
    client.force_login(admin)
    page = client.get(f"/admin/email_integration/emailaccount/{account.pk}/change/")
    assert page.status_code == 200
    assert b"hunter2" not in page.content
    response = client.post(
        "/admin/email_integration/emailaccount/",
        {"action": "test_connection", "_selected_action": [account.pk]},
        follow=True,
    )
    assert b"posted or ingested mail only" in response.content
