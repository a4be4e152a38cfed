"""Every event the privacy app records.

The event log is kept forever, so these payloads never hold personal data: the
request's id and counts, never the address asked about.

``privacy.person_exported`` (subject: the PrivacyRequest)
    ``request_id``; ``counts``: rows per source; ``files``: files copied.
``privacy.person_erased`` (subject: the PrivacyRequest)
    ``request_id``; ``counts``: rows changed per source; ``files``: files deleted;
    ``legacy_events``: events recorded before per-person encryption that still hold the
    person's address in plain (the log cannot be rewritten; see docs/privacy.md).
"""

from __future__ import annotations

from eventlog.services import event_record
from nixflow.models import User
from privacy.models import PrivacyRequest

PERSON_EXPORTED = "privacy.person_exported"
PERSON_ERASED = "privacy.person_erased"


def _payload(request: PrivacyRequest) -> dict[str, object]:
    return {
        "request_id": str(request.request_id),
        "counts": request.counts,
        "files": request.files,
    }


def person_exported(*, request: PrivacyRequest, actor: User | None) -> None:
    event_record(type=PERSON_EXPORTED, subject=request, actor=actor, payload=_payload(request))


def person_erased(*, request: PrivacyRequest, actor: User | None) -> None:
    event_record(
        type=PERSON_ERASED,
        subject=request,
        actor=actor,
        payload={**_payload(request), "legacy_events": request.legacy_events},
    )
