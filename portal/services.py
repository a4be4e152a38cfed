"""Writes of the portal. The ticket's own changes go through the core's services
(``ticket_create``, ``ticket_reply``, ``ticket_transition``, ``ticket_unwatch``), which
check what a requester may do, lock, keep history and publish events; the portal adds
its checks of what a person uploads and the deflection attempts it keeps."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Func, Value
from django.db.models.fields import BigIntegerField
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from nixflow import services
from nixflow.models import Source, Stage, Ticket, User
from nixflow.services.replies import Reply
from nixflow.toolkit.errors import ConflictError
from portal.models import DeflectionAttempt

# The first bytes of the file types people send a desk; a file with one of these
# extensions must start with one of its signatures, so that a renamed program cannot
# pass as a screenshot (the same list as the form pages'). Other types are not sniffed.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "docx": (b"PK\x03\x04",),
    "xlsx": (b"PK\x03\x04",),
    "pptx": (b"PK\x03\x04",),
}
# Refused whatever their content: a browser or the desktop runs them.
REFUSED_EXTENSIONS = frozenset(
    {"exe", "bat", "cmd", "com", "scr", "js", "vbs", "msi", "html", "htm", "svg"}
)


def human_size(size: int) -> str:
    for unit, step in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= step:
            return f"{size / step:.0f} {unit}"
    return f"{size} B"


def uploads_check(files: Sequence[UploadedFile]) -> None:
    """Refuse, with a message the requester reads, files the desk does not take: more
    than ``NIXFLOW_MAX_ATTACHMENTS``, larger than ``NIXFLOW_MAX_ATTACHMENT_BYTES``,
    empty, of a refused type, or whose content is not what their name says. The core
    checks count and size again (``comment_create``) for every other interface."""
    limit = settings.NIXFLOW_MAX_ATTACHMENT_BYTES
    most = settings.NIXFLOW_MAX_ATTACHMENTS
    if len(files) > most:
        raise ValidationError(
            ngettext(
                "You can attach at most %(n)d file.", "You can attach at most %(n)d files.", most
            )
            % {"n": most}
        )
    for upload in files:
        name = os.path.basename((upload.name or "").replace("\\", "/")) or "file"
        size = upload.size or 0
        if size == 0:
            raise ValidationError(_("%(name)s is empty.") % {"name": name})
        if size > limit:
            raise ValidationError(
                _("%(name)s is %(size)s; a file can be at most %(limit)s.")
                % {"name": name, "size": human_size(size), "limit": human_size(limit)}
            )
        extension = os.path.splitext(name)[1].lower().lstrip(".")
        if extension in REFUSED_EXTENSIONS:
            raise ValidationError(
                _("%(name)s: files of this type are not accepted.") % {"name": name}
            )
        signatures = SIGNATURES.get(extension)
        if signatures:
            upload.seek(0)
            head = upload.read(16)
            upload.seek(0)
            if not head.startswith(signatures):
                raise ValidationError(
                    _("%(name)s is not a .%(ext)s file, whatever its name says.")
                    % {"name": name, "ext": extension}
                )


def _names(files: Sequence[UploadedFile]) -> str:
    return ", ".join(os.path.basename(f.name or "file") for f in files)


@transaction.atomic
def portal_request_create(
    *,
    requester: User,
    subject: str,
    description: str,
    files: Sequence[UploadedFile] = (),
    attempt_token: str = "",
) -> Ticket:
    """File a request from "New request": the ticket (``ticket_create``, routed as
    coming from the portal), a comment of the requester's carrying the files, and the
    page's deflection attempt marked as ended in a request."""
    uploads_check(files)
    ticket = services.ticket_create(
        requester=requester,
        title=subject,
        description=description,
        source=Source.WEB,
        actor=requester,
        origin="portal",
    )
    if files:
        # Stored text, in the desk's language like the form pages' and mail's own.
        services.comment_create(
            ticket=ticket,
            author=requester,
            body=f"Files sent with the request: {_names(files)}",
            attachments=files,
        )
    if attempt_token:
        DeflectionAttempt.objects.filter(
            token=attempt_token, requester=requester, ticket__isnull=True
        ).update(ticket=ticket)
    return ticket


def portal_reply(
    *,
    ticket: Ticket,
    requester: User,
    body: str,
    files: Sequence[UploadedFile] = (),
    seen_comment_id: int | None = None,
    confirmed: bool = False,
) -> Reply:
    """The requester's public reply (``ticket_reply``: locked, checked, one event).
    ``seen_comment_id``: the newest public comment on their page; a public comment by
    someone else since then is ``StaleReply`` unless ``confirmed``. The ticket's
    ``version`` is not the test, unlike the agent's forms: internal notes count in it,
    and a refusal would tell the requester one was written."""
    uploads_check(files)
    return services.ticket_reply(
        ticket=ticket,
        author=requester,
        body=body,
        is_internal=False,
        attachments=files,
        seen_comment_id=seen_comment_id,
        confirmed=confirmed,
        keep_stage=True,  # replying never moves the stage; reopening is its own button
    )


class StageChanged(ConflictError):  # noqa: N818 -- a message to the requester
    """The ticket moved since the requester's page showed it."""


@transaction.atomic
def portal_transition(
    *, ticket: Ticket, requester: User, to_stage: Stage, seen_stage_id: int
) -> Ticket:
    """Reopen or resolve (``ticket_transition``, which allows only the requester and
    only ``requester_allowed`` transitions), refused with ``StageChanged`` when the
    ticket is no longer in the stage the requester's page showed (someone moved it
    meanwhile: their click was about the old state)."""
    locked = Ticket.objects.select_for_update(of=("self",)).select_related("stage", "workflow")
    current = locked.get(pk=ticket.pk)
    if current.stage_id != seen_stage_id:
        raise StageChanged(_("This request changed since you opened it. Here is where it is now."))
    return services.ticket_transition(
        ticket=current, to_stage=to_stage, actor=requester, locked=True
    )


# --- deflection -----------------------------------------------------------------------
class _ArrayUnion(Func):
    """``array(SELECT DISTINCT unnest(a || b))``: the ids of both, each once."""

    template = "ARRAY(SELECT DISTINCT x FROM unnest(%(expressions)s) AS x ORDER BY x)"
    arg_joiner = " || "


def deflection_shown(
    *, requester: User, token: str, subject: str, article_ids: Sequence[int]
) -> None:
    """Record the suggestions shown on the page ``token`` names (the first time
    creates the attempt). Nothing is recorded when none was shown."""
    if not article_ids:
        return
    ids = Value(list(article_ids), output_field=ArrayField(BigIntegerField()))
    updated = DeflectionAttempt.objects.filter(token=token, requester=requester).update(
        subject=subject[:200],
        shown=_ArrayUnion("shown", ids, output_field=ArrayField(BigIntegerField())),
    )
    if not updated:
        DeflectionAttempt.objects.get_or_create(
            token=token,
            defaults={"requester": requester, "subject": subject[:200], "shown": list(article_ids)},
        )


def deflection_opened(
    *, requester: User, token: str, article_id: int, at: datetime | None = None
) -> bool:
    """Record that the requester opened a suggestion shown on the page ``token``
    names; False when that page showed them no such article (nothing recorded)."""
    at = at or timezone.now()
    attempt = (
        DeflectionAttempt.objects.filter(
            token=token, requester=requester, shown__contains=[article_id]
        )
        .only("id", "opened", "first_opened_at")
        .first()
    )
    if attempt is None:
        return False
    ids = Value([article_id], output_field=ArrayField(BigIntegerField()))
    DeflectionAttempt.objects.filter(pk=attempt.pk).update(
        opened=_ArrayUnion("opened", ids, output_field=ArrayField(BigIntegerField()))
    )
    # The first opening starts the window; a conditional UPDATE, so two at once agree.
    DeflectionAttempt.objects.filter(pk=attempt.pk, first_opened_at__isnull=True).update(
        first_opened_at=at
    )
    return True
