"""The files of a submission: written to storage before its transaction, removed again
when that transaction rolls back (a rolled-back transaction can't take a file back)."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile

from forms_builder.models import FormSubmissionAttachment

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredFile:
    """An upload written to storage, not yet attached to a row."""

    field_key: str
    name: str  # in storage
    original_name: str
    size: int
    content_type: str
    sha256: str

    @classmethod
    def of(cls, attachment: FormSubmissionAttachment) -> StoredFile:
        return cls(
            field_key=attachment.field_key,
            name=attachment.file.name or "",
            original_name=attachment.original_name,
            size=attachment.size,
            content_type=attachment.content_type,
            sha256=attachment.sha256,
        )


def storage() -> Storage:
    return FormSubmissionAttachment._meta.get_field("file").storage


def _content_type(upload: UploadedFile, original: str) -> str:
    guessed = mimetypes.guess_type(original)[0]
    return (guessed or upload.content_type or "application/octet-stream")[:255]


def store_files(uploads: Mapping[str, UploadedFile]) -> list[StoredFile]:
    """Write validated uploads to storage with their SHA-256, outside any transaction;
    the caller removes them (``remove_files``) when its transaction fails."""
    field = FormSubmissionAttachment._meta.get_field("file")
    stored: list[StoredFile] = []
    try:
        for key, upload in uploads.items():
            digest = hashlib.sha256()
            for chunk in upload.chunks():
                digest.update(chunk)
            original = upload.name or "file"
            target = field.generate_filename(None, original)
            name = storage().save(target, upload, max_length=field.max_length)
            stored.append(
                StoredFile(
                    field_key=key,
                    name=name,
                    original_name=original[:255],
                    size=upload.size or 0,
                    content_type=_content_type(upload, original),
                    sha256=digest.hexdigest(),
                )
            )
    except BaseException:
        remove_files([s.name for s in stored])
        raise
    return stored


def remove_files(names: Iterable[str]) -> None:
    files = storage()
    for name in names:
        try:
            files.delete(name)
        except OSError:  # already gone, or the disk is failing: nothing more to do here
            logger.warning("Could not remove stored file %s", name, exc_info=True)
