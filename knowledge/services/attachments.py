"""Files of articles (screenshots, PDFs): checked for size and type, stored under their
SHA-256."""

from __future__ import annotations

import hashlib
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from knowledge import events
from knowledge.models import KnowledgeArticle, KnowledgeArticleAttachment
from knowledge.services._common import lock_article, require_agent
from nixflow.models import User

# Types are recognised from the file's first bytes, not from its name or the type the
# client declared. SVG and HTML are refused: a browser runs their scripts.
_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
]
_TEXT_TYPES = {".txt": "text/plain", ".csv": "text/csv", ".log": "text/plain"}


def _sniff(head: bytes, filename: str) -> str | None:
    for signature, offset, content_type in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return content_type
    extension = filename[filename.rfind(".") :].lower() if "." in filename else ""
    if extension in _TEXT_TYPES and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as error:
            # A multi-byte character may be cut at the end of the sample.
            if error.start < len(head) - 4:
                return None
        lowered = head.lower()
        if b"<script" in lowered or b"<html" in lowered or b"<svg" in lowered:
            return None
        return _TEXT_TYPES[extension]
    return None


@transaction.atomic
def attachment_add(
    *, article: KnowledgeArticle, upload: UploadedFile, actor: User | None
) -> KnowledgeArticleAttachment:
    """Attach a file: at most ``KNOWLEDGE_MAX_ATTACHMENT_BYTES``, of an allowed type
    recognised from its content, stored under its SHA-256. The same file twice on one
    article is the existing attachment."""
    require_agent(actor, "attach files")
    limit = getattr(settings, "KNOWLEDGE_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
    size = upload.size or 0
    if size > limit:
        raise ValidationError({"file": f"The file is {size:,} bytes; the limit is {limit:,}."})
    if size == 0:
        raise ValidationError({"file": "The file is empty."})
    filename = re.sub(r"[^\w.\- ]", "_", (upload.name or "attachment").rsplit("/", 1)[-1])[:200]
    upload.seek(0)
    head = upload.read(512)
    content_type = _sniff(head, filename)
    if content_type is None:
        raise ValidationError(
            {"file": "Allowed are PNG, JPEG, GIF and WebP images, PDF, ZIP and plain text."}
        )
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    sha256 = digest.hexdigest()
    article = lock_article(article)
    existing = article.attachments.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    upload.seek(0)
    # Keyword arguments one a line: alike in shape to other constructor calls, different fields.
    attachment = KnowledgeArticleAttachment(
        article=article,
        filename=filename,
        content_type=content_type,
        size=size,
        sha256=sha256,
        uploaded_by=actor,
    )
    # Storage has no transactions: the file is written first and removed again when
    # the row cannot be written. (A rollback of an enclosing transaction leaves the
    # file behind, under a name no row points to.)
    attachment.file.save(filename, upload, save=False)
    try:
        with transaction.atomic():
            attachment.save()
            events.publish(
                events.ATTACHMENT_ADDED,
                subject=attachment,
                actor=actor,
                payload={"article_id": article.pk, "sha256": sha256, "size": size},
            )
    except Exception:
        attachment.file.delete(save=False)
        raise
    return attachment


@transaction.atomic
def attachment_remove(*, attachment: KnowledgeArticleAttachment, actor: User | None) -> None:
    require_agent(actor, "remove attachments")
    events.publish(
        events.ATTACHMENT_REMOVED,
        subject=attachment,
        actor=actor,
        payload={"article_id": attachment.article_id, "sha256": attachment.sha256},
    )
    file = attachment.file
    attachment.delete()
    # Only once the row is gone for good: a rollback must not leave a row without a file.
    transaction.on_commit(lambda: file.delete(save=False))
