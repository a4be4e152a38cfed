"""Stored files are served so that no browser runs them on our origin
(nixflow/toolkit/downloads.py): always ``Content-Disposition: attachment`` with the name
encoded per RFC 6266, ``X-Content-Type-Options: nosniff``, and every type not on the
inert list (HTML, SVG, JavaScript, XML, unknown ones) as ``application/octet-stream`` —
for ticket comment attachments, knowledge-base files, form submission files and raw
mail alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from email_integration import services as email_services
from email_integration.models import EmailAccount, InboundProtocol
from forms_builder import services as forms_services
from forms_builder.models import CustomForm
from knowledge import services as kb_services
from nixflow import services
from nixflow.models import Ticket, User
from tests.forms_builder.conftest import (  # noqa: F401 -- fixtures for public_form
    PNG,
    designer,
    make_form,
    public_form,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def download(
    client: APIClient, ticket: Ticket, author: User, *, name: str, body: bytes, ctype: str
) -> Any:
    comment = services.comment_create(
        ticket=ticket,
        author=author,
        body="See the file.",
        attachments=[SimpleUploadedFile(name, body, content_type=ctype)],
    )
    client.force_authenticate(author)
    return client.get(f"/api/tickets/{ticket.key}/attachments/{comment.attachments.get().pk}/")


def assert_safe_download(response: Any) -> None:
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("content_type", "name"),
    [
        ("text/html", "page.html"),
        ("text/html; charset=utf-8", "page.htm"),
        ("image/svg+xml", "logo.svg"),
        ("application/javascript", "app.js"),
        ("text/javascript", "app.js"),
        ("text/xml", "feed.xml"),
        ("application/xml", "feed.xml"),
        ("application/xhtml+xml", "page.xhtml"),
        ("application/x-shockwave-flash", "movie.swf"),
        ("TEXT/HTML", "shout.html"),
        ("", "nothing"),
        ("text/plain/../html", "odd"),
    ],
)
def test_active_and_unknown_types_are_served_as_octet_stream(
    api_client: APIClient, ticket: Ticket, agent: User, content_type: str, name: str
) -> None:
    response = download(
        api_client, ticket, agent, name=name, body=b"<script>alert(1)</script>", ctype=content_type
    )

    assert_safe_download(response)
    assert response["Content-Type"] == "application/octet-stream"
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("content_type", "served"),
    [
        ("image/png", "image/png"),
        ("image/jpeg", "image/jpeg"),
        ("application/pdf", "application/pdf"),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
        ('text/plain; charset="iso-8859-1"; name=x', "text/plain; charset=iso-8859-1"),
        ("text/plain; charset=<script>", "text/plain"),
        ("application/zip", "application/zip"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ],
)
def test_inert_types_keep_their_type(
    api_client: APIClient, ticket: Ticket, agent: User, content_type: str, served: str
) -> None:
    response = download(api_client, ticket, agent, name="file", body=b"data", ctype=content_type)

    assert_safe_download(response)
    assert response["Content-Type"] == served


def test_a_name_beyond_ascii_is_sent_encoded_with_an_ascii_fallback(
    api_client: APIClient, ticket: Ticket, agent: User
) -> None:
    response = download(
        api_client, ticket, agent, name="Größe €.pdf", body=b"%PDF", ctype="application/pdf"
    )

    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Gro_e _.pdf"; ')
    assert disposition.endswith("filename*=UTF-8''Gr%C3%B6%C3%9Fe%20%E2%82%AC.pdf")
    assert unquote(disposition.split("''")[1]) == "Größe €.pdf"


def test_quotes_and_line_breaks_in_a_name_cannot_break_the_header(
    api_client: APIClient, ticket: Ticket, agent: User
) -> None:
    response = download(
        api_client,
        ticket,
        agent,
        name='a"b\\c\r\nSet-Cookie: x=1.txt',
        body=b"x",
        ctype="text/plain",
    )

    disposition = response["Content-Disposition"]
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert disposition.startswith('attachment; filename="a_b_cSet-Cookie: x=1.txt"; ')
    assert "Set-Cookie" not in response.headers or "x=1" not in response.headers["Set-Cookie"]


def test_knowledge_base_files_are_served_the_same_way(api_client: APIClient, agent: User) -> None:
    article = kb_services.article_create(title="Diagram", body="See the file.", author=agent)
    attachment = kb_services.attachment_add(
        article=article, upload=SimpleUploadedFile("schéma.png", PNG), actor=agent
    )
    api_client.force_authenticate(agent)

    response = api_client.get(f"/api/knowledge/articles/{article.pk}/attachments/{attachment.pk}/")

    assert_safe_download(response)
    assert response["Content-Type"] == "image/png"
    assert "filename*=UTF-8''sch%C3%A9ma.png" in response["Content-Disposition"]


def test_form_submission_files_are_served_the_same_way(
    client: Client,
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
    attachment.content_type = "text/html"  # as a row stored before types were checked
    attachment.save(update_fields=["content_type"])
    client.force_login(admin_user)

    response = client.get(
        reverse("admin:forms_builder_formsubmission_file", args=[submission.pk, attachment.pk])
    )

    assert_safe_download(response)
    assert response["Content-Type"] == "application/octet-stream"


def test_the_raw_mail_is_served_the_same_way(client: Client, admin_user: User) -> None:
    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    raw = b"From: a@example.com\r\nTo: help@desk.test\r\nSubject: Hi\r\n\r\n<script>x</script>\r\n"
    message, _ = email_services.message_store(account=account, raw=raw)
    client.force_login(admin_user)

    response = client.get(f"/admin/email_integration/emailmessage/{message.pk}/raw/")

    assert_safe_download(response)
    assert response["Content-Type"] == "message/rfc822"
    assert b"".join(response.streaming_content) == raw
