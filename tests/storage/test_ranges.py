"""Partial downloads (RFC 9110 section 14): ``attachment_response`` given the request
answers one ``Range`` with 206 and ``Content-Range`` (from S3, by fetching only that
range), an unsatisfiable one with 416, several ranges with the whole file, an
``If-Range`` naming another version with the whole file; on disk, from bytes and from
moto's S3, with every header a whole download has. A refused permission stays a 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.urls import reverse
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from forms_builder import services as forms_services
from forms_builder.models import CustomForm
from nixflow import services
from nixflow.models import Attachment, Ticket, User
from nixflow.toolkit.downloads import (
    UNSATISFIABLE,
    ByteRange,
    attachment_response,
    content_disposition,
    parse_range,
)
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

BODY = bytes(range(256)) * 4  # 1024 bytes, each position telling where it is


def attach(ticket: Ticket, author: User, *, body: bytes = BODY, internal: bool = False) -> Any:
    comment = services.comment_create(
        ticket=ticket,
        author=author,
        body="See the file.",
        is_internal=internal,
        attachments=[SimpleUploadedFile("clip.mp4", body, content_type="video/mp4")],
    )
    return comment.attachments.get()


def get(range_header: str | None = None, **headers: str) -> HttpRequest:
    if range_header is not None:
        headers["HTTP_RANGE"] = range_header
    return RequestFactory().get("/download", **headers)  # type: ignore[arg-type]


def download(attachment: Attachment, request: HttpRequest | None) -> Any:
    return attachment_response(
        attachment.file.open("rb"), filename="clip.mp4", content_type="video/mp4", request=request
    )


def content(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def assert_download_headers(response: Any) -> None:
    assert response["Content-Disposition"] == content_disposition("clip.mp4")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"


@pytest.fixture
def on_disk(settings: Settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture(params=["disk", "s3"])
def where(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> str:
    """Each test of a stored file runs on disk and in moto's S3."""
    if request.param == "s3":
        request.getfixturevalue("object_storage")
    else:
        settings.MEDIA_ROOT = str(tmp_path / "media")
    return str(request.param)


# --- the header -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(0, 9, 100)),
        ("bytes=10-", ByteRange(10, 99, 100)),
        ("bytes=-10", ByteRange(90, 99, 100)),
        ("bytes=-500", ByteRange(0, 99, 100)),  # longer than the file: all of it
        ("bytes=90-500", ByteRange(90, 99, 100)),  # past the end: up to the end
        ("bytes=99-99", ByteRange(99, 99, 100)),
        ("BYTES = 5 - 6", ByteRange(5, 6, 100)),
        ("bytes=0-99999999999999999999999999", ByteRange(0, 99, 100)),
        ("bytes=100-", UNSATISFIABLE),
        ("bytes=100-200", UNSATISFIABLE),
        ("bytes=-0", UNSATISFIABLE),
        ("bytes=99999999999999999999999999-", UNSATISFIABLE),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("bytes=0-1,", None),
        ("bytes=5-2", None),  # invalid: ignored
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("items=0-9", None),
        ("0-9", None),
        ("", None),
    ],
)
def test_parse_range(header: str, expected: object) -> None:
    assert parse_range(header, 100) == expected


def test_any_range_of_an_empty_file_is_the_whole_empty_file() -> None:
    assert parse_range("bytes=0-", 0) is None
    assert parse_range("bytes=-5", 0) is None


# --- stored files, on disk and in S3 ----------------------------------------------------
@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=100-199", 100, 199), ("bytes=1000-", 1000, 1023), ("bytes=-24", 1000, 1023)],
)
def test_one_range_is_206_with_those_bytes(
    *, where: str, ticket: Ticket, agent: User, header: str, first: int, last: int
) -> None:
    response = download(attach(ticket, agent), get(header))

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/1024"
    assert response["Content-Length"] == str(last - first + 1)
    assert content(response) == BODY[first : last + 1]
    assert_download_headers(response)
    assert response["ETag"].startswith('"')


def test_a_range_past_the_end_is_416_with_the_size(where: str, ticket: Ticket, agent: User) -> None:
    attachment = attach(ticket, agent)
    handle = attachment.file.open("rb")

    response = attachment_response(
        handle, filename="clip.mp4", content_type="video/mp4", request=get("bytes=1024-")
    )

    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */1024"
    assert content(response) == b""
    assert_download_headers(response)
    assert handle.closed


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=9-3", "lines=1-2", "bytes=x"])
def test_several_or_malformed_ranges_get_the_whole_file(
    where: str, ticket: Ticket, agent: User, header: str
) -> None:
    response = download(attach(ticket, agent), get(header))

    assert response.status_code == 200
    assert response["Content-Length"] == "1024"
    assert "Content-Range" not in response
    assert content(response) == BODY
    assert_download_headers(response)


def test_a_whole_download_says_ranges_are_accepted_and_names_its_version(
    where: str, ticket: Ticket, agent: User
) -> None:
    attachment = attach(ticket, agent)

    first = download(attachment, get())
    again = download(attachment, get())

    assert first.status_code == 200
    assert content(first) == BODY
    assert_download_headers(first)
    assert first["ETag"] == again["ETag"]


def test_if_range_resumes_only_the_same_version(where: str, ticket: Ticket, agent: User) -> None:
    attachment = attach(ticket, agent)
    etag = download(attachment, get())["ETag"]

    def resumed(if_range: str) -> tuple[int, bytes]:
        response = download(attachment, get("bytes=512-", HTTP_IF_RANGE=if_range))
        return response.status_code, content(response)

    assert resumed(etag) == (206, BODY[512:])
    assert resumed('"another-version"') == (200, BODY)
    assert resumed(f"W/{etag}") == (200, BODY)  # a weak tag never matches
    assert resumed("Wed, 21 Oct 2015 07:28:00 GMT") == (200, BODY)  # a date: no strong match


def test_without_the_request_the_whole_file_is_sent_as_before(
    where: str, ticket: Ticket, agent: User
) -> None:
    response = download(attach(ticket, agent), None)

    assert response.status_code == 200
    assert content(response) == BODY
    assert "Accept-Ranges" not in response
    assert "ETag" not in response


def test_range_means_nothing_to_a_head_request(where: str, ticket: Ticket, agent: User) -> None:
    request = RequestFactory().head("/download", HTTP_RANGE="bytes=0-9")

    response = download(attach(ticket, agent), request)

    assert response.status_code == 200
    assert response["Content-Length"] == "1024"


def test_bytes_are_served_in_ranges_too() -> None:
    response = attachment_response(
        b"From: a@example.com\r\n\r\nHello",
        filename="m.eml",
        content_type="message/rfc822",
        request=get("bytes=-5"),
    )

    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 23-27/28"
    assert content(response) == b"Hello"
    assert response["X-Content-Type-Options"] == "nosniff"


# --- S3: only the range travels ---------------------------------------------------------
@pytest.fixture
def object_gets(object_storage: Bucket) -> Iterator[list[dict[str, Any]]]:
    """The parameters of every GetObject the application sends."""
    from django.core.files.storage import default_storage

    calls: list[dict[str, Any]] = []
    events = default_storage.connection.meta.client.meta.events  # type: ignore[attr-defined]

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        calls.append(dict(params))

    events.register("provide-client-params.s3.GetObject", record)
    yield calls
    events.unregister("provide-client-params.s3.GetObject", record)


def test_s3_is_asked_for_the_range_only(
    object_gets: list[dict[str, Any]], ticket: Ticket, agent: User
) -> None:
    attachment = attach(ticket, agent)

    response = download(attachment, get("bytes=-24"))

    assert [call.get("Range") for call in object_gets] == ["bytes=1000-1023"]
    assert response["Content-Length"] == "24"
    assert content(response) == BODY[1000:]


def test_an_unsatisfiable_range_asks_s3_for_nothing(
    object_gets: list[dict[str, Any]], ticket: Ticket, agent: User
) -> None:
    response = download(attach(ticket, agent), get("bytes=5000-"))

    assert response.status_code == 416
    assert object_gets == []


def test_the_etag_is_the_objects_own(object_storage: Bucket, ticket: Ticket, agent: User) -> None:
    attachment = attach(ticket, agent)

    response = download(attachment, get("bytes=0-0"))

    assert response["ETag"] == object_storage.head(attachment.file.name)["ETag"]


def test_a_presigned_url_answers_ranges_itself(
    *,
    s3_server: S3Server,
    object_storage: Bucket,
    settings: Settings,
    ticket: Ticket,
    agent: User,
    api_client: APIClient,
) -> None:
    use_storage_url(settings, s3_server.storage_url(object_storage.name, presign=60))
    attachment = attach(ticket, agent)
    redirect = as_user(api_client, agent).get(
        f"/api/tickets/{ticket.key}/attachments/{attachment.pk}/", HTTP_RANGE="bytes=0-9"
    )

    fetched = httpx.get(redirect["Location"], headers={"Range": "bytes=1014-"})

    assert redirect.status_code == 302
    assert fetched.status_code == 206
    assert fetched.headers["Content-Range"] == "bytes 1014-1023/1024"
    assert fetched.content == BODY[1014:]


# --- permission first -------------------------------------------------------------------
def test_a_range_gets_nothing_of_a_file_the_requester_may_not_see(
    *,
    where: str,
    ticket: Ticket,
    agent: User,
    requester: User,
    other_requester: User,
    api_client: APIClient,
) -> None:
    public = attach(ticket, agent)
    internal = attach(ticket, agent, internal=True)
    portal = Client()
    portal.force_login(requester)

    refused = [
        as_user(api_client, other_requester).get(
            f"/api/tickets/{ticket.key}/attachments/{public.pk}/", HTTP_RANGE="bytes=0-9"
        ),
        as_user(APIClient(), requester).get(
            f"/api/tickets/{ticket.key}/attachments/{internal.pk}/", HTTP_RANGE="bytes=0-9"
        ),
        portal.get(f"/portal/tickets/{ticket.key}/files/{internal.pk}/", HTTP_RANGE="bytes=0-9"),
        Client().get(f"/portal/tickets/{ticket.key}/files/{public.pk}/", HTTP_RANGE="bytes=0-9"),
    ]

    statuses = [r.status_code for r in refused]
    assert statuses[:3] == [404, 404, 404]
    assert statuses[3] in (302, 403, 404)  # signed out: to the sign-in page
    for response in refused:
        assert "Content-Range" not in response
        assert "Accept-Ranges" not in response
        assert BODY[:10] not in content(response)


def test_a_range_gets_nothing_of_a_form_file_without_the_permission(
    requester: User,
    on_disk: Path,
    public_form: CustomForm,  # noqa: F811
) -> None:
    submission = forms_services.submission_create(
        form=public_form,
        data={"service": "VPN", "impact": "Just me", "details": "No tunnel."},
        files={"screenshot": [SimpleUploadedFile("shot.png", PNG, content_type="image/png")]},
        submitter=None,
        submitter_email="ann@example.com",
    )
    client = Client()
    client.force_login(requester)

    response = client.get(
        reverse(
            "admin:forms_builder_formsubmission_file",
            args=[submission.pk, submission.attachments.get().pk],
        ),
        HTTP_RANGE="bytes=0-9",
    )

    assert response.status_code in (302, 403, 404)
    assert "Content-Range" not in response


# --- through the views ------------------------------------------------------------------
def test_every_download_view_answers_a_range(
    *,
    where: str,
    agent: User,
    admin_user: User,
    requester: User,
    ticket: Ticket,
    api_client: APIClient,
    public_form: CustomForm,  # noqa: F811
) -> None:
    article, kb, submission = kb_and_form_files(agent, public_form, title="Clip")
    ticket_file = attach(ticket, agent, body=PNG)
    admin, portal = Client(), Client()
    admin.force_login(admin_user)
    portal.force_login(requester)
    ranged = {"Range": "bytes=1-3"}

    responses = {
        "api": as_user(api_client, requester).get(
            f"/api/tickets/{ticket.key}/attachments/{ticket_file.pk}/", headers=ranged
        ),
        "portal": portal.get(
            f"/portal/tickets/{ticket.key}/files/{ticket_file.pk}/", headers=ranged
        ),
        "knowledge": as_user(APIClient(), agent).get(
            f"/api/knowledge/articles/{article.pk}/attachments/{kb.pk}/", headers=ranged
        ),
        "forms admin": admin.get(
            reverse(
                "admin:forms_builder_formsubmission_file",
                args=[submission.pk, submission.attachments.get().pk],
            ),
            headers=ranged,
        ),
    }

    for name, response in responses.items():
        assert response.status_code == 206, name
        assert response["Content-Range"] == f"bytes 1-3/{len(PNG)}", name
        assert content(response) == PNG[1:4], name
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["Content-Disposition"].startswith("attachment;"), name
        assert "Content-Security-Policy" in response, name
    # The admin's never-cache headers stay on its partial answers.
    assert "no-store" in responses["forms admin"]["Cache-Control"]
