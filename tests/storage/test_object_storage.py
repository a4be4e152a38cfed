"""Files in S3-compatible object storage (STORAGE_URL), against moto's S3 server on
loopback: uploads of every app land in the bucket (over 8 MiB as a multipart upload),
every download view checks the permission first and then streams the object with our
headers, or (``?presign=``) redirects to a presigned URL that makes S3 answer with the
same headers; a removed file's object goes too, and quotas still count sizes."""

from __future__ import annotations

import hashlib
import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.response import StreamingBody
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from email_integration import services as email_services
from email_integration.models import EmailAccount, EmailAttachment, InboundProtocol
from forms_builder import services as forms_services
from forms_builder.models import CustomForm
from knowledge import services as kb_services
from nixflow import services
from nixflow.models import Attachment, Ticket, User
from nixflow.toolkit.downloads import attachment_response, content_disposition
from tests.email_integration.messages import mail
from tests.forms_builder.conftest import (  # noqa: F401 -- fixtures for public_form
    PNG,
    designer,
    make_form,
    public_form,
)
from tests.helpers import as_user
from tests.storage.conftest import kb_and_form_files
from tests.support.s3 import Bucket, S3Server, use_storage_url

pytestmark = pytest.mark.django_db

HTML = b"<script>alert(document.cookie)</script>"


def attach(ticket: Ticket, author: User, *, name: str, body: bytes, ctype: str) -> Attachment:
    comment = services.comment_create(
        ticket=ticket,
        author=author,
        body="See the file.",
        attachments=[SimpleUploadedFile(name, body, content_type=ctype)],
    )
    return comment.attachments.get()


def api_download(client: APIClient, attachment: Attachment) -> Any:
    return client.get(f"/api/tickets/{attachment.comment.ticket.key}/attachments/{attachment.pk}/")


def streamed(response: Any) -> bytes:
    assert response.streaming, "the object is streamed through, not read into a response"
    return b"".join(response.streaming_content)


def assert_our_headers(response: Any, *, filename: str, served: str) -> None:
    assert response["Content-Disposition"] == content_disposition(filename)
    assert response["Content-Type"] == served
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
def presigned(s3_server: S3Server, object_storage: Bucket, settings: Settings) -> Bucket:
    """The same bucket, with downloads answered by a redirect to a 60-second URL."""
    url = s3_server.storage_url(object_storage.name, presign=60)
    use_storage_url(settings, url)
    return Bucket(server=s3_server, name=object_storage.name, url=url)


# --- uploads ----------------------------------------------------------------------------
def test_an_uploaded_attachment_is_an_inert_private_object_in_the_bucket(
    object_storage: Bucket, ticket: Ticket, agent: User
) -> None:
    attachment = attach(ticket, agent, name="page.html", body=HTML, ctype="text/html")

    assert object_storage.object_keys() == [attachment.file.name]
    assert object_storage.body(attachment.file.name) == HTML
    head = object_storage.head(attachment.file.name)
    assert head["ContentType"] == "application/octet-stream"
    assert head["ContentDisposition"] == "attachment"
    acl = object_storage.server.client().get_object_acl(
        Bucket=object_storage.name, Key=attachment.file.name
    )
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]  # the owner only
    assert "URI" not in acl["Grants"][0]["Grantee"]  # not AllUsers / AuthenticatedUsers


def test_a_second_file_of_the_same_name_never_overwrites_the_first(
    object_storage: Bucket, ticket: Ticket, agent: User
) -> None:
    first = attach(ticket, agent, name="log.txt", body=b"first", ctype="text/plain")
    second = attach(ticket, agent, name="log.txt", body=b"second", ctype="text/plain")

    assert first.file.name != second.file.name
    assert object_storage.body(first.file.name) == b"first"
    assert object_storage.body(second.file.name) == b"second"


def test_a_location_prefixes_every_key(
    s3_server: S3Server, settings: Settings, ticket: Ticket, agent: User, api_client: APIClient
) -> None:
    bucket = s3_server.create_bucket()
    use_storage_url(settings, s3_server.storage_url(bucket, location="tenants/acme"))

    attachment = attach(ticket, agent, name="a.txt", body=b"prefixed", ctype="text/plain")

    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"tenants/acme/{attachment.file.name}"]
    assert streamed(api_download(as_user(api_client, agent), attachment)) == b"prefixed"


def test_a_file_over_8_mib_goes_up_in_parts_through_the_api_and_comes_back_whole(
    object_storage: Bucket, settings: Settings, ticket: Ticket, agent: User, api_client: APIClient
) -> None:
    settings.NIXFLOW_MAX_ATTACHMENT_BYTES = 12 * 1024 * 1024
    body = os.urandom(9 * 1024 * 1024 + 12345)
    client = as_user(api_client, agent)

    response = client.post(
        f"/api/tickets/{ticket.key}/comments/",
        {
            "body": "The full dump.",
            "attachments": [SimpleUploadedFile("dump.bin", body, "application/octet-stream")],
        },
        format="multipart",
    )

    assert response.status_code == 201, response.content
    attachment = Attachment.objects.get(comment__ticket=ticket, filename="dump.bin")
    assert attachment.size == len(body)
    etag = object_storage.head(attachment.file.name)["ETag"].strip('"')
    # A multipart object's ETag is the MD5 of its parts' MD5s, suffixed with their count:
    # 8 MiB and the rest.
    parts = [body[: 8 * 1024 * 1024], body[8 * 1024 * 1024 :]]
    joined = b"".join(hashlib.md5(p).digest() for p in parts)  # noqa: S324 -- S3's own ETag
    assert etag == f"{hashlib.md5(joined).hexdigest()}-2"  # noqa: S324
    download = api_download(client, attachment)
    assert download["Content-Length"] == str(len(body))
    assert streamed(download) == body


def test_a_small_file_goes_up_in_one_request(
    object_storage: Bucket, ticket: Ticket, agent: User
) -> None:
    attachment = attach(ticket, agent, name="a.txt", body=b"small", ctype="text/plain")

    etag = object_storage.head(attachment.file.name)["ETag"].strip('"')
    assert etag == hashlib.md5(b"small").hexdigest()  # noqa: S324 -- S3's own ETag


# --- streamed downloads, app by app -----------------------------------------------------
def test_the_ticket_api_streams_the_object_with_our_headers(
    object_storage: Bucket, ticket: Ticket, agent: User, requester: User, api_client: APIClient
) -> None:
    attachment = attach(ticket, agent, name="Größe.html", body=HTML, ctype="text/html")

    response = api_download(as_user(api_client, requester), attachment)

    assert response.status_code == 200
    assert_our_headers(response, filename="Größe.html", served="application/octet-stream")
    assert response["Content-Length"] == str(len(HTML))
    assert streamed(response) == HTML


def test_the_portal_streams_the_object_with_our_headers(
    object_storage: Bucket, ticket: Ticket, agent: User, requester: User
) -> None:
    attachment = attach(ticket, agent, name="jam.png", body=PNG, ctype="image/png")
    client = Client()
    client.force_login(requester)

    response = client.get(f"/portal/tickets/{ticket.key}/files/{attachment.pk}/")

    assert response.status_code == 200
    assert_our_headers(response, filename="jam.png", served="image/png")
    assert streamed(response) == PNG


def test_the_knowledge_api_streams_the_object_with_our_headers(
    object_storage: Bucket, agent: User, api_client: APIClient
) -> None:
    article = kb_services.article_create(title="Diagram", body="See the file.", author=agent)
    attachment = kb_services.attachment_add(
        article=article, upload=SimpleUploadedFile("schéma.png", PNG), actor=agent
    )
    assert object_storage.object_keys() == [attachment.file.name]

    response = as_user(api_client, agent).get(
        f"/api/knowledge/articles/{article.pk}/attachments/{attachment.pk}/"
    )

    assert response.status_code == 200
    assert_our_headers(response, filename="schéma.png", served="image/png")
    assert streamed(response) == PNG


def test_the_forms_admin_streams_a_submitted_file_with_our_headers(
    object_storage: Bucket,
    admin_user: User,
    public_form: CustomForm,  # noqa: F811
) -> None:
    submission = forms_services.submission_create(
        form=public_form,
        data={"service": "VPN", "impact": "Just me", "details": "No tunnel."},
        files={"screenshot": [SimpleUploadedFile("shot.png", PNG, content_type="image/png")]},
        submitter=None,
        submitter_email="ann@example.com",
    )
    attachment = submission.attachments.get()
    assert attachment.file.name in object_storage.object_keys()
    client = Client()
    client.force_login(admin_user)

    response = client.get(
        reverse("admin:forms_builder_formsubmission_file", args=[submission.pk, attachment.pk])
    )

    assert response.status_code == 200
    assert_our_headers(response, filename="shot.png", served="image/png")
    assert streamed(response) == PNG


def test_a_mailed_attachment_is_stored_in_the_bucket_and_served_from_the_ticket(
    object_storage: Bucket, agent: User, api_client: APIClient
) -> None:
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    raw = mail(attachments=[("printer.log", b"paper jam at tray 2\n", "text/plain")])

    message = email_services.message_ingest(account=account, raw=raw)

    attachment = message.comment.attachments.get()
    assert object_storage.object_keys() == [attachment.file.name]
    # The mail's record of the part points at the same object.
    assert EmailAttachment.objects.get(message=message).file.name == attachment.file.name
    response = api_download(as_user(api_client, agent), attachment)
    assert_our_headers(response, filename="printer.log", served="text/plain")
    assert streamed(response) == b"paper jam at tray 2\n"


def test_an_object_gone_from_the_bucket_is_a_404_not_a_500(
    object_storage: Bucket, ticket: Ticket, agent: User, api_client: APIClient
) -> None:
    attachment = attach(ticket, agent, name="a.txt", body=b"x", ctype="text/plain")
    object_storage.server.client().delete_object(
        Bucket=object_storage.name, Key=attachment.file.name
    )

    response = api_download(as_user(api_client, agent), attachment)

    assert response.status_code == 404
    assert response.json() == {"detail": "The file of this attachment is missing."}


def test_the_object_is_passed_on_as_s3_sends_it_not_spooled_first(
    object_storage: Bucket, ticket: Ticket, agent: User
) -> None:
    attachment = attach(ticket, agent, name="a.txt", body=b"x" * 1000, ctype="text/plain")

    response = attachment_response(
        attachment.file.open("rb"), filename="a.txt", content_type="text/plain"
    )

    assert isinstance(response.file_to_stream, StreamingBody)
    assert response.block_size == 256 * 1024
    assert b"".join(response.streaming_content) == b"x" * 1000


def test_an_object_removed_after_the_view_opened_it_is_a_404(
    object_storage: Bucket, ticket: Ticket, agent: User
) -> None:
    attachment = attach(ticket, agent, name="a.txt", body=b"x", ctype="text/plain")
    opened = attachment.file.open("rb")  # as the views do: S3 said it exists
    object_storage.server.client().delete_object(
        Bucket=object_storage.name, Key=attachment.file.name
    )

    with pytest.raises(Http404, match=r"^The file is missing from storage\.$"):
        attachment_response(opened, filename="a.txt", content_type="text/plain")


# --- presigned redirects ----------------------------------------------------------------
def test_a_presigned_redirect_makes_s3_serve_the_file_as_inertly_as_we_do(
    presigned: Bucket, ticket: Ticket, agent: User, requester: User, api_client: APIClient
) -> None:
    attachment = attach(ticket, agent, name='Größe "1".html', body=HTML, ctype="text/html")

    response = api_download(as_user(api_client, requester), attachment)

    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == presigned.server.endpoint
    query = parse_qs(location.query)
    assert query["X-Amz-Expires"] == ["60"]
    assert "X-Amz-Signature" in query
    # Followed as a browser would, straight to the S3 server.
    fetched = httpx.get(response["Location"])
    assert fetched.status_code == 200
    assert fetched.content == HTML
    assert fetched.headers["Content-Disposition"] == content_disposition('Größe "1".html')
    assert fetched.headers["Content-Type"] == "application/octet-stream"
    assert fetched.headers["Cache-Control"] == "private, no-store"


def test_a_presigned_url_keeps_an_inert_type_and_its_charset(
    presigned: Bucket, ticket: Ticket, agent: User, api_client: APIClient
) -> None:
    attachment = attach(
        ticket, agent, name="notes.txt", body=b"caf\xc3\xa9", ctype="text/plain; charset=utf-8"
    )

    response = api_download(as_user(api_client, agent), attachment)
    fetched = httpx.get(response["Location"])

    assert fetched.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert fetched.content == b"caf\xc3\xa9"


def test_permission_is_refused_before_any_redirect(
    *,
    presigned: Bucket,
    ticket: Ticket,
    agent: User,
    other_requester: User,
    requester: User,
    api_client: APIClient,
) -> None:
    public = attach(ticket, agent, name="a.txt", body=b"public", ctype="text/plain")
    internal = services.comment_create(
        ticket=ticket,
        author=agent,
        body="Between us.",
        is_internal=True,
        attachments=[SimpleUploadedFile("note.txt", b"internal", content_type="text/plain")],
    ).attachments.get()

    stranger = api_download(as_user(api_client, other_requester), public)
    not_for_requesters = api_download(as_user(api_client, requester), internal)
    portal = Client()
    portal.force_login(requester)
    portal_internal = portal.get(f"/portal/tickets/{ticket.key}/files/{internal.pk}/")

    for refused in (stranger, not_for_requesters, portal_internal):
        assert refused.status_code == 404
        assert "Location" not in refused
        assert b"X-Amz-Signature" not in refused.content


def test_every_app_redirects_when_presigning(
    *,
    presigned: Bucket,
    agent: User,
    admin_user: User,
    requester: User,
    ticket: Ticket,
    api_client: APIClient,
    public_form: CustomForm,  # noqa: F811
) -> None:
    article, kb, submission = kb_and_form_files(agent, public_form, title="Diagram")
    ticket_file = attach(ticket, agent, name="ticket.png", body=PNG, ctype="image/png")
    admin, portal = Client(), Client()
    admin.force_login(admin_user)
    portal.force_login(requester)

    responses = {
        "kb.png": as_user(api_client, agent).get(
            f"/api/knowledge/articles/{article.pk}/attachments/{kb.pk}/"
        ),
        "form.png": admin.get(
            reverse(
                "admin:forms_builder_formsubmission_file",
                args=[submission.pk, submission.attachments.get().pk],
            )
        ),
        "ticket.png": portal.get(f"/portal/tickets/{ticket.key}/files/{ticket_file.pk}/"),
    }

    for name, response in responses.items():
        assert response.status_code == 302, name
        fetched = httpx.get(response["Location"])
        assert fetched.content == PNG, name
        assert fetched.headers["Content-Disposition"] == content_disposition(name)
        assert fetched.headers["Content-Type"] == "image/png"


def test_raw_mail_is_served_from_the_database_even_when_presigning(
    presigned: Bucket, admin_user: User
) -> None:
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    raw = mail(subject="Kept in the database")
    message, _ = email_services.message_store(account=account, raw=raw)
    client = Client()
    client.force_login(admin_user)

    response = client.get(f"/admin/email_integration/emailmessage/{message.pk}/raw/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == raw
    assert presigned.object_keys() == []


# --- removal and quotas -----------------------------------------------------------------
def test_removing_a_knowledge_attachment_deletes_its_object_after_commit(
    object_storage: Bucket,
    agent: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    article = kb_services.article_create(title="Diagram", body="See the file.", author=agent)
    attachment = kb_services.attachment_add(
        article=article, upload=SimpleUploadedFile("kb.png", PNG), actor=agent
    )
    name = attachment.file.name

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        kb_services.attachment_remove(attachment=attachment, actor=agent)
    assert object_storage.object_keys() == [name]  # not before the row is gone for good
    for callback in callbacks:
        callback()

    assert object_storage.object_keys() == []


def test_quotas_count_the_sizes_of_files_in_the_bucket(
    object_storage: Bucket,
    settings: Settings,
    ticket: Ticket,
    requester: User,
    api_client: APIClient,
) -> None:
    settings.NIXFLOW_TICKET_STORAGE_QUOTA_BYTES = 100
    attach(ticket, requester, name="a.txt", body=b"x" * 70, ctype="text/plain")
    client = as_user(api_client, requester)

    response = client.post(
        f"/api/tickets/{ticket.key}/comments/",
        {"body": "More.", "attachments": [SimpleUploadedFile("b.txt", b"y" * 31, "text/plain")]},
        format="multipart",
    )

    assert response.status_code == 413
    assert "exceed the ticket's storage quota" in response.json()["detail"]
    assert len(object_storage.object_keys()) == 1  # the refused file never reached the bucket
