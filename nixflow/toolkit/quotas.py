"""Storage quotas for comment attachments: per user and per ticket.

The per-file and per-comment limits (``NIXFLOW_MAX_ATTACHMENT_BYTES``,
``NIXFLOW_MAX_ATTACHMENTS``) bound one request; nothing bounded the total, so one
account could fill the disk ten files at a time, limited only by the request rate. Two
totals are kept under settings:

- ``NIXFLOW_USER_STORAGE_QUOTA_BYTES`` (default 1 GiB): the files of every comment a
  user wrote, on every ticket;
- ``NIXFLOW_TICKET_STORAGE_QUOTA_BYTES`` (default 200 MiB): the files on one ticket,
  whoever wrote them.

``0`` switches a quota off. ``comment_create`` checks both after locking the ticket, so
two comments on one ticket cannot both slip under its quota; a user writing on two
tickets at the same instant can exceed theirs by at most one comment's files. A refusal
is a ``StorageQuotaExceededError`` (a Django ``ValidationError``, so the admin shows it as
a form error) that the API answers with 413 ``{"detail": …}``. Mail intake asks
``storage_room`` first and keeps the files that fit, recording the others as refused
with the reason, as it does for files over the per-file limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Sum

from nixflow.models import Attachment, Ticket, User

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.core.files.uploadedfile import UploadedFile

MIB = 1024 * 1024


class StorageQuotaExceededError(ValidationError):
    """Files that would take a user or a ticket past its storage quota (API: 413)."""


def _mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


@dataclass(frozen=True)
class StorageRoom:
    """What a user may still store on a ticket: ``None`` where no quota applies."""

    user_left: int | None = None
    ticket_left: int | None = None

    def refusal(self, size: int) -> str | None:
        """Why ``size`` more bytes do not fit, or None when they do."""
        if self.ticket_left is not None and size > self.ticket_left:
            quota = settings.NIXFLOW_TICKET_STORAGE_QUOTA_BYTES
            return (
                f"{_mib(size)} of files exceed the ticket's storage quota of {_mib(quota)} "
                f"({_mib(max(self.ticket_left, 0))} left)."
            )
        if self.user_left is not None and size > self.user_left:
            quota = settings.NIXFLOW_USER_STORAGE_QUOTA_BYTES
            return (
                f"{_mib(size)} of files exceed your storage quota of {_mib(quota)} "
                f"({_mib(max(self.user_left, 0))} left)."
            )
        return None

    def minus(self, size: int) -> StorageRoom:
        return StorageRoom(
            None if self.user_left is None else self.user_left - size,
            None if self.ticket_left is None else self.ticket_left - size,
        )


def storage_room(*, user: User, ticket: Ticket | None) -> StorageRoom:
    """How much ``user`` may still attach on ``ticket`` (None: a ticket not made yet)."""
    user_quota = settings.NIXFLOW_USER_STORAGE_QUOTA_BYTES
    ticket_quota = settings.NIXFLOW_TICKET_STORAGE_QUOTA_BYTES
    user_left = ticket_left = None
    if user_quota:
        used = Attachment.objects.filter(comment__author=user).aggregate(n=Sum("size"))["n"]
        user_left = user_quota - (used or 0)
    if ticket_quota:
        used = 0
        if ticket is not None and ticket.pk is not None:
            total = Attachment.objects.filter(comment__ticket=ticket).aggregate(n=Sum("size"))
            used = total["n"] or 0
        ticket_left = ticket_quota - used
    return StorageRoom(user_left, ticket_left)


def storage_quota_check(*, user: User, ticket: Ticket, uploads: Sequence[UploadedFile]) -> None:
    """Refuse ``uploads`` when together they do not fit the user's or the ticket's
    quota. Call with the ticket row locked."""
    size = sum(upload.size or 0 for upload in uploads)
    if not size:
        return
    reason = storage_room(user=user, ticket=ticket).refusal(size)
    if reason is not None:
        raise StorageQuotaExceededError({"attachments": reason}, code="storage_quota")
