"""Replying to a ticket from the composer: a comment and, if the agent chose one, a stage
change, in one transaction through ``comment_create`` and ``ticket_transition`` (so the
history has one row per changed field and each service records its own event).

Two refusals protect the requester from a careless reply, each lifted by the agent's
explicit choice in the composer:

- ``StaleReply``: a public comment arrived after the newest one the agent saw
  (``seen_comment_id``); the agent reads it first, then may send anyway
  (``confirmed=True``).
- ``ReopenQuestion``: the ticket is resolved or closed and the agent chose no stage; the
  composer asks whether to reopen (the workflow's transitions from that stage), or to
  send without reopening (``keep_stage=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from eventlog.subscribers import subscribers_of
from nixflow import events
from nixflow.models import Comment, Stage, StageCategory, Ticket, Transition, User
from nixflow.services.tickets import comment_create, ticket_transition
from nixflow.toolkit.errors import ConflictError

FINISHED = (StageCategory.RESOLVED, StageCategory.CLOSED)


class StaleReply(ConflictError):  # noqa: N818 -- a question to the agent, not a fault
    """New public comments arrived since the agent loaded the page; ``comments`` holds
    them, oldest first."""

    def __init__(self, comments: list[Comment]) -> None:
        noun = "comment" if len(comments) == 1 else "comments"
        super().__init__(
            f"{len(comments)} new public {noun} arrived since you opened the ticket. "
            "Read it before sending, or send anyway."
        )
        self.comments = comments


class ReopenQuestion(ConflictError):  # noqa: N818 -- a question to the agent
    """The ticket is resolved or closed: the agent must say whether the reply reopens it.
    ``stages``: where the workflow lets it go from here."""

    def __init__(self, ticket: Ticket, stages: list[Stage]) -> None:
        super().__init__(
            f"{ticket.key} is {ticket.stage.name}. Reopen it with your reply, or send "
            "without reopening."
        )
        self.stages = stages


@dataclass(frozen=True)
class Reply:
    comment: Comment
    ticket: Ticket
    from_stage: Stage
    to_stage: Stage | None


def reachable_stages(ticket: Ticket) -> list[Stage]:
    """The stages the workflow lets the ticket move to from where it is, in order."""
    targets = Transition.objects.filter(from_stage=ticket.stage_id).values("to_stage")
    return list(
        Stage.objects.filter(pk__in=targets).exclude(pk=ticket.stage_id).order_by("position")
    )


def new_public_comments(*, ticket: Ticket, author: User, seen_comment_id: int) -> list[Comment]:
    """Public comments by others newer than the one the agent saw, oldest first."""
    return list(
        Comment.objects.filter(ticket=ticket, is_internal=False, pk__gt=seen_comment_id)
        .exclude(author=author)
        .select_related("author")
        .order_by("pk")
    )


def _check_fresh(*, ticket: Ticket, author: User, seen_comment_id: int | None) -> None:
    if seen_comment_id is None:
        return
    newer = new_public_comments(ticket=ticket, author=author, seen_comment_id=seen_comment_id)
    if newer:
        raise StaleReply(newer)


@transaction.atomic
def ticket_reply(
    *,
    ticket: Ticket,
    author: User,
    body: str,
    is_internal: bool,
    attachments: Sequence[UploadedFile] = (),
    to_stage: Stage | None = None,
    seen_comment_id: int | None = None,
    confirmed: bool = False,
    keep_stage: bool = False,
) -> Reply:
    """Post the reply (or note), then move the ticket to ``to_stage`` if given.

    ``confirmed``: send although public comments arrived since ``seen_comment_id``.
    ``keep_stage``: reply on a resolved or closed ticket without reopening it.
    """
    locked = (
        Ticket.objects.select_for_update(of=("self",)).select_related("stage").get(pk=ticket.pk)
    )
    if not confirmed:
        _check_fresh(ticket=locked, author=author, seen_comment_id=seen_comment_id)
    from_stage = locked.stage
    if to_stage is None and not keep_stage and from_stage.category in FINISHED:
        raise ReopenQuestion(locked, reachable_stages(locked))
    if to_stage is not None and to_stage.pk == from_stage.pk:
        raise ValidationError({"stage": f"{locked.key} is already {from_stage.name}."})
    comment = comment_create(
        ticket=locked, author=author, body=body, is_internal=is_internal, attachments=attachments
    )
    if to_stage is not None:
        locked = ticket_transition(ticket=locked, to_stage=to_stage, actor=author)
    else:
        locked.refresh_from_db()
    return Reply(comment=comment, ticket=locked, from_stage=from_stage, to_stage=to_stage)


# The subscriber of email_integration that mails a public agent reply to the requester
# and watchers (email_integration/outbound.py, ``NOTIFY_COMMENT``). Named, not imported:
# the core imports no feature app.
MAIL_SUBSCRIBER = "email.notify_comment"


def reply_mailed_to(comment: Comment) -> str | None:
    """The requester's address when this comment will be mailed to them, else None.

    The same conditions as the mail subscriber's: a public comment by an agent other
    than the requester, a subscriber installed, and an active requester with an address
    that is not one of the desk's own mailboxes (those would loop)."""
    ticket = comment.ticket
    requester = ticket.requester
    if comment.is_internal or not comment.author.is_agent or comment.author_id == requester.pk:
        return None
    if not requester.is_active or not requester.email:
        return None
    if MAIL_SUBSCRIBER not in {s.name for s in subscribers_of(events.TICKET_COMMENTED)}:
        return None
    if apps.is_installed("email_integration"):
        account = apps.get_model("email_integration", "EmailAccount")
        if account.objects.filter(address__iexact=requester.email).exists():
            return None
    return str(requester.email)
