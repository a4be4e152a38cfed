"""Merging duplicates: one or more tickets folded into a target.

What a merge does, in one transaction (``ticket_merge``):

- each source's comments (and so their attachments, which hang on the comments) are
  *moved* to the target: ``Comment.ticket`` changes, ids and times stay, internal
  comments stay internal. Nothing is copied, so nothing can drift apart, and the
  target's timeline interleaves both conversations by time. The source keeps its
  title and description (it stays readable, closed, with "merged into NF-y");
- the sources' requesters and watchers become watchers of the target (each through
  ``ticket_watch``: a history row and a ``ticket.watched`` event), so they see the
  conversation that now holds their messages and hear of its replies;
- each source is closed and ``merged_into`` is set. The close respects the workflow's
  *stages* but not necessarily its *transitions*: a transition from the source's stage
  to a Closed stage is taken when the workflow has one; otherwise the source goes
  straight to the workflow's first Closed stage (or, in a workflow without one, its
  first Resolved stage). A merge is an agent's administrative close, like a deletion it
  must not depend on the path a workflow draws for the requester's problem; the
  ``ticket.transitioned`` event says so with ``merged_into_id``;
- history: the target reads "merged: NF-x (n comments)", each source "merged into:
  NF-y"; events: ``ticket.merged`` on each source, then its ``ticket.transitioned``,
  and one ``ticket.merge_received`` on the target (payloads in ``nixflow.events``).
  ``ticket.merged`` comes before the close so that the SLA app cancels the source's
  clocks instead of completing them (a duplicate's clock says nothing about service).
  ``_commit_change`` counts each change in the tickets' ``version`` (optimistic
  concurrency), so a reply composed on either side before the merge is asked about.

Mail to a merged ticket's thread goes to the target: ``ticket_follow_merges`` follows
``merged_into`` (chains too: NF-1 into NF-2, later NF-2 into NF-3).

Refused: merging a ticket into itself, into a merged ticket, a ticket merged already
(which also rules out cycles: neither side of a merge may be merged, so no chain can
come back to where it started), tickets the actor cannot see, and anyone but agents.

Locks: every ticket of the merge is locked in ascending id before anything else, in one
statement (``nixflow.services.assignment`` gives the order: ticket rows first, then team
rows); the services called afterwards lock rows this transaction already holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from nixflow import events, selectors
from nixflow.models import (
    Comment,
    Stage,
    StageCategory,
    Ticket,
    TicketWatcher,
    Transition,
    User,
)
from nixflow.services import tickets as ticket_services
from nixflow.toolkit.auth import require_agent
from nixflow.toolkit.errors import ConflictError

# More than this in one merge is a mistake (a whole list selected), not a duplicate.
MAX_SOURCES = 50
# A chain longer than this is a loop the database should never hold; stop there.
MAX_CHAIN = 100


def ticket_follow_merges(ticket: Ticket) -> Ticket:
    """The ticket that holds ``ticket``'s conversation now: itself when it was never
    merged, else the end of its ``merged_into`` chain (one query per hop; a chain is
    made one merge at a time, so it is short)."""
    seen = {ticket.pk}
    while ticket.merged_into_id is not None and len(seen) < MAX_CHAIN:
        following = (
            Ticket.objects.select_related("requester", "assignee")
            .filter(pk=ticket.merged_into_id)
            .first()
        )
        if following is None or following.pk in seen:
            break
        seen.add(following.pk)
        ticket = following
    return ticket


def _check_request(sources: Sequence[Ticket], target: Ticket, actor: User) -> None:
    require_agent(actor, "merge tickets")
    if not sources:
        raise ValidationError({"sources": "Name at least one ticket to merge."})
    if len(sources) > MAX_SOURCES:
        raise ValidationError({"sources": f"At most {MAX_SOURCES} tickets in one merge."})
    if any(source.pk == target.pk for source in sources):
        raise ValidationError({"sources": f"{target.key} cannot be merged into itself."})
    for ticket in [*sources, target]:
        if not selectors.ticket_can_view(user=actor, ticket=ticket):
            raise PermissionDenied(f"You cannot act on ticket {ticket.key}.")


def _lock_all(ids: set[int]) -> dict[int, Ticket]:
    """Every ticket of the merge, locked in ascending id (the deadlock-free order), then
    read afresh with its stage. Two statements on purpose: a locking SELECT that joins
    the stage would drop a row a concurrent merge just closed (PostgreSQL rechecks the
    join of a row updated while it waited against the stage it saw before)."""
    list(
        Ticket.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    locked = {
        t.pk: t
        for t in Ticket.objects.select_related("stage", "workflow", "requester").filter(pk__in=ids)
    }
    missing = ids - set(locked)
    if missing:
        keys = ", ".join(Ticket.key_for(pk) for pk in sorted(missing))
        raise ValidationError({"sources": f"No such ticket: {keys}."})
    return locked


def _check_state(sources: list[Ticket], target: Ticket) -> None:
    """Refusals that depend on the rows as locked (another merge may have just run)."""
    if target.merged_into_id is not None:
        raise ConflictError(
            {
                "target": f"{target.key} was merged into {Ticket.key_for(target.merged_into_id)}; "
                "merge into that ticket instead."
            }
        )
    for source in sources:
        if source.merged_into_id is not None:
            raise ConflictError(
                {
                    "sources": f"{source.key} is already merged into "
                    f"{Ticket.key_for(source.merged_into_id)}."
                }
            )


def _closing_stage(ticket: Ticket) -> Stage | None:
    """Where a merged ticket ends: None when it is closed already; a Closed stage its
    workflow reaches from here if any, else its first Closed stage, else (a workflow
    without one) a Resolved stage. A ticket already resolved in such a workflow stays."""
    current = ticket.stage
    if current.category == StageCategory.CLOSED:
        return None
    for category in (StageCategory.CLOSED, StageCategory.RESOLVED):
        if category == StageCategory.RESOLVED and current.category == category:
            return None
        step = (
            Transition.objects.filter(from_stage=current, to_stage__category=category)
            .select_related("to_stage")
            .order_by("to_stage__position")
            .first()
        )
        if step is not None:
            return step.to_stage
        stage = Stage.objects.filter(workflow_id=ticket.workflow_id, category=category)
        first = stage.order_by("position").first()
        if first is not None:
            return first
    raise ConflictError(
        {"sources": f"Workflow {ticket.workflow.name!r} of {ticket.key} has no stage to close it."}
    )


def _close(ticket: Ticket, *, into: Ticket, actor: User, at: datetime) -> None:
    """Move the merged ticket to its closing stage, with ticket_transition's change (its
    event says which ticket it was merged into)."""
    stage = _closing_stage(ticket)
    if stage is not None:
        ticket_services.move_to_stage(
            ticket=ticket, to_stage=stage, actor=actor, at=at, payload={"merged_into_id": into.pk}
        )


def _merge_one(source: Ticket, *, into: Ticket, actor: User, at: datetime) -> list[int]:
    """Move ``source``'s conversation to ``into``, mark and close it; its comment ids."""
    comments = Comment.objects.filter(ticket=source)
    comment_ids = list(comments.order_by("pk").values_list("pk", flat=True))
    comments.update(ticket=into)
    source.merged_into = into
    source.updated = at
    source.save(update_fields=["merged_into", "updated"])
    ticket_services._commit_change(
        ticket=source,
        actor=actor,
        event_type=events.TICKET_MERGED,
        changes={"merged_into": ("", into.key)},
        at=at,
        payload={"into_id": into.pk, "comment_ids": comment_ids},
    )
    _close(source, into=into, actor=actor, at=at)
    return comment_ids


def _new_watchers(sources: list[Ticket], target: Ticket) -> list[User]:
    """The sources' requesters and active watchers who do not follow the target yet."""
    source_ids = [s.pk for s in sources]
    people = User.objects.filter(is_active=True).filter(
        pk__in={s.requester_id for s in sources}
    ) | User.objects.filter(
        is_active=True,
        pk__in=TicketWatcher.objects.filter(ticket_id__in=source_ids).values("user_id"),
    )
    watching = TicketWatcher.objects.filter(ticket=target).values("user_id")
    return list(
        people.exclude(pk=target.requester_id).exclude(pk__in=watching).distinct().order_by("pk")
    )


@transaction.atomic
def ticket_merge(*, sources: Sequence[Ticket], target: Ticket, actor: User) -> Ticket:
    """Merge ``sources`` into ``target`` (agents only); the target, fresh.

    See the module docstring for what moves, what is refused and the events.
    """
    _check_request(sources, target, actor)
    locked = _lock_all({s.pk for s in sources} | {target.pk})
    into = locked[target.pk]
    merged = [locked[pk] for pk in sorted({s.pk for s in sources})]
    _check_state(merged, into)
    now = timezone.now()
    watchers = _new_watchers(merged, into)
    moved: dict[int, list[int]] = {}
    for source in merged:
        moved[source.pk] = _merge_one(source, into=into, actor=actor, at=now)
    for user in watchers:
        ticket_services.ticket_watch(ticket=into, user=user, actor=actor)
    into.updated = now
    into.save(update_fields=["updated"])
    shown = ", ".join(f"{Ticket.key_for(pk)} ({_count(ids)})" for pk, ids in moved.items())
    ticket_services._commit_change(
        ticket=into,
        actor=actor,
        event_type=events.TICKET_MERGE_RECEIVED,
        changes={"merged": ("", shown)},
        at=now,
        payload={
            "source_ids": list(moved),
            "comment_ids": sorted(pk for ids in moved.values() for pk in ids),
            "watcher_ids": [user.pk for user in watchers],
        },
    )
    return into


def _count(ids: list[int]) -> str:
    return "1 comment" if len(ids) == 1 else f"{len(ids)} comments"
