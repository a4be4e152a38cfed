"""Files of articles: size and type checked from the content, stored under their hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings

from knowledge import services
from knowledge.models import KnowledgeArticleAttachment
from nixflow.models import User
from tests.knowledge.conftest import client_for, events_of
from tests.knowledge.factories import PNG, ArticleFactory, AttachmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


def test_an_image_is_stored_with_its_hash_and_sniffed_type(editor: User) -> None:
    article = ArticleFactory()

    attachment = services.attachment_add(
        article=article,
        upload=SimpleUploadedFile("screen shot.png", PNG, content_type="text/html"),
        actor=editor,
    )

    assert attachment.content_type == "image/png"  # not what the client claimed
    assert attachment.sha256 == hashlib.sha256(PNG).hexdigest()
    assert attachment.size == len(PNG)
    assert attachment.sha256 in attachment.file.name
    assert attachment.file.read() == PNG


def test_the_same_file_twice_is_one_attachment(editor: User) -> None:
    article = ArticleFactory()

    first = services.attachment_add(
        article=article, upload=SimpleUploadedFile("a.png", PNG), actor=editor
    )
    second = services.attachment_add(
        article=article, upload=SimpleUploadedFile("b.png", PNG), actor=editor
    )

    assert first == second
    assert KnowledgeArticleAttachment.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("x.html", b"<html><script>alert(1)</script></html>"),
        ("x.txt", b"<script>alert(1)</script>"),
        ("x.exe", b"MZ\x90\x00\x03"),
        ("x.png", b"not really a png"),
        ("x.txt", b"\x00\x01binary"),
    ],
)
def test_types_that_are_not_allowed_are_refused(editor: User, name: str, content: bytes) -> None:
    with pytest.raises(ValidationError, match="Allowed are"):
        services.attachment_add(
            article=ArticleFactory(), upload=SimpleUploadedFile(name, content), actor=editor
        )


def test_files_over_the_limit_are_refused(editor: User, settings: Settings) -> None:
    settings.KNOWLEDGE_MAX_ATTACHMENT_BYTES = 50

    with pytest.raises(ValidationError, match="limit is 50"):
        services.attachment_add(
            article=ArticleFactory(), upload=SimpleUploadedFile("a.png", PNG), actor=editor
        )


def test_api_upload_list_and_download(editor: User, reader: User) -> None:
    article = ArticleFactory()

    uploaded = client_for(editor).post(
        f"/api/knowledge/articles/{article.pk}/attachments/",
        {"file": SimpleUploadedFile("notes.txt", b"plain notes\n")},
        format="multipart",
    )
    refused = client_for(reader).post(
        f"/api/knowledge/articles/{article.pk}/attachments/",
        {"file": SimpleUploadedFile("notes.txt", b"x")},
        format="multipart",
    )
    listed = client_for(reader).get(f"/api/knowledge/articles/{article.pk}/attachments/").json()
    download = client_for(reader).get(listed[0]["url"])

    assert uploaded.status_code == 201
    assert refused.status_code == 403
    assert listed[0]["content_type"] == "text/plain"
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == b"plain notes\n"


def test_api_upload_without_a_file_is_400(editor: User) -> None:
    article = ArticleFactory()

    response = client_for(editor).post(
        f"/api/knowledge/articles/{article.pk}/attachments/", {}, format="multipart"
    )

    assert response.status_code == 400
    assert "file" in response.json()


def test_removing_an_attachment_deletes_its_file_once_committed(
    editor: User, django_capture_on_commit_callbacks: Any
) -> None:
    attachment = AttachmentFactory()
    removed = KnowledgeArticleAttachment(pk=attachment.pk)  # the row's pk, once it is gone
    path = Path(attachment.file.path)
    assert path.read_bytes() == PNG

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.attachment_remove(attachment=attachment, actor=editor)
    assert path.exists()  # until the removal commits: a rollback keeps row and file
    for callback in callbacks:
        callback()

    assert not path.exists()
    assert not KnowledgeArticleAttachment.objects.exists()
    assert events_of(removed) == [
        (
            "knowledge.attachment.removed",
            {"article_id": attachment.article_id, "sha256": attachment.sha256},
        )
    ]


def test_readers_download_an_attachment_of_an_article_they_can_see(reader: User) -> None:
    public = AttachmentFactory(filename="diagram.png")
    internal = AttachmentFactory(article=ArticleFactory(visibility="INTERNAL"))

    def download(attachment: KnowledgeArticleAttachment) -> Any:
        return client_for(reader).get(
            f"/api/knowledge/articles/{attachment.article_id}/attachments/{attachment.pk}/"
        )

    response = download(public)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert 'filename="diagram.png"' in response["Content-Disposition"]
    assert download(internal).status_code == 404
