"""Storage quotas for comment attachments, per user and per ticket
(nixflow/toolkit/quotas.py): the API answers 413 with a reason, the admin shows the
refusal on the form, and mail keeps the message and the files that fit, recording the
others as refused with the reason."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from email_integration import services as email_services
from email_integration.models import EmailAccount, EmailMessageStatus, InboundProtocol
from nixflow import services
from nixflow.models import Attachment, Comment, Ticket, User
from tests.email_integration.messages import mail
from tests.factories import TicketFactory
from tests.helpers import as_user
from tests.support.processes import admin_connection

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_quotas(settings: Settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.NIXFLOW_TICKET_STORAGE_QUOTA_BYTES = 100
    settings.NIXFLOW_USER_STORAGE_QUOTA_BYTES = 150


def upload(size: int, name: str = "log.txt") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"x" * size, content_type="text/plain")


def attach(ticket: Ticket, author: User, size: int) -> Comment:
    return services.comment_create(
        ticket=ticket, author=author, body="Log.", attachments=[upload(size)]
    )


def post_comment(client: APIClient, ticket: Ticket, *sizes: int):  # type: ignore[no-untyped-def]
    files = [upload(size, f"log{n}.txt") for n, size in enumerate(sizes)]
    return client.post(
        f"/api/tickets/{ticket.key}/comments/",
        {"body": "Logs attached.", "attachments": files},
        format="multipart",
    )


def test_files_that_fit_the_ticket_and_the_user_quota_are_kept(
    api_client: APIClient, requester: User, ticket: Ticket
) -> None:
    response = post_comment(as_user(api_client, requester), ticket, 60, 40)

    assert response.status_code == 201, response.content
    assert Attachment.objects.count() == 2


def test_files_past_the_tickets_quota_are_413_with_the_reason(
    api_client: APIClient, requester: User, agent: User, ticket: Ticket
) -> None:
    attach(ticket, agent, 70)

    response = post_comment(as_user(api_client, requester), ticket, 20, 11)

    assert response.status_code == 413
    assert response.json() == {
        "detail": "31 bytes of files exceed the ticket's storage quota of 100 bytes "
        "(30 bytes left)."
    }
    assert not Comment.objects.filter(author=requester).exists()


def test_files_past_the_users_quota_on_other_tickets_are_413(
    api_client: APIClient, requester: User, agent: User, ticket: Ticket
) -> None:
    attach(TicketFactory(requester=requester), requester, 90)
    attach(TicketFactory(requester=requester), requester, 50)

    response = post_comment(as_user(api_client, requester), ticket, 11)

    assert response.status_code == 413
    assert "your storage quota" in response.json()["detail"]
    # Another user still has room on the same ticket.
    assert attach(ticket, agent, 11).attachments.count() == 1


def test_the_quota_is_counted_in_bytes_at_the_edge(requester: User, ticket: Ticket) -> None:
    attach(ticket, requester, 99)
    attach(ticket, requester, 1)

    with pytest.raises(ValidationError, match="ticket's storage quota"):
        attach(ticket, requester, 1)


def test_comments_without_files_are_never_refused(
    api_client: APIClient, requester: User, ticket: Ticket
) -> None:
    attach(ticket, requester, 100)

    response = as_user(api_client, requester).post(
        f"/api/tickets/{ticket.key}/comments/", {"body": "Any news?"}, format="json"
    )

    assert response.status_code == 201


def test_zero_switches_a_quota_off(settings: Settings, requester: User, ticket: Ticket) -> None:
    settings.NIXFLOW_TICKET_STORAGE_QUOTA_BYTES = 0
    settings.NIXFLOW_USER_STORAGE_QUOTA_BYTES = 0

    attach(ticket, requester, 500)

    assert Attachment.objects.get().size == 500


def test_mail_over_the_quota_keeps_the_message_and_the_files_that_fit() -> None:
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    raw = mail(
        attachments=[
            ("first.txt", b"a" * 60, "text/plain"),
            ("second.txt", b"b" * 60, "text/plain"),
            ("third.txt", b"c" * 40, "text/plain"),
        ]
    )

    message = email_services.message_ingest(account=account, raw=raw)

    assert message.status == EmailMessageStatus.PROCESSED
    rows = {a.filename: a for a in message.attachments.all()}
    assert rows["first.txt"].refused_reason == rows["third.txt"].refused_reason == ""
    assert "ticket's storage quota" in rows["second.txt"].refused_reason
    assert not rows["second.txt"].file
    assert [a.filename for a in message.comment.attachments.order_by("id")] == [
        "first.txt",
        "third.txt",
    ]


def files_kept(root: str) -> list[Path]:
    return [path for path in Path(root).rglob("*") if path.is_file()]


def test_files_refused_by_the_quota_leave_nothing_in_storage(
    settings: Settings, agent: User, ticket: Ticket
) -> None:
    with pytest.raises(ValidationError):
        attach(ticket, agent, 101)

    assert not Comment.objects.exists()
    assert files_kept(settings.MEDIA_ROOT) == []


@pytest.mark.django_db(transaction=True)
def test_a_file_is_stored_before_the_ticket_is_locked(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, agent: User
) -> None:
    # An upload to object storage takes as long as the file is large: whoever changes
    # the ticket meanwhile must not wait for it. Another connection tries the row's lock
    # at the moment the storage writes the file.
    ticket = TicketFactory()
    field = Attachment._meta.get_field("file")
    storage = field.storage
    real_save = storage.save
    locked_while_saving: list[bool] = []

    def save(name: str, content: object, max_length: int | None = None) -> str:
        with admin_connection(connection.settings_dict["NAME"]) as other:
            try:
                other.execute(
                    "SELECT 1 FROM nixflow_ticket WHERE id = %s FOR UPDATE NOWAIT", [ticket.pk]
                )
            except psycopg.errors.LockNotAvailable:
                locked_while_saving.append(True)
            else:
                locked_while_saving.append(False)
        return real_save(name, content, max_length=max_length)

    monkeypatch.setattr(storage, "save", save)

    comment = attach(ticket, agent, 10)

    assert locked_while_saving == [False]
    (attachment,) = comment.attachments.all()
    assert attachment.file.read() == b"x" * 10
    assert [path.name for path in files_kept(settings.MEDIA_ROOT)] == ["log.txt"]
