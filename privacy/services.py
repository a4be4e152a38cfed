"""Data-subject requests: export what the desk holds about a person, or erase it.

Both run every source of ``privacy.registry`` in order. The erasure runs in one
transaction (all or nothing); the files go after it commits, through their storage, so
a rollback never leaves a row pointing at a deleted file.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from nixflow.models import User
from privacy import events, registry
from privacy.models import PrivacyRequest, RequestKind
from privacy.person import Erasure, Person, normalize_address

ARCHIVE_FORMAT = "nixflow-person-export/1"
EXPORT_DIR = "privacy/exports"


class UnknownPersonError(ValidationError):
    pass


class StaffPersonError(ValidationError):
    pass


@dataclass
class ExportResult:
    request: PrivacyRequest
    content: bytes


@dataclass
class ErasureResult:
    request: PrivacyRequest
    files_deleted: int


def person_ref(email: str) -> str:
    """A keyed hash of the address: lets a later request know the address was erased
    before without the desk keeping the address itself."""
    return salted_hmac("privacy.person", normalize_address(email), algorithm="sha256").hexdigest()


def person_lookup(*, email: str, erased_before_ok: bool = False) -> Person:
    """The person an address names; an error when the desk holds nothing about it (or,
    with ``erased_before_ok``, when it never did)."""
    address = normalize_address(email)
    if "@" not in address:
        raise UnknownPersonError(_("“%(address)s” is not an e-mail address.") % {"address": email})
    person = Person.find(address)
    if person.user is None and not _anything_about(person):
        erased = PrivacyRequest.objects.filter(
            kind=RequestKind.ERASURE, person_ref=person_ref(address)
        ).exists()
        if not (erased and erased_before_ok):
            message = (
                _("“%(address)s” was erased before; the desk holds nothing more about it.")
                if erased
                else _("The desk holds nothing about “%(address)s”: no user, mail or submission.")
            )
            raise UnknownPersonError(message % {"address": address})
    return person


def _anything_about(person: Person) -> bool:
    return any(record_count(source.exporter(person).data) for source in registry.sources())


def person_export(*, email: str, actor: User | None) -> ExportResult:
    """A zip of everything the desk holds about the person: ``manifest.json``, one
    ``<source>.json`` per source, and the files under ``files/``. Stored in the default
    storage (under ``privacy/exports/``) and returned."""
    person = person_lookup(email=email)
    buffer = io.BytesIO()
    counts: dict[str, int] = {}
    files = 0
    created = timezone.now()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for source in registry.sources():
            exported = source.exporter(person)
            counts[source.name] = record_count(exported.data)
            archive.writestr(f"{source.name}.json", _json(exported.data))
            for file in exported.files:
                content = file.content
                if content is None:
                    try:
                        with file.storage.open(file.name, "rb") as stored:
                            content = stored.read()
                    except FileNotFoundError:
                        continue
                archive.writestr(file.archive_name, content)
                files += 1
        archive.writestr(
            "manifest.json",
            _json(
                {
                    "format": ARCHIVE_FORMAT,
                    "created": created,
                    "email": person.email,
                    "sources": [
                        {"name": s.name, "file": f"{s.name}.json", "description": s.description}
                        for s in registry.sources()
                    ],
                    "counts": counts,
                    "files": files,
                }
            ),
        )
    content = buffer.getvalue()
    with transaction.atomic():
        request = PrivacyRequest.objects.create(
            kind=RequestKind.EXPORT,
            actor=actor,
            counts=counts,
            files=files,
            created=created,
            person_ref=person_ref(person.email),
        )
        request.archive = default_storage.save(
            f"{EXPORT_DIR}/{request.request_id}.zip", ContentFile(content)
        )
        request.save(update_fields=["archive"])
        events.person_exported(request=request, actor=actor)
    return ExportResult(request=request, content=content)


def person_erase(*, email: str, actor: User | None, include_staff: bool = False) -> ErasureResult:
    """Remove or irreversibly anonymize everything the desk holds about the person.

    Tickets keep their rows and history (their text becomes ``[erased]``, the requester
    an anonymous placeholder user); other people's words lose the person's name and
    address. Running it again finds nothing more to change. Staff accounts are refused
    unless ``include_staff``: erasing an agent rewrites the desk's own work records.
    """
    person = person_lookup(email=email, erased_before_ok=True)
    if person.user is not None and is_staff_account(person.user) and not include_staff:
        raise StaffPersonError(
            _(
                "“%(address)s” is a staff account (%(role)s). Erasing it anonymizes the "
                "desk's records of their work; confirm with the staff option."
            )
            % {"address": person.email, "role": person.user.role}
        )
    erasure = Erasure()
    with transaction.atomic():
        if person.user is not None:
            # One erasure of a person at a time: a second waits, then finds nothing left.
            User.objects.select_for_update().filter(pk=person.user.pk).first()
        for source in registry.sources():
            erasure.counts[source.name] = source.eraser(person, erasure)
        files = sorted(set(erasure.files), key=lambda item: item[1])
        request = PrivacyRequest.objects.create(
            kind=RequestKind.ERASURE,
            actor=actor,
            counts=erasure.counts,
            files=len(files),
            legacy_events=erasure.legacy_events,
            person_ref=person_ref(person.email),
        )
        events.person_erased(request=request, actor=actor)
        transaction.on_commit(lambda: _delete_files(files))
    return ErasureResult(request=request, files_deleted=len(files))


def is_staff_account(user: User) -> bool:
    return user.is_agent or user.is_staff or user.is_superuser


def _delete_files(files: list[tuple[Any, str]]) -> None:
    for storage, name in files:
        storage.delete(name)


def record_count(data: Any) -> int:
    """How many records a source's document holds: a list counts its items, an object
    of plain values (the user record) counts one."""
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        nested = [value for value in data.values() if isinstance(value, (list, dict))]
        if not nested:
            return 1 if any(value not in (None, "", 0) for value in data.values()) else 0
        return sum(record_count(value) for value in nested)
    return 0


def _json(data: Any) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False, default=str)
