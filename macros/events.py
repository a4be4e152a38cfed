"""Every event the macros app records, and what each payload holds.

The event log keeps payloads forever, so these shapes are a contract: keys may be added,
never renamed or dropped.

``macro.created`` / ``macro.deleted`` (subject: the ``Macro``; actor: who)::

    {"name": str, "scope": str, "owner_id": int | null, "team_id": int | null}

``macro.updated`` (subject: the ``Macro``; actor: who)::

    {"fields": [str, ...], "changes": {field: [old, new]}}

with the body's change said as ``"body": ["changed", "changed"]`` only (a canned reply
may quote people; the log is forever), other values as stored (rows by id).

``macro.applied`` (subject: the ``Macro``; actor: the agent; ticket_key: the ticket's
key), one per ticket the macro was applied to, in the transaction of the reply and the
changes (each of which records its own ``ticket.*`` event)::

    {"ticket_id": int, "comment_id": int | null, "changes": [str, ...]}

``comment_id`` is null when the reply was posted by the composer itself (which records
its ``ticket.commented``); ``changes`` are the changes made, in words ("Stage: Waiting on
requester").

``macro.bulk_queued`` (subject: the ``BulkApply``; actor: the agent), when a bulk apply
is queued for the workers, and ``macro.bulk_applied`` (same subject and actor), when its
last chunk committed::

    {"macro_id": int | null, "macro": str, "total": int, "done": int, "failed": int}

(``done`` and ``failed`` are 0 in ``macro.bulk_queued``; each ticket done has its own
``macro.applied``.)
"""

from __future__ import annotations

from typing import Any

from eventlog.models import EventLog
from eventlog.services import event_build, event_record, event_record_many
from macros.models import BulkApply, Macro
from nixflow.models import Comment, Ticket, User

MACRO_CREATED = "macro.created"
MACRO_UPDATED = "macro.updated"
MACRO_DELETED = "macro.deleted"
MACRO_APPLIED = "macro.applied"
MACRO_BULK_QUEUED = "macro.bulk_queued"
MACRO_BULK_APPLIED = "macro.bulk_applied"


def _identity(macro: Macro) -> dict[str, Any]:
    return {
        "name": macro.name,
        "scope": macro.scope,
        "owner_id": macro.owner_id,
        "team_id": macro.owner_team_id,
    }


def macro_created(*, macro: Macro, actor: User | None) -> None:
    event_record(type=MACRO_CREATED, subject=macro, actor=actor, payload=_identity(macro))


def macro_updated(*, macro: Macro, actor: User | None, changes: dict[str, list[Any]]) -> None:
    event_record(
        type=MACRO_UPDATED,
        subject=macro,
        actor=actor,
        payload={"fields": sorted(changes), "changes": changes},
    )


def macro_deleted(*, macro: Macro, actor: User | None) -> None:
    event_record(type=MACRO_DELETED, subject=macro, actor=actor, payload=_identity(macro))


def applied_event(
    *, macro: Macro, ticket: Ticket, actor: User, comment: Comment | None, changes: list[str]
) -> EventLog:
    """A ``macro.applied`` event, built but not recorded: the bulk apply records a
    chunk's events in one INSERT (``event_record_many``)."""
    return event_build(
        type=MACRO_APPLIED,
        subject=macro,
        actor=actor,
        ticket_key=ticket.key,
        payload={
            "ticket_id": ticket.pk,
            "comment_id": comment.pk if comment else None,
            "changes": changes,
        },
    )


def macro_applied(
    *, macro: Macro, ticket: Ticket, actor: User, comment: Comment | None, changes: list[str]
) -> None:
    event = applied_event(macro=macro, ticket=ticket, actor=actor, comment=comment, changes=changes)
    event_record_many(events=[event])


def _bulk_payload(job: BulkApply) -> dict[str, Any]:
    return {
        "macro_id": job.macro_id,
        "macro": job.macro_name,
        "total": job.total,
        "done": job.done_count,
        "failed": job.failed_count,
    }


def bulk_queued(*, job: BulkApply) -> None:
    event_record(type=MACRO_BULK_QUEUED, subject=job, actor=job.actor, payload=_bulk_payload(job))


def bulk_applied(*, job: BulkApply) -> None:
    event_record(type=MACRO_BULK_APPLIED, subject=job, actor=job.actor, payload=_bulk_payload(job))
