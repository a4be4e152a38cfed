"""Tickets, their comments and watchers: each service locks the ticket's row, writes
history and publishes one ticket event."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, models, transaction
from django.utils import timezone

from eventlog.context import current_via, via_label
from eventlog.personal import person_of, personal
from nixflow import events, selectors
from nixflow.fields import document_apply, missing_for_stage
from nixflow.models import (
    Attachment,
    Comment,
    HistoryLog,
    Priority,
    Source,
    Stage,
    StageCategory,
    Ticket,
    TicketWatcher,
    Transition,
    User,
    Workflow,
)
from nixflow.services import assignment, routing
from nixflow.toolkit.auth import require_agent
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.quotas import storage_quota_check
from nixflow.toolkit.services import model_update

logger = logging.getLogger(__name__)

# Every service below locks the ticket row, changes it, writes one HistoryLog row per
# changed field and publishes one event, all in one transaction (nixflow/events.py).

TICKET_FIELDS_FOR_REQUESTERS = frozenset({"title", "description"})
# custom_fields: {name: value} of the desk's custom fields (nixflow.services.fields).
TICKET_FIELDS_FOR_AGENTS = frozenset({"title", "description", "priority", "custom_fields"})


def _display(value: Any) -> str:
    """The text a person reads in the history for a field value."""
    if value is None:
        return ""
    if isinstance(value, User):
        return value.username
    if isinstance(value, Stage | Workflow):
        return value.name
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _lock(ticket: Ticket) -> Ticket:
    """The ticket's row, locked for this transaction and fresh from the database."""
    # of=("self",): FOR UPDATE without it also locks the joined stage and workflow rows,
    # which every ticket shares; concurrent writers (parallel mail intake, say) then
    # queued on the workflow row until each other's transactions ended.
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("stage", "workflow")
        .get(pk=ticket.pk)
    )


def _held(ticket: Ticket, *, locked: bool) -> Ticket:
    """The ticket's locked row: the caller's own when it says so (``locked``: locked in
    this transaction, and the instance as the row stands, e.g. a macro making several
    changes one after the other), else locked and loaded now."""
    return ticket if locked else _lock(ticket)


# Optimistic concurrency: Ticket.version counts the changes of the ticket and its
# conversation, so that "the version I loaded" tells a client (the API's If-Match, the
# admin's collision warning) whether anything changed since. Every change goes through
# _commit_change, which counts it: a service that saves the locked row anyway includes
# the next version in that save (``touch``, no query of its own); any other change costs
# one ``UPDATE ... SET version = version + 1``. A ticket being created stays at version 1
# whatever its creation records (its auto-assignment, say): nobody can have loaded it.
# Watchers are not counted: who follows a ticket changes neither what an agent edits nor
# what they reply to, and a refused reply for a new watcher would be noise (docs/collision.md).
_VERSION_SAVED = "_nixflow_version_saved"
_CREATING = "_nixflow_creating"


class StaleTicketError(Exception):
    """The ticket changed since the version the caller loaded (``ticket_check_version``)."""

    def __init__(self, *, key: str, expected: Sequence[int], current: int) -> None:
        self.key, self.expected, self.current = key, list(expected), current
        loaded = " or ".join(str(v) for v in self.expected)
        super().__init__(
            f"{key} changed since version {loaded}: it is at version {current} now. "
            "Load it again, check what changed, and repeat the change if it still applies."
        )


def touch(ticket: Ticket, at: datetime) -> list[str]:
    """Mark the locked ticket as changed at ``at``: set ``updated`` and the next
    ``version``, and return those fields for the caller's ``save(update_fields=...)``, so
    that ``_commit_change`` counts the change without a query of its own."""
    ticket.updated = at
    ticket.version += 1
    ticket.__dict__[_VERSION_SAVED] = True
    return ["updated", "version"]


def _count_version(ticket: Ticket) -> None:
    if ticket.__dict__.pop(_VERSION_SAVED, False) or ticket.__dict__.get(_CREATING):
        return
    # RETURNING: the instance may come from a caller that did not lock it just now.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Ticket._meta.db_table} SET version = version + 1 "  # noqa: S608 -- our table
            "WHERE id = %s RETURNING version",
            [ticket.pk],
        )
        row = cursor.fetchone()
    if row is not None:
        ticket.version = row[0]


@transaction.atomic
def ticket_check_version(*, ticket: Ticket, expected: Sequence[int]) -> Ticket:
    """Lock the ticket and refuse (StaleTicketError) unless its version is one of
    ``expected`` (an HTTP If-Match). Called in the caller's transaction before the
    services it guards, so that no change can slip in between the check and theirs."""
    locked = _lock(ticket)
    if locked.version not in expected:
        raise StaleTicketError(key=locked.key, expected=expected, current=locked.version)
    return locked


# Services validate fields (lengths, choices, blank) with full_clean, but leave the
# table's constraints and foreign keys to PostgreSQL: the services set those values
# themselves from loaded rows, and validating them here would cost a query each on the
# hottest write paths (mail intake, forms, load) for checks the database makes anyway.
_CHECKED_BY_THE_DATABASE = {"validate_constraints": False, "validate_unique": False}
TICKET_RELATIONS = ["workflow", "stage", "requester", "assignee", "team"]


def _validate_ticket(ticket: Ticket) -> None:
    ticket.full_clean(exclude=TICKET_RELATIONS, **_CHECKED_BY_THE_DATABASE)


def _commit_change(
    *,
    ticket: Ticket,
    actor: User | None,
    event_type: str,
    changes: dict[str, tuple[Any, Any]],
    at: datetime,
    payload: dict[str, Any] | None = None,
    count_version: bool = True,
) -> None:
    """The history rows and the event of a change of the (locked) ticket, and its new
    version (see ``touch``; ``count_version=False`` for changes that are not counted)."""
    if count_version:
        _count_version(ticket)
    shown = {name: (_display(old), _display(new)) for name, (old, new) in changes.items()}
    via = via_label(current_via())  # an automation rule's change says which rule
    HistoryLog.objects.bulk_create(
        HistoryLog(
            ticket=ticket,
            actor=actor,
            field=name,
            old_value=old,
            new_value=new,
            created=at,
            via=via,
        )
        for name, (old, new) in shown.items()
    )
    events.publish(
        events.TicketEvent(
            type=event_type,
            ticket=ticket,
            actor=actor,
            occurred_at=at,
            changes=shown,
            payload=payload or {},
        )
    )


def _require_can_view(actor: User | None, ticket: Ticket) -> None:
    # The API answers 404 before it gets here; this guards every other interface.
    if actor is not None and not selectors.ticket_can_view(user=actor, ticket=ticket):
        raise PermissionDenied(f"You cannot act on ticket {ticket.key}.")


def _validate_assignee(assignee: User | None) -> None:
    if assignee is not None and not (assignee.is_agent and assignee.is_active):
        raise ValidationError(
            {"assignee": f"{assignee.username} is not an active agent; only agents take tickets."}
        )


def _default_workflow() -> Workflow:
    workflow = Workflow.objects.filter(is_default=True, is_active=True).first()
    if workflow is None:
        raise ValidationError({"workflow": "No default workflow is configured; choose one."})
    return workflow


@transaction.atomic
def ticket_create(
    *,
    requester: User,
    title: str,
    description: str = "",
    priority: str = Priority.NORMAL,  # a Priority value; full_clean() refuses any other
    workflow: Workflow | None = None,
    assignee: User | None = None,
    source: Source = Source.WEB,
    actor: User | None,
    origin: str = "",
    custom_fields: Mapping[str, Any] | None = None,
) -> Ticket:
    """Open a ticket in the first stage of ``workflow`` (the default one when None).

    ``actor`` is who does it (None for the system); requesters open tickets only for
    themselves and don't choose the assignee. The routing rules give it its team
    (``origin``: the mail account's name or the form's slug it came through), and that
    team's auto-assignment its assignee when none is given (nixflow.services.assignment).
    ``custom_fields``: values of the workflow's custom fields, checked by their types
    (agents and the system only; recorded with the creation, as ``field.<name>``).
    Creation enters the first stage without the fields it requires: those rules guard
    moves (``ticket_transition``), and a mail or a form must always become a ticket.
    """
    if actor is not None and not actor.is_agent:
        if requester.pk != actor.pk:
            raise PermissionDenied("Requesters can only open tickets for themselves.")
        if assignee is not None:
            raise PermissionDenied("Only agents can assign tickets.")
        if custom_fields:
            raise PermissionDenied("Only agents can set custom fields.")
    if not requester.is_active:
        raise ValidationError({"requester": f"{requester.username} is not an active user."})
    workflow = workflow or _default_workflow()
    if not workflow.is_active:
        raise ValidationError({"workflow": f"Workflow {workflow.name!r} is not active."})
    _validate_assignee(assignee)
    document, field_changes = document_apply(
        document={}, workflow_id=workflow.pk, values=dict(custom_fields or {})
    )
    now = timezone.now()
    ticket = Ticket(
        title=title.strip(),
        description=description,
        priority=priority,
        workflow=workflow,
        stage=workflow.initial_stage,
        requester=requester,
        assignee=assignee,
        source=source,
        created=now,
        updated=now,
        public_updated=now,
        stage_entered_at=now,
        custom_fields=document,
    )
    ticket.team = routing.route(ticket=ticket, origin=origin)
    picked = assignment.pick_for_new_ticket(ticket=ticket) if assignee is None else None
    ticket.assignee = assignee or picked
    ticket.full_clean(exclude=TICKET_RELATIONS, **_CHECKED_BY_THE_DATABASE)
    ticket.save()
    ticket.__dict__[_CREATING] = True  # its creation's records leave it at version 1
    _commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_CREATED,
        changes={
            "ticket": (None, "created"),
            "stage": (None, ticket.stage),
            **({"team": (None, ticket.team)} if ticket.team else {}),
            # An assignee chosen by whoever opened it; auto-assignment's pick is recorded
            # after this, as its own ticket.assigned.
            **({"assignee": (None, assignee)} if assignee is not None else {}),
            **field_changes,
        },
        at=now,
        payload={
            "stage_id": ticket.stage_id,
            "category": ticket.stage.category,
            "priority": ticket.priority,
            "source": ticket.source,
            "team_id": ticket.team_id,
            "assignee_id": assignee.pk if assignee is not None else None,
            **({"fields": sorted(document)} if document else {}),
        },
    )
    if picked is not None:
        assignment.record_auto_assignment(ticket=ticket, assignee=picked)
    return ticket


@transaction.atomic
def ticket_delete(*, ticket: Ticket, actor: User | None, reason: str = "") -> None:
    """Delete a ticket with all that is kept about it (conversation, watchers, history,
    SLA clocks, ...): superusers only, for mistakes and spam.

    The event log outlives it: a ``ticket.deleted`` event, in the same transaction, says
    who deleted what and why, with the ticket's main fields. Attachment files stay in
    storage: mail records may share them (the raw message keeps them anyway).
    """
    if actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only superusers can delete tickets.")
    ticket = _lock(ticket)
    events.publish_deletion(
        ticket=ticket,
        actor=actor,
        occurred_at=timezone.now(),
        payload={
            "title": personal(ticket.title, person=person_of(ticket.requester)),
            "requester_id": ticket.requester_id,
            "requester": personal(
                ticket.requester.get_username(), person=person_of(ticket.requester)
            ),
            "stage": ticket.stage.name,
            "priority": ticket.priority,
            "source": ticket.source,
            "created": ticket.created.isoformat(),
            "comments": ticket.comments.count(),
            "reason": reason.strip(),
        },
    )
    ticket.delete()


@transaction.atomic
def ticket_update(*, ticket: Ticket, actor: User | None, data: dict[str, Any]) -> Ticket:
    """Change the ticket's own fields (title, description, priority) and, under
    ``custom_fields``, values of its custom fields (``{name: value}``, None clears one).

    Stage, assignee and watchers have their own services; requesters may change only the
    title and description of tickets they can see. One ``ticket.updated`` for all of it,
    with ``{"fields": [names]}`` when custom fields changed.
    """
    allowed = (
        TICKET_FIELDS_FOR_AGENTS
        if actor is None or actor.is_agent
        else TICKET_FIELDS_FOR_REQUESTERS
    )
    not_allowed = sorted(set(data) - allowed)
    if not_allowed:
        raise PermissionDenied(f"You cannot change {', '.join(not_allowed)} here.")
    _require_can_view(actor, ticket)
    ticket = _lock(ticket)
    now = timezone.now()
    data = dict(data)
    field_changes: dict[str, tuple[str, str]] = {}
    if "custom_fields" in data:
        document, field_changes = document_apply(
            document=ticket.custom_fields,
            workflow_id=ticket.workflow_id,
            values=data.pop("custom_fields") or {},
        )
    if "title" in data:
        data["title"] = data["title"].strip()  # normalised as in ticket_create
    also_set: dict[str, Any] = {"updated": now, "version": ticket.version + 1}
    if {"title", "description"} & set(data):
        also_set["public_updated"] = now  # what the requester reads (Ticket.public_updated)
    changes = model_update(
        instance=ticket, data=data, also_set=also_set, validate=_validate_ticket, save=False
    )
    if not changes and not field_changes:
        return ticket
    saved = [*changes, *also_set]
    if field_changes:
        for name, value in also_set.items():  # set by model_update only when it changed
            setattr(ticket, name, value)
        ticket.custom_fields = document
        saved.append("custom_fields")
    ticket.save(update_fields=saved)
    ticket.__dict__[_VERSION_SAVED] = True  # saved with the next version (see touch)
    _commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_UPDATED,
        changes={**changes, **field_changes},
        at=now,
        payload={"fields": sorted(n.removeprefix("field.") for n in field_changes)}
        if field_changes
        else None,
    )
    return ticket


def _allowed_targets(stage: Stage) -> str:
    names = [t.to_stage.name for t in stage.transitions.select_related("to_stage")]
    return ", ".join(repr(n) for n in names) if names else "none (it is a final stage)"


@transaction.atomic
def ticket_transition(
    *, ticket: Ticket, to_stage: Stage, actor: User | None, locked: bool = False
) -> Ticket:
    """Move the ticket along an allowed transition of its workflow.

    Entering a RESOLVED stage sets ``resolved_at``; entering CLOSED sets ``closed_at``
    (and ``resolved_at`` when the ticket skipped RESOLVED); going back to an open
    category (a reopen) clears both. A stage some custom fields are required for is
    refused while any of them is empty ("Root cause is required to move to Resolved.").
    Merges close tickets without that check (``move_to_stage``): a duplicate folded
    into another ticket has nothing to record of its own.
    """
    _require_can_view(actor, ticket)
    ticket = _held(ticket, locked=locked)
    current = ticket.stage
    if to_stage.workflow_id != ticket.workflow_id:
        raise ValidationError(
            {"stage": f"Stage {to_stage.name!r} is not in workflow {ticket.workflow.name!r}."}
        )
    if to_stage.pk == current.pk:
        raise ConflictError({"stage": f"{ticket.key} is already in stage {current.name!r}."})
    transition = Transition.objects.filter(from_stage=current, to_stage=to_stage).first()
    if transition is None:
        raise ConflictError(
            {
                "stage": f"{ticket.key} cannot move from {current.name!r} to "
                f"{to_stage.name!r}. Allowed from {current.name!r}: {_allowed_targets(current)}."
            }
        )
    if (
        actor is not None
        and not actor.is_agent
        and not (transition.requester_allowed and actor.pk == ticket.requester_id)
    ):
        raise PermissionDenied(
            f"Only agents can move a ticket from {current.name!r} to {to_stage.name!r}."
        )
    missing = missing_for_stage(document=ticket.custom_fields, stage_id=to_stage.pk)
    if missing:
        raise ValidationError(
            {
                "custom_fields": [
                    f"{field.label} is required to move to {to_stage.name}." for field in missing
                ]
            }
        )
    return move_to_stage(ticket=ticket, to_stage=to_stage, actor=actor, at=timezone.now())


def move_to_stage(
    *,
    ticket: Ticket,
    to_stage: Stage,
    actor: User | None,
    at: datetime,
    payload: dict[str, Any] | None = None,
) -> Ticket:
    """The change of ``ticket_transition`` once it is allowed, on the locked ticket: the
    stage, the resolved and closed times it implies, history and ``ticket.transitioned``
    (``payload``: keys added to the event's, e.g. a merge's ``merged_into_id``)."""
    current = ticket.stage
    changes: dict[str, tuple[Any, Any]] = {"stage": (current, to_stage)}
    if to_stage.category == StageCategory.RESOLVED:
        timestamps = {"resolved_at": ticket.resolved_at or at, "closed_at": None}
    elif to_stage.category == StageCategory.CLOSED:
        timestamps = {"resolved_at": ticket.resolved_at or at, "closed_at": at}
    else:
        timestamps = {"resolved_at": None, "closed_at": None}
    changes.update(model_update(instance=ticket, data=timestamps, validate=None, save=False))
    ticket.stage = to_stage
    ticket.stage_entered_at = at  # what time rules measure from
    ticket.public_updated = at  # the requester sees the stage (Ticket.public_updated)
    ticket.save(
        update_fields=[
            "stage",
            "stage_entered_at",
            "public_updated",
            *touch(ticket, at),
            *(n for n in changes if n != "stage"),
        ]
    )
    _commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_TRANSITIONED,
        changes=changes,
        at=at,
        payload={
            "from_stage_id": current.pk,
            "to_stage_id": to_stage.pk,
            "from_category": current.category,
            "to_category": to_stage.category,
            **(payload or {}),
        },
    )
    return ticket


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee: User | None, actor: User | None) -> Ticket:
    """Give the ticket to an active agent, or unassign it with None. Agents only."""
    require_agent(actor, "assign tickets")
    _validate_assignee(assignee)
    return assign_locked(ticket=_lock(ticket), assignee=assignee, actor=actor)


def assign_locked(*, ticket: Ticket, assignee: User | None, actor: User | None) -> Ticket:
    """``ticket_assign``'s change, on a ticket the caller locked in this transaction and
    holds as its row stands (auto-assignment, which picked an active agent itself:
    locking and loading the row again would cost three statements a ticket)."""
    if ticket.assignee_id == (assignee.pk if assignee else None):
        return ticket
    now = timezone.now()
    previous_id = ticket.assignee_id
    changes = {"assignee": (ticket.assignee, assignee)}
    ticket.assignee = assignee
    ticket.save(update_fields=["assignee", *touch(ticket, now)])
    _commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_ASSIGNED,
        changes=changes,
        at=now,
        payload={
            "assignee_id": assignee.pk if assignee else None,
            "previous_assignee_id": previous_id,
        },
    )
    return ticket


def _validate_attachments(attachments: Sequence[UploadedFile]) -> None:
    limit = settings.NIXFLOW_MAX_ATTACHMENT_BYTES
    if len(attachments) > settings.NIXFLOW_MAX_ATTACHMENTS:
        raise ValidationError(
            {"attachments": f"At most {settings.NIXFLOW_MAX_ATTACHMENTS} files per comment."}
        )
    for upload in attachments:
        if upload.size is not None and upload.size > limit:
            raise ValidationError(
                {
                    "attachments": f"{upload.name} is {upload.size} bytes; "
                    f"the limit is {limit} bytes per file."
                }
            )


def _attachment_file_field() -> models.FileField:
    return Attachment._meta.get_field("file")


def _attachments_store(uploads: Sequence[UploadedFile]) -> list[str]:
    """Write ``uploads`` to the attachments' storage, each under the name its row will
    hold (``attachment_path``); the names, in order. A failure removes those written."""
    field = _attachment_file_field()
    names: list[str] = []
    try:
        for upload in uploads:
            name = field.generate_filename(None, upload.name or "attachment")
            names.append(field.storage.save(name, upload, max_length=field.max_length))
    except BaseException:
        _attachments_discard(names)
        raise
    return names


def _attachments_discard(names: Sequence[str]) -> None:
    """Remove files written for a comment that was not made (best effort: a file left
    behind is never linked, and costs its bytes only)."""
    field = _attachment_file_field()
    for name in names:
        try:
            field.storage.delete(name)
        except Exception:
            logger.warning("Could not remove the unused attachment %s", name, exc_info=True)


@transaction.atomic
def comment_create(
    *,
    ticket: Ticket,
    author: User,
    body: str,
    is_internal: bool = False,
    attachments: Sequence[UploadedFile] = (),
    locked: bool = False,
) -> Comment:
    """Add a public or internal comment; the first public agent comment is the first
    response. Requesters write only public comments, on tickets they can see.
    ``locked``: the caller locked the ticket in this transaction and holds it as the row
    stands (``_held``), as ticket_transition and the tag services also take it."""
    if not body.strip():
        raise ValidationError({"body": "A comment needs a body."})
    if is_internal and not author.is_agent:
        raise PermissionDenied("Requesters cannot write internal comments.")
    _require_can_view(author, ticket)
    _validate_attachments(attachments)
    # Written before the ticket is locked: an upload to object storage takes as long as
    # the file is large, and every other change of the ticket would wait for it.
    stored = _attachments_store(attachments)
    try:
        ticket = _held(ticket, locked=locked)
        storage_quota_check(user=author, ticket=ticket, uploads=attachments)
        now = timezone.now()
        comment = Comment(
            ticket=ticket, author=author, body=body, is_internal=is_internal, created=now
        )
        comment.full_clean(exclude=["ticket", "author"], **_CHECKED_BY_THE_DATABASE)
        comment.save()
    except BaseException:
        _attachments_discard(stored)
        raise
    Attachment.objects.bulk_create(
        Attachment(
            comment=comment,
            file=name,
            filename=upload.name or "attachment",
            content_type=upload.content_type or "application/octet-stream",
            size=upload.size or 0,
        )
        for upload, name in zip(attachments, stored, strict=True)
    )

    changes: dict[str, tuple[Any, Any]] = {}
    update_fields = touch(ticket, now)
    if not is_internal:
        # An internal note moves ``updated`` only: the requester must not see it happen.
        ticket.public_updated = now
        update_fields.append("public_updated")
    first_response = (
        author.is_agent
        and not is_internal
        and author.pk != ticket.requester_id
        and ticket.first_response_at is None
    )
    if first_response:
        changes["first_response_at"] = (None, now)
        ticket.first_response_at = now
        update_fields.append("first_response_at")
    ticket.save(update_fields=update_fields)
    _commit_change(
        ticket=ticket,
        actor=author,
        event_type=events.TICKET_COMMENTED,
        changes=changes,
        at=now,
        payload={
            "comment_id": comment.pk,
            "is_internal": is_internal,
            "by_agent": author.is_agent,
            "first_response": first_response,
        },
    )
    return comment


def _check_watch_rights(*, ticket: Ticket, user: User, actor: User | None) -> None:
    if actor is not None and not actor.is_agent and user.pk != actor.pk:
        raise PermissionDenied("Requesters can only add or remove themselves as watchers.")
    _require_can_view(actor, ticket)


@transaction.atomic
def ticket_watch(*, ticket: Ticket, user: User, actor: User | None) -> TicketWatcher:
    """Make ``user`` a watcher (idempotent). Agents add anyone; requesters themselves."""
    _check_watch_rights(ticket=ticket, user=user, actor=actor)
    if not user.is_active:
        raise ValidationError({"user": f"{user.username} is not an active user."})
    ticket = _lock(ticket)
    watcher, created = TicketWatcher.objects.get_or_create(ticket=ticket, user=user)
    if created:
        _commit_change(
            ticket=ticket,
            actor=actor,
            event_type=events.TICKET_WATCHED,
            changes={"watcher": (None, user)},
            at=watcher.created,
            payload={"user_id": user.pk},
            count_version=False,
        )
    return watcher


@transaction.atomic
def ticket_unwatch(*, ticket: Ticket, user: User, actor: User | None) -> bool:
    """Stop ``user`` watching; False when they were not watching."""
    _check_watch_rights(ticket=ticket, user=user, actor=actor)
    ticket = _lock(ticket)
    deleted, _ = TicketWatcher.objects.filter(ticket=ticket, user=user).delete()
    if deleted:
        _commit_change(
            ticket=ticket,
            actor=actor,
            event_type=events.TICKET_UNWATCHED,
            changes={"watcher": (user, None)},
            at=timezone.now(),
            payload={"user_id": user.pk},
            count_version=False,
        )
    return bool(deleted)
