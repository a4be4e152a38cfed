"""Writes of the macros app: managing macros and applying them to tickets.

Managing: an agent creates and changes their personal macros, a team's leads the team's
macros, admins every macro (``macros.selectors.may_manage``); each change is one
``macro.*`` event. Applying: the body rendered in the sandbox (``macros.sandbox``) is
posted with ``nixflow.services.comment_create``, then each change the macro makes goes
through the core's service for it (``ticket_transition``, ``ticket_update``,
``ticket_set_team``, ``ticket_assign``, ``ticket_tag_add/remove``), all in one
transaction: a change the workflow forbids is refused with the core's own message and
nothing of the macro stays. Usage is counted with ``F()`` so concurrent applies never
lose a count.

Bulk: ``macro_apply_bulk`` applies a macro to a few tickets in the caller's process,
``macro_bulk_enqueue`` queues more for the Celery workers as a ``BulkApply`` job whose
chunks ``macro_bulk_apply_chunk`` applies (docs/macros.md, "Bulk").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import (
    NON_FIELD_ERRORS,
    ObjectDoesNotExist,
    PermissionDenied,
    ValidationError,
)
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.template import Template
from django.utils import timezone, translation

from eventlog.models import EventLog
from eventlog.outbox import Message, outbox_enqueue_many
from eventlog.services import event_record_many
from macros import events, sandbox, selectors
from macros.models import EDITABLE_FIELDS, Assignment, BulkApply, Macro, Scope
from nixflow import services
from nixflow.models import Comment, Priority, Ticket, User
from nixflow.services.tags import clean_tag_names
from nixflow.toolkit.auth import require_agent
from nixflow.toolkit.errors import ConflictError, error_text
from nixflow.toolkit.services import changes_payload, model_update

MACRO_FIELDS = frozenset(EDITABLE_FIELDS)
# Tickets per transaction; in the background also per task, so that several workers
# share a job (1,000 tickets: 20 chunks for the workers to take as they are free).
BULK_CHUNK = 50
# Up to this many tickets the admin applies a macro in the request; more are queued.
BULK_SYNC_LIMIT = 50
BULK_TASK = "macros.tasks.apply_bulk_chunk"


# --- Managing macros ----------------------------------------------------------------------
def _clean_data(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - MACRO_FIELDS)
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(unknown)}.")
    cleaned = dict(data)
    if "name" in cleaned:
        cleaned["name"] = str(cleaned["name"]).strip()
    for name in ("add_tags", "remove_tags"):
        if name in cleaned:
            try:
                cleaned[name] = clean_tag_names(cleaned[name] or [])
            except ValidationError as error:
                raise ValidationError({name: error.messages}) from error
    return cleaned


def _normalise(macro: Macro, actor: User | None) -> None:
    """Each scope keeps only its own owner; a personal macro without one is the actor's;
    only "assign to a named agent" keeps an assignee."""
    if macro.scope == Scope.PERSONAL:
        macro.owner_team = None
        if macro.owner_id is None and actor is not None:
            macro.owner = actor
    elif macro.scope == Scope.TEAM:
        macro.owner = None
    else:
        macro.owner = macro.owner_team = None
    if macro.assignment != Assignment.USER:
        macro.assignee = None


# The field a constraint's refusal is about (full_clean reports constraints on none).
CONSTRAINT_FIELDS = {
    "macros_macro_personal_name_unique": "name",
    "macros_macro_team_name_unique": "name",
    "macros_macro_global_name_unique": "name",
    "macros_macro_scope_owner": "scope",
    "macros_macro_assignee_named": "assignee",
}


def _field_of(message: str) -> str:
    for constraint in Macro._meta.constraints:
        if str(getattr(constraint, "violation_error_message", "")) == message:
            return CONSTRAINT_FIELDS.get(constraint.name, NON_FIELD_ERRORS)
    return NON_FIELD_ERRORS


NAME_TAKEN = {
    str(getattr(c, "violation_error_message", ""))
    for c in Macro._meta.constraints
    if CONSTRAINT_FIELDS.get(c.name) == "name"
}


def _on_fields(error: ValidationError) -> ValidationError:
    """full_clean's errors on the fields they are about; a name taken in the scope is a
    conflict (the API's 409): the same request may succeed once the other is renamed."""
    if not hasattr(error, "error_dict"):
        return error
    placed: dict[str, list[str]] = {}
    for name, messages in error.message_dict.items():
        for message in messages:
            field = _field_of(message) if name == NON_FIELD_ERRORS else name
            placed.setdefault(field, []).append(message)
    if set(placed.get("name", [])) & NAME_TAKEN:
        return ConflictError(placed)
    return ValidationError(placed)


def _validate(macro: Macro) -> None:
    try:
        macro.full_clean()
    except ValidationError as error:
        raise _on_fields(error) from error
    sandbox.compile_body(macro.body)
    if macro.owner is not None and not macro.owner.is_agent:
        raise ValidationError({"owner": "A personal macro belongs to an agent."})
    if macro.assignee is not None and not (macro.assignee.is_agent and macro.assignee.is_active):
        raise ValidationError({"assignee": f"{macro.assignee} is not an active agent."})
    if macro.assignment == Assignment.USER and macro.assignee is None:
        raise ValidationError({"assignee": "Name the agent the macro assigns tickets to."})


def _require_manage(actor: User | None, macro: Macro, verb: str) -> None:
    if actor is None:
        return
    require_agent(actor, f"{verb} macros")
    if not selectors.may_manage(
        user=actor, scope=macro.scope, owner_id=macro.owner_id, team_id=macro.owner_team_id
    ):
        raise PermissionDenied(_who_may(macro.scope, verb))


def _who_may(scope: str, verb: str) -> str:
    if scope == Scope.GLOBAL:
        return f"Only admins can {verb} global macros."
    if scope == Scope.TEAM:
        return f"Only the team's leads and admins can {verb} a team's macros."
    return f"Only its owner and admins can {verb} a personal macro."


def _refusal(error: IntegrityError) -> ValidationError:
    text = str(error)
    for constraint in Macro._meta.constraints:
        if constraint.name in text:
            message = str(getattr(constraint, "violation_error_message", None) or text)
            field = CONSTRAINT_FIELDS.get(constraint.name, NON_FIELD_ERRORS)
            refusal = ConflictError if field == "name" else ValidationError
            return refusal({field: message})
    return ValidationError("The change conflicts with another one made at the same time.")


def _save(macro: Macro, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            macro.save(**kwargs)
    except IntegrityError as error:
        raise _refusal(error) from error


@transaction.atomic
def macro_create(*, actor: User | None, data: Mapping[str, Any]) -> Macro:
    """Create a macro; personal ones belong to the actor unless an admin names an
    owner. Records ``macro.created``."""
    require_agent(actor, "create macros")
    macro = Macro(**_clean_data(data), created_by=actor)
    _normalise(macro, actor)
    _require_manage(actor, macro, "create")
    _validate(macro)
    _save(macro)
    events.macro_created(macro=macro, actor=actor)
    return macro


@transaction.atomic
def macro_update(*, macro: Macro, actor: User | None, data: Mapping[str, Any]) -> Macro:
    """Change a macro (as a PATCH: only the fields in ``data``). The actor must manage it
    as it was and as it becomes. Records ``macro.updated``, nothing when nothing
    changed."""
    require_agent(actor, "change macros")
    macro = Macro.objects.select_for_update().get(pk=macro.pk)
    _require_manage(actor, macro, "change")
    changes = model_update(instance=macro, data=_clean_data(data), validate=None, save=False)
    if not changes:
        return macro
    _normalise(macro, actor)
    _require_manage(actor, macro, "change")
    _validate(macro)
    macro.updated = timezone.now()
    _save(macro)
    payload = changes_payload(changes, hide={"body"})
    if "body" in changes:
        payload["body"] = ["changed", "changed"]
    events.macro_updated(macro=macro, actor=actor, changes=payload)
    return macro


@transaction.atomic
def macro_delete(*, macro: Macro, actor: User | None) -> None:
    """Delete a macro (the tickets it was applied to keep their replies and changes).
    Records ``macro.deleted``."""
    require_agent(actor, "delete macros")
    macro = Macro.objects.select_for_update().get(pk=macro.pk)
    _require_manage(actor, macro, "delete")
    events.macro_deleted(macro=macro, actor=actor)
    macro.delete()


# --- Rendering and applying ---------------------------------------------------------------
@dataclass(frozen=True)
class Applied:
    """What applying a macro to one ticket did."""

    ticket: Ticket
    comment: Comment | None
    changes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """One ticket of a bulk apply: done (with what changed) or refused (with why)."""

    ticket_key: str
    ok: bool
    message: str
    comment_id: int | None = None


def _require_usable(macro: Macro, actor: User) -> None:
    require_agent(actor, "apply macros")
    if not selectors.macros_for(user=actor).filter(pk=macro.pk).exists():
        raise PermissionDenied(f"You cannot use the macro {macro.name!r}.")


def macro_render(*, macro: Macro, ticket: Ticket | None, actor: User, custom: str = "") -> str:
    """The macro's body as it would be posted on ``ticket`` by ``actor`` (``ticket``
    None: with example values). For anyone who may see the macro (a preview)."""
    require_agent(actor, "use macros")
    if not selectors.macros_visible(user=actor).filter(pk=macro.pk).exists():
        raise PermissionDenied(f"You cannot use the macro {macro.name!r}.")
    if ticket is not None:
        services.tickets._require_can_view(actor, ticket)
    return sandbox.render_body(macro.body, ticket=ticket, agent=actor, custom=custom)


def _locked(ticket: Ticket) -> Ticket:
    """The ticket's row, locked once for all the macro's steps: the services below are
    told so (``locked=True``) and change this instance as they change the row."""
    return (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("stage", "workflow", "requester")
        .get(pk=ticket.pk)
    )


Step = Callable[[Macro, Ticket, User], tuple[Ticket, list[str]]]


def _stage(macro: Macro, ticket: Ticket, actor: User) -> tuple[Ticket, list[str]]:
    stage = macro.set_stage
    if stage is None or ticket.stage_id == stage.pk:
        return ticket, []
    ticket = services.ticket_transition(ticket=ticket, to_stage=stage, actor=actor, locked=True)
    return ticket, [f"Stage: {stage.name}"]


def _priority(macro: Macro, ticket: Ticket, actor: User) -> tuple[Ticket, list[str]]:
    if not macro.set_priority or ticket.priority == macro.set_priority:
        return ticket, []
    ticket = services.ticket_update(
        ticket=ticket, actor=actor, data={"priority": macro.set_priority}
    )
    # In English whoever applies it: the words go into the event log's payload, which
    # does not change language with the reader (the labels are translated for pages).
    with translation.override("en"):
        return ticket, [f"Priority: {Priority(macro.set_priority).label}"]


def _team(macro: Macro, ticket: Ticket, actor: User) -> tuple[Ticket, list[str]]:
    team = macro.set_team
    if team is None or ticket.team_id == team.pk:
        return ticket, []
    ticket = services.ticket_set_team(ticket=ticket, team=team, actor=actor)
    return ticket, [f"Team: {team.name}"]


def _assignee(macro: Macro, ticket: Ticket, actor: User) -> tuple[Ticket, list[str]]:
    if macro.assignment == Assignment.KEEP:
        return ticket, []
    target = {
        Assignment.USER: macro.assignee,
        Assignment.APPLIER: actor,
        Assignment.UNASSIGN: None,
    }[Assignment(macro.assignment)]
    if ticket.assignee_id == (target.pk if target else None):
        return ticket, []
    ticket = services.ticket_assign(ticket=ticket, assignee=target, actor=actor)
    return ticket, [f"Assignee: {target.username if target else 'nobody'}"]


def _tags(macro: Macro, ticket: Ticket, actor: User) -> tuple[Ticket, list[str]]:
    said = []
    if macro.add_tags:
        ticket = services.ticket_tag_add(
            ticket=ticket, tags=macro.add_tags, actor=actor, locked=True
        )
        said.append(f"Tags added: {', '.join(macro.add_tags)}")
    if macro.remove_tags:
        ticket = services.ticket_tag_remove(
            ticket=ticket, tags=macro.remove_tags, actor=actor, locked=True
        )
        said.append(f"Tags removed: {', '.join(macro.remove_tags)}")
    return ticket, said


STEPS: tuple[Step, ...] = (_stage, _priority, _team, _assignee, _tags)


def _make_changes(macro: Macro, ticket: Ticket, actor: User) -> tuple[Ticket, list[str]]:
    said: list[str] = []
    for step in STEPS:
        ticket, words = step(macro, ticket, actor)
        said.extend(words)
    return ticket, said


def _count_usage(macro: Macro, times: int) -> None:
    if times:
        Macro.objects.filter(pk=macro.pk).update(
            usage_count=F("usage_count") + times, last_used_at=timezone.now()
        )


def _reply_and_change(
    macro: Macro, ticket: Ticket, actor: User, *, body: str
) -> tuple[Ticket, Comment, list[str]]:
    comment = services.comment_create(
        ticket=ticket, author=actor, body=body, is_internal=macro.is_internal, locked=True
    )
    ticket, changes = _make_changes(macro, ticket, actor)
    return ticket, comment, changes


def _render_for(macro: Macro, template: Template, ticket: Ticket, actor: User, custom: str) -> str:
    return sandbox.render(template, sandbox.placeholders(ticket=ticket, agent=actor, custom=custom))


@transaction.atomic
def macro_apply(
    *, macro: Macro, ticket: Ticket, actor: User, body: str | None = None, custom: str = ""
) -> Applied:
    """Post the macro's reply (its body rendered for this ticket, or ``body`` as the
    agent edited it) and make its changes, in one transaction; counts one use."""
    _require_usable(macro, actor)
    ticket = _locked(ticket)  # rendered with the ticket as it is now
    if body is None:
        body = _render_for(macro, sandbox.compile_body(macro.body), ticket, actor, custom)
    ticket, comment, changes = _reply_and_change(macro, ticket, actor, body=body)
    events.macro_applied(macro=macro, ticket=ticket, actor=actor, comment=comment, changes=changes)
    _count_usage(macro, 1)
    return Applied(ticket=ticket, comment=comment, changes=changes)


@transaction.atomic
def macro_apply_changes(*, macro: Macro, ticket: Ticket, actor: User) -> list[str]:
    """Only the macro's changes, for a reply someone else posted (the reply composer
    posts the macro's body itself); counts one use. Returns the changes in words."""
    _require_usable(macro, actor)
    ticket, changes = _make_changes(macro, _locked(ticket), actor)
    events.macro_applied(macro=macro, ticket=ticket, actor=actor, comment=None, changes=changes)
    _count_usage(macro, 1)
    return changes


@dataclass
class _Bulk:
    """One bulk apply: what every ticket shares, and the events a chunk has gathered."""

    macro: Macro
    actor: User
    template: Template
    custom: str
    events: list[EventLog] = field(default_factory=list)


def _refused(key: str, message: str) -> Outcome:
    return Outcome(ticket_key=key, ok=False, message=message)


def _try_one(bulk: _Bulk, ticket: Ticket) -> Outcome:
    macro, actor = bulk.macro, bulk.actor
    try:
        with transaction.atomic():  # a savepoint: a refusal undoes this ticket only
            body = _render_for(macro, bulk.template, ticket, actor, bulk.custom)
            ticket, comment, changes = _reply_and_change(macro, ticket, actor, body=body)
    except ObjectDoesNotExist:
        return _refused(ticket.key, GONE)
    except (ValidationError, PermissionDenied) as error:
        return _refused(ticket.key, error_text(error))
    bulk.events.append(
        events.applied_event(
            macro=macro, ticket=ticket, actor=actor, comment=comment, changes=changes
        )
    )
    said = "; ".join(changes) or "Replied."
    return Outcome(ticket_key=ticket.key, ok=True, message=said, comment_id=comment.pk)


GONE = "The ticket no longer exists."


def _chunk_outcomes(bulk: _Bulk, ids: Sequence[int]) -> list[Outcome]:
    """One chunk, in the caller's transaction: its tickets read and locked in one query
    (in id order, as every service that locks several tickets does, so that two chunks
    never wait for each other in a circle; the services are then told they hold them),
    each applied in a savepoint, then the chunk's ``macro.applied`` events in one INSERT
    and its uses counted, last, so that the macro's row is locked only until the commit
    that follows."""
    rows = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("stage", "workflow", "requester")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    found = {ticket.pk: ticket for ticket in rows}
    bulk.events = []
    outcomes = [
        _try_one(bulk, found[pk]) if pk in found else _refused(Ticket.key_for(pk), GONE)
        for pk in ids
    ]
    event_record_many(events=bulk.events)
    _count_usage(bulk.macro, sum(outcome.ok for outcome in outcomes))
    return outcomes


def _ticket_ids(tickets: Iterable[Ticket | int]) -> list[int]:
    return list(dict.fromkeys(t if isinstance(t, int) else t.pk for t in tickets))


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    size = max(size, 1)
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def macro_apply_bulk(
    *,
    macro: Macro,
    tickets: Iterable[Ticket | int],
    actor: User,
    custom: str = "",
    chunk_size: int = BULK_CHUNK,
) -> list[Outcome]:
    """Apply the macro to each ticket on its own, now, in this process: a ticket the
    workflow (or anything else) refuses is reported with the reason and left as it was,
    the others are done. For a few tickets (``BULK_SYNC_LIMIT``, the admin's choice);
    more go to the workers with ``macro_bulk_enqueue``.

    Tickets are committed ``chunk_size`` at a time (a transaction per ticket would cost
    a commit, an fsync, each), usage is counted once per chunk. Outcomes are in
    ``tickets``' order."""
    _require_usable(macro, actor)
    bulk = _Bulk(macro=macro, actor=actor, template=sandbox.compile_body(macro.body), custom=custom)
    outcomes: list[Outcome] = []
    for chunk in _chunks(_ticket_ids(tickets), chunk_size):
        with transaction.atomic():
            outcomes.extend(_chunk_outcomes(bulk, chunk))
    return outcomes


# --- Bulk, in the background --------------------------------------------------------------
@transaction.atomic
def macro_bulk_enqueue(
    *,
    macro: Macro,
    tickets: Iterable[Ticket | int],
    actor: User,
    custom: str = "",
    chunk_size: int = BULK_CHUNK,
) -> BulkApply:
    """Queue the macro's application to many tickets for the Celery workers: a
    ``BulkApply`` row and one outbox message per chunk of ``chunk_size`` tickets, in
    the caller's transaction (nothing is queued if it rolls back, and the request never
    waits on the broker). Several workers take chunks at once, each ticket in its own
    savepoint as ``macro_apply_bulk`` does; the job counts what was done and keeps each
    refusal with its reason (``macro_bulk_apply_chunk``). Refused at once, with nothing
    queued: a macro the actor may not use, a body that no longer compiles, no ticket."""
    _require_usable(macro, actor)
    sandbox.compile_body(macro.body)
    ids = _ticket_ids(tickets)
    if not ids:
        raise ValidationError("Select at least one ticket.")
    job = BulkApply.objects.create(
        macro=macro, macro_name=macro.name, actor=actor, custom=custom, total=len(ids)
    )
    outbox_enqueue_many(
        messages=[
            Message(
                task=BULK_TASK,
                kwargs={"job_id": job.pk, "chunk": number, "ticket_ids": chunk},
                key=f"macros.bulk:{job.pk}:{number}",
            )
            for number, chunk in enumerate(_chunks(ids, chunk_size))
        ]
    )
    events.bulk_queued(job=job)
    return job


def _chunk_refusal(job: BulkApply) -> str | None:
    """Why none of a chunk can be applied (the macro was deleted, or its user may no
    longer use it, or its body no longer compiles), else None."""
    if job.macro is None:
        return "The macro was deleted before this ticket's turn."
    try:
        _require_usable(job.macro, job.actor)
        sandbox.compile_body(job.macro.body)
    except (ValidationError, PermissionDenied) as error:
        return error_text(error)
    return None


RECORD_CHUNK = """
UPDATE macros_bulkapply
SET done_count = done_count + %(done)s,
    failed_count = failed_count + %(failed)s,
    failures = failures || %(failures)s::jsonb,
    chunks_done = array_append(chunks_done, %(chunk)s),
    finished_at = CASE WHEN done_count + failed_count + %(done)s + %(failed)s >= total
                  THEN clock_timestamp() END
WHERE id = %(job)s AND NOT (%(chunk)s = ANY(chunks_done))
RETURNING finished_at IS NOT NULL
"""


def _record_chunk(job: BulkApply, chunk: int, outcomes: Sequence[Outcome]) -> bool | None:
    """Add a chunk's counts and refusals to its job, in the chunk's transaction; the
    chunk that completes the count finishes the job. None when the chunk was recorded
    already (a second delivery of its message that ran at the same time as the first:
    the row lock makes it wait for the first's commit, then find its number there)."""
    failures = [{"ticket": o.ticket_key, "message": o.message} for o in outcomes if not o.ok]
    params: dict[str, int | str] = {
        "done": len(outcomes) - len(failures),
        "failed": len(failures),
        "failures": json.dumps(failures),
        "chunk": chunk,
        "job": job.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(RECORD_CHUNK, params)
        row = cursor.fetchone()
    return None if row is None else bool(row[0])


def _apply_job_chunk(job: BulkApply, ids: Sequence[int]) -> list[Outcome]:
    refusal = _chunk_refusal(job)
    if refusal is not None or job.macro is None:
        return [_refused(Ticket.key_for(pk), refusal or GONE) for pk in ids]
    bulk = _Bulk(
        macro=job.macro,
        actor=job.actor,
        template=sandbox.compile_body(job.macro.body),
        custom=job.custom,
    )
    return _chunk_outcomes(bulk, ids)


def macro_bulk_apply_chunk(*, job_id: int, chunk: int, ticket_ids: Sequence[int]) -> list[Outcome]:
    """Apply one chunk of a queued bulk apply (the task ``macros.tasks.apply_bulk_chunk``
    runs it), in one transaction: the tickets each in a savepoint, then their counts and
    refusals added to the job. The chunk that completes the job records
    ``macro.bulk_applied``. A chunk applied already (messages are delivered at least
    once) is skipped; so is a job deleted meanwhile. Returns the chunk's outcomes."""
    job = BulkApply.objects.select_related("macro", "actor").filter(pk=job_id).first()
    if job is None or chunk in job.chunks_done:
        return []
    with transaction.atomic():
        outcomes = _apply_job_chunk(job, ticket_ids)
        finished = _record_chunk(job, chunk, outcomes)
        if finished is None:
            transaction.set_rollback(True)
            return []
        if finished:
            job.refresh_from_db()
            events.bulk_applied(job=job)
    return outcomes
