"""Writes of the core app. Every interface (admin, API, mail, forms, tasks) calls these."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from nixflow import events, selectors
from nixflow.models import (
    Attachment,
    Comment,
    HistoryLog,
    Priority,
    Role,
    Source,
    Stage,
    StageCategory,
    Ticket,
    TicketWatcher,
    Transition,
    User,
    Workflow,
)
from nixflow.toolkit.auth import require_agent
from nixflow.toolkit.services import model_update

# --- Users ------------------------------------------------------------------------------
USER_FIELDS = frozenset({"email", "first_name", "last_name", "role", "is_active"})


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    role: Role,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    actor: User | None = None,
) -> User:
    """Create a user and record ``user.created``.

    Agents and admins are staff (they use the admin site); admins are also superusers,
    as the desk's administrators. ``password`` None leaves the account without a usable
    password (requesters made by mail or forms, who sign in after a reset).
    """
    user = User(
        username=username,
        email=email,
        role=role,
        first_name=first_name,
        last_name=last_name,
        is_staff=role in {Role.AGENT, Role.ADMIN},
        is_superuser=role == Role.ADMIN,
    )
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean()
    user.save()
    events.record_user_event(
        type=events.USER_CREATED,
        user=user,
        actor=actor,
        payload={"username": user.username, "role": user.role},
    )
    return user


@transaction.atomic
def user_update(*, user: User, actor: User | None, data: dict[str, Any]) -> User:
    """Change a user's e-mail address, name, role or active state, and record
    ``user.updated`` with the changed fields (``events.USER_UPDATED``).

    A role change keeps ``is_staff`` in step with the role (agents and admins use the
    admin site); superuser status is a superuser's to grant, in the admin. Only admins
    change users, and only superusers change a superuser.
    """
    if actor is not None:
        if not (actor.is_superuser or actor.role == Role.ADMIN):
            raise PermissionDenied("Only admins can change users.")
        if user.is_superuser and not actor.is_superuser:
            raise PermissionDenied("Only superusers can change a superuser.")
    user = User.objects.select_for_update().get(pk=user.pk)
    role = data.get("role", user.role)
    also = {"is_staff": role in {Role.AGENT, Role.ADMIN}} if "role" in data else {}
    changes = model_update(instance=user, data={**data, **also}, allowed=USER_FIELDS | {"is_staff"})
    if changes:
        events.record_user_event(
            type=events.USER_UPDATED,
            user=user,
            actor=actor,
            payload={
                "fields": sorted(changes),
                "changes": events.changes_payload(changes, hide=frozenset({"email"})),
            },
        )
    return user


def _username_base(email: str) -> str:
    return re.sub(r"[^\w.@+-]", "", email.lower())[:140] or "requester"


def _user_with_email(email: str) -> User | None:
    return User.objects.filter(email__iexact=email).exclude(email="").order_by("pk").first()


@transaction.atomic
def requester_get_or_create(
    *, email: str, name: str = "", look_up: bool = True
) -> tuple[User, bool]:
    """The user with this e-mail address (case-insensitively), else a new requester with
    no usable password: ``(user, created)``, as Django's ``get_or_create``.

    The found user is returned whatever they are: the caller decides what an address
    may link to. Forms and mail check ``user.is_active``, ``user.is_agent`` and
    ``user.is_superuser`` (an anonymous form must not act as a staff or disabled
    account); ``created`` says whether the address was new.

    ``look_up=False`` skips the first lookup when the caller has just looked the address
    up and found nobody (mail intake loads a batch's senders in one query).

    The username is the address, lower-cased and stripped of characters usernames can't
    have. When that is taken (by another address that strips to the same name, or by
    someone who chose it), a random suffix is tried instead (``carol@example.com-3fa9c1``),
    up to five times. Random rather than counting up (``-2``, ``-3``) because counting
    costs a query per taken name and two concurrent creations count to the same name;
    a clash of random names is refused by the unique index and simply retried. A clash
    on the e-mail address means a concurrent request created this requester first: that
    user is returned (``created`` False). ``user_create`` runs in a savepoint, so a
    refused insert leaves the caller's transaction usable.
    """
    if look_up and (found := _user_with_email(email)) is not None:
        return found, False
    first, _, last = name.strip().partition(" ")
    base = _username_base(email)
    for attempt in range(5):
        username = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
        try:
            user = user_create(
                username=username,
                email=email,
                role=Role.REQUESTER,
                first_name=first[:150],
                last_name=last.strip()[:150],
            )
        except ValidationError as error:
            if "username" not in getattr(error, "error_dict", {}) or len(error.error_dict) > 1:
                found = _user_with_email(email)
                if found is None:
                    raise
                return found, False
        except IntegrityError:
            found = _user_with_email(email)
            if found is not None:
                return found, False
        else:
            return user, True
    raise ValidationError({"email": f"No requester could be created for {email}."})


# --- Workflows --------------------------------------------------------------------------
# A workflow is saved with its stages and transitions as one change: the admin's editor
# and the API send the workflow as it should be, the services below work out what was
# added, changed and removed, and record one workflow.* event for all of it.


@dataclass(frozen=True)
class StageSpec:
    """A stage as it should be. ``id`` names an existing stage of the workflow (kept,
    perhaps renamed or moved: its tickets stay in it); None adds a stage."""

    name: str
    category: str
    position: int
    id: int | None = None


# A stage in a TransitionSpec: an existing stage's id, or the name of a stage of the
# change (how a new stage, which has no id yet, is named).
StageRef = int | str


@dataclass(frozen=True)
class TransitionSpec:
    """A transition as it should be; transitions are known by their two stages."""

    from_stage: StageRef
    to_stage: StageRef
    name: str = ""
    requester_allowed: bool = False


WORKFLOW_FIELDS = frozenset({"name", "description", "is_default", "is_active"})
STAGE_FIELDS = ("name", "category", "position")
TRANSITION_FIELDS = ("name", "requester_allowed")


def _require_admin(actor: User | None, action: str) -> None:
    if actor is not None and not (actor.is_superuser or actor.role == Role.ADMIN):
        raise PermissionDenied(f"Only admins can {action}.")


def _stage_entry(stage: Stage) -> dict[str, Any]:
    return {
        "id": stage.pk,
        "name": stage.name,
        "category": stage.category,
        "position": stage.position,
    }


def _transition_entry(transition: Transition, names: Mapping[int, str]) -> dict[str, Any]:
    return {
        "from_stage": names[transition.from_stage_id],
        "to_stage": names[transition.to_stage_id],
        "name": transition.name,
        "requester_allowed": transition.requester_allowed,
    }


def _check_stage_specs(specs: Sequence[StageSpec]) -> None:
    if not specs:
        raise ValidationError(
            {"stages": "A workflow needs at least one stage: new tickets start in the first."}
        )
    names = [spec.name.strip() for spec in specs]
    positions = [str(spec.position) for spec in specs]
    for what, values in (("name", names), ("position", positions)):
        twice = sorted({value for value in values if values.count(value) > 1})
        if twice:
            raise ValidationError({"stages": f"Two stages have the same {what}: {twice[0]}."})


@dataclass
class _Change:
    """What a workflow change did to its stages or its transitions, for the event."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)

    def payload(self) -> dict[str, list[dict[str, Any]]]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}

    def sort(self, key: Callable[[dict[str, Any]], Any]) -> None:
        for entries in (self.added, self.removed, self.changed):
            entries.sort(key=key)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _remove_stages(doomed: list[Stage]) -> None:
    """Delete stages no ticket is in. FOR UPDATE conflicts with the key-share lock a new
    ticket takes on its stage, so no ticket can enter a stage between check and delete."""
    if not doomed:
        return
    pks = [stage.pk for stage in doomed]
    list(Stage.objects.select_for_update().filter(pk__in=pks).values_list("pk"))
    counts = dict(
        Ticket.objects.filter(stage__in=pks)
        .values_list("stage")
        .annotate(n=Count("*"))
        .values_list("stage", "n")
    )
    refusals = [
        f"Stage {stage.name} has {counts[stage.pk]} ticket(s); move them to another stage "
        "before deleting it."
        for stage in doomed
        if counts.get(stage.pk)
    ]
    if refusals:
        raise ValidationError({"stages": refusals})
    Stage.objects.filter(pk__in=pks).delete()


def _validate_stage(stage: Stage) -> None:
    # Names and positions were checked across the whole set (_check_stage_specs); the
    # position constraint is deferred, so that two stages can swap places.
    stage.full_clean(exclude=["workflow"], validate_unique=False, validate_constraints=False)


def _apply_stages(workflow: Workflow, specs: Sequence[StageSpec]) -> _Change:
    """Make the workflow's stages ``specs``: existing ones changed first, so that a new
    stage may take a name an existing one gave up."""
    _check_stage_specs(specs)
    before = {stage.pk: stage for stage in workflow.stages.order_by("position")}
    unknown = sorted({spec.id for spec in specs if spec.id is not None} - set(before))
    if unknown:
        raise ValidationError({"stages": f"Stage {unknown[0]} is not a stage of {workflow.name}."})
    change = _Change()
    kept = {spec.id for spec in specs}
    doomed = [stage for pk, stage in before.items() if pk not in kept]
    _remove_stages(doomed)
    change.removed = [_stage_entry(stage) for stage in doomed]
    ordered = sorted(specs, key=lambda spec: (spec.id is None, spec.position))
    for spec in ordered:
        values = {"name": spec.name.strip(), "category": spec.category, "position": spec.position}
        if spec.id is None:
            stage = Stage(workflow=workflow, **values)
            _validate_stage(stage)
            stage.save()
            change.added.append(_stage_entry(stage))
            continue
        stage = before[spec.id]
        old_name = stage.name
        changes = model_update(instance=stage, data=values, validate=_validate_stage)
        if changes:
            change.changed.append(
                {"id": stage.pk, "name": old_name, "changes": events.changes_payload(changes)}
            )
    return change


def _resolve_stage(ref: StageRef, stages: Mapping[int, Stage]) -> Stage:
    if isinstance(ref, int):
        stage = stages.get(ref)
    else:
        stage = next((s for s in stages.values() if s.name == ref.strip()), None)
    if stage is None:
        raise ValidationError({"transitions": f"No stage {ref!r} in this workflow."})
    return stage


def _wanted_transitions(
    specs: Sequence[TransitionSpec], stages: Mapping[int, Stage], removed_stages: set[int]
) -> dict[tuple[int, int], TransitionSpec]:
    """The transitions ``specs`` name, by their stages' ids. Those from or to a stage
    removed in the same change go with it."""
    wanted: dict[tuple[int, int], TransitionSpec] = {}
    for spec in specs:
        if {spec.from_stage, spec.to_stage} & removed_stages:
            continue
        source = _resolve_stage(spec.from_stage, stages)
        target = _resolve_stage(spec.to_stage, stages)
        if source.pk == target.pk:
            raise ValidationError(
                {"transitions": f"A transition must lead to another stage ({source.name})."}
            )
        if (source.pk, target.pk) in wanted:
            raise ValidationError(
                {"transitions": f"Two transitions from {source.name} to {target.name}."}
            )
        wanted[(source.pk, target.pk)] = spec
    return wanted


@dataclass(frozen=True)
class _TransitionsBefore:
    """The workflow's transitions and stage names before its stages change."""

    rows: dict[tuple[int, int], Transition]
    names: dict[int, str]

    @classmethod
    def load(cls, workflow: Workflow) -> _TransitionsBefore:
        return cls(
            rows={(t.from_stage_id, t.to_stage_id): t for t in workflow.transitions.all()},
            names=dict(workflow.stages.values_list("pk", "name")),
        )

    def as_specs(self) -> list[TransitionSpec]:
        return [
            TransitionSpec(t.from_stage_id, t.to_stage_id, t.name, t.requester_allowed)
            for t in self.rows.values()
        ]


def _apply_transitions(
    workflow: Workflow,
    specs: Sequence[TransitionSpec],
    *,
    before: _TransitionsBefore,
    removed_stages: set[int],
) -> _Change:
    """Make the workflow's transitions ``specs``; transitions are known by their stages."""
    stages = {stage.pk: stage for stage in workflow.stages.all()}
    names = {pk: stage.name for pk, stage in stages.items()}
    wanted = _wanted_transitions(specs, stages, removed_stages)
    change = _Change()
    gone = [pair for pair in before.rows if pair not in wanted]
    change.removed = [_transition_entry(before.rows[pair], before.names) for pair in gone]
    # Those of removed stages are gone already (CASCADE).
    Transition.objects.filter(pk__in=[before.rows[pair].pk for pair in gone]).delete()
    for pair, spec in wanted.items():
        values = {"name": spec.name.strip(), "requester_allowed": spec.requester_allowed}
        transition = before.rows.get(pair)
        if transition is None:
            transition = Transition(
                workflow=workflow, from_stage=stages[pair[0]], to_stage=stages[pair[1]], **values
            )
            transition.full_clean(validate_unique=False, validate_constraints=False)
            transition.save()
            change.added.append(_transition_entry(transition, names))
            continue
        changes = model_update(instance=transition, data=values, validate=None)
        if changes:
            entry = _transition_entry(transition, names)
            change.changed.append(
                {
                    "from_stage": entry["from_stage"],
                    "to_stage": entry["to_stage"],
                    "changes": events.changes_payload(changes),
                }
            )
    change.sort(key=lambda entry: (entry["from_stage"], entry["to_stage"]))
    return change


def _workflow_snapshot(workflow: Workflow) -> dict[str, Any]:
    stages = list(workflow.stages.order_by("position"))
    names = {stage.pk: stage.name for stage in stages}
    transitions = sorted(
        (_transition_entry(t, names) for t in workflow.transitions.all()),
        key=lambda entry: (entry["from_stage"], entry["to_stage"]),
    )
    return {
        "name": workflow.name,
        "description": workflow.description,
        "is_default": workflow.is_default,
        "is_active": workflow.is_active,
        "stages": [_stage_entry(stage) for stage in stages],
        "transitions": transitions,
    }


def _constraint_refusal(error: IntegrityError) -> ValidationError:
    # Two workflows saved at once can both pass full_clean's checks of the unique name or
    # the single default; the database refuses the second, which is said like full_clean.
    text = str(error)
    if "nixflow_workflow_one_default" in text:
        return ValidationError({"is_default": "Another workflow is already the default."})
    if "nixflow_stage_name_unique_in_workflow" in text:
        return ValidationError({"stages": "Two stages of a workflow can't have the same name."})
    return ValidationError("The change conflicts with another one made at the same time.")


@transaction.atomic
def workflow_create(
    *,
    actor: User | None,
    name: str,
    stages: Sequence[StageSpec],
    transitions: Sequence[TransitionSpec] = (),
    description: str = "",
    is_default: bool = False,
    is_active: bool = True,
) -> Workflow:
    """Create a workflow with its stages and transitions; admins only.

    Records ``workflow.created`` with the whole workflow (``events.WORKFLOW_CREATED``).
    """
    _require_admin(actor, "create workflows")
    _check_stage_specs(stages)
    workflow = Workflow(
        name=name.strip(), description=description, is_default=is_default, is_active=is_active
    )
    workflow.full_clean()
    try:
        with transaction.atomic():
            workflow.save()
            _apply_stages(workflow, stages)
            _apply_transitions(
                workflow,
                transitions,
                before=_TransitionsBefore(rows={}, names={}),
                removed_stages=set(),
            )
    except IntegrityError as error:
        raise _constraint_refusal(error) from error
    events.record_workflow_event(
        type=events.WORKFLOW_CREATED,
        workflow=workflow,
        actor=actor,
        payload=_workflow_snapshot(workflow),
    )
    return workflow


@transaction.atomic
def workflow_update(
    *,
    workflow: Workflow,
    actor: User | None,
    data: Mapping[str, Any] | None = None,
    stages: Sequence[StageSpec] | None = None,
    transitions: Sequence[TransitionSpec] | None = None,
) -> Workflow:
    """Change a workflow's own fields (``data``: name, description, is_default,
    is_active), and make its stages and transitions the given ones (None: unchanged).

    Admins only. The workflow's row is locked for the change, so two editors' changes
    apply one after the other. A stage that tickets are in can't be removed, and a
    workflow keeps at least one stage (its first is where new tickets start). Records one
    ``workflow.updated`` event with everything that changed; nothing when nothing did.
    """
    _require_admin(actor, "change workflows")
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    try:
        with transaction.atomic():
            changes = model_update(
                instance=workflow, data=dict(data or {}), allowed=WORKFLOW_FIELDS
            )
            transitions_before = _TransitionsBefore.load(workflow)
            stage_change = _apply_stages(workflow, stages) if stages is not None else _Change()
            transition_change = _apply_transitions(
                workflow,
                transitions_before.as_specs() if transitions is None else transitions,
                before=transitions_before,
                removed_stages={entry["id"] for entry in stage_change.removed},
            )
    except IntegrityError as error:
        raise _constraint_refusal(error) from error
    if not (changes or stage_change or transition_change):
        return workflow
    events.record_workflow_event(
        type=events.WORKFLOW_UPDATED,
        workflow=workflow,
        actor=actor,
        payload={
            "fields": sorted(changes),
            "changes": events.changes_payload(changes),
            "stages": stage_change.payload(),
            "transitions": transition_change.payload(),
        },
    )
    return workflow


@transaction.atomic
def workflow_delete(*, workflow: Workflow, actor: User | None) -> None:
    """Delete a workflow no ticket uses (deactivate one that has tickets); admins only.

    Records ``workflow.deleted`` with the workflow as it was. Configuration of feature
    apps that names the workflow (SLA policies, mail accounts, forms) also keeps it.
    """
    _require_admin(actor, "delete workflows")
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if Ticket.objects.filter(workflow=workflow).exists():
        raise ValidationError(
            f"Workflow {workflow.name} has tickets; deactivate it instead of deleting it."
        )
    snapshot = _workflow_snapshot(workflow)
    events.record_workflow_event(
        type=events.WORKFLOW_DELETED, workflow=workflow, actor=actor, payload=snapshot
    )
    try:
        with transaction.atomic():
            workflow.delete()
    except ProtectedError as error:
        users = sorted({f"{type(o)._meta.verbose_name} {o}" for o in error.protected_objects})
        raise ValidationError(
            f"Workflow {workflow.name} is used by {', '.join(users[:5])}; change those first."
        ) from error


# --- Tickets ----------------------------------------------------------------------------
# Every service below locks the ticket row, changes it, writes one HistoryLog row per
# changed field and publishes one event, all in one transaction (nixflow/events.py).

TICKET_FIELDS_FOR_REQUESTERS = frozenset({"title", "description"})
TICKET_FIELDS_FOR_AGENTS = frozenset({"title", "description", "priority"})


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


# Services validate fields (lengths, choices, blank) with full_clean, but leave the
# table's constraints and foreign keys to PostgreSQL: the services set those values
# themselves from loaded rows, and validating them here would cost a query each on the
# hottest write paths (mail intake, forms, load) for checks the database makes anyway.
_CHECKED_BY_THE_DATABASE = {"validate_constraints": False, "validate_unique": False}
TICKET_RELATIONS = ["workflow", "stage", "requester", "assignee"]


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
) -> None:
    shown = {name: (_display(old), _display(new)) for name, (old, new) in changes.items()}
    HistoryLog.objects.bulk_create(
        HistoryLog(ticket=ticket, actor=actor, field=name, old_value=old, new_value=new, created=at)
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
) -> Ticket:
    """Open a ticket in the first stage of ``workflow`` (the default one when None).

    ``actor`` is who does it (None for the system); requesters open tickets only for
    themselves and don't choose the assignee.
    """
    if actor is not None and not actor.is_agent:
        if requester.pk != actor.pk:
            raise PermissionDenied("Requesters can only open tickets for themselves.")
        if assignee is not None:
            raise PermissionDenied("Only agents can assign tickets.")
    if not requester.is_active:
        raise ValidationError({"requester": f"{requester.username} is not an active user."})
    workflow = workflow or _default_workflow()
    if not workflow.is_active:
        raise ValidationError({"workflow": f"Workflow {workflow.name!r} is not active."})
    _validate_assignee(assignee)
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
    )
    ticket.full_clean(exclude=TICKET_RELATIONS, **_CHECKED_BY_THE_DATABASE)
    ticket.save()
    _commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_CREATED,
        changes={"ticket": (None, "created"), "stage": (None, ticket.stage)},
        at=now,
        payload={
            "stage_id": ticket.stage_id,
            "category": ticket.stage.category,
            "priority": ticket.priority,
            "source": ticket.source,
        },
    )
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
            "title": ticket.title,
            "requester_id": ticket.requester_id,
            "requester": ticket.requester.get_username(),
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
    """Change the ticket's own fields (title, description, priority).

    Stage, assignee and watchers have their own services; requesters may change only the
    title and description of tickets they can see.
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
    if "title" in data:
        data = {**data, "title": data["title"].strip()}  # normalised as in ticket_create
    changes = model_update(
        instance=ticket, data=data, also_set={"updated": now}, validate=_validate_ticket
    )
    if not changes:
        return ticket
    _commit_change(
        ticket=ticket, actor=actor, event_type=events.TICKET_UPDATED, changes=changes, at=now
    )
    return ticket


def _allowed_targets(stage: Stage) -> str:
    names = [t.to_stage.name for t in stage.transitions.select_related("to_stage")]
    return ", ".join(repr(n) for n in names) if names else "none (it is a final stage)"


@transaction.atomic
def ticket_transition(*, ticket: Ticket, to_stage: Stage, actor: User | None) -> Ticket:
    """Move the ticket along an allowed transition of its workflow.

    Entering a RESOLVED stage sets ``resolved_at``; entering CLOSED sets ``closed_at``
    (and ``resolved_at`` when the ticket skipped RESOLVED); going back to an open
    category (a reopen) clears both.
    """
    _require_can_view(actor, ticket)
    ticket = _lock(ticket)
    current = ticket.stage
    if to_stage.workflow_id != ticket.workflow_id:
        raise ValidationError(
            {"stage": f"Stage {to_stage.name!r} is not in workflow {ticket.workflow.name!r}."}
        )
    if to_stage.pk == current.pk:
        raise ValidationError({"stage": f"{ticket.key} is already in stage {current.name!r}."})
    transition = Transition.objects.filter(from_stage=current, to_stage=to_stage).first()
    if transition is None:
        raise ValidationError(
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

    now = timezone.now()
    changes: dict[str, tuple[Any, Any]] = {"stage": (current, to_stage)}
    timestamps = {"resolved_at": ticket.resolved_at, "closed_at": ticket.closed_at}
    if to_stage.category == StageCategory.RESOLVED:
        timestamps = {"resolved_at": ticket.resolved_at or now, "closed_at": None}
    elif to_stage.category == StageCategory.CLOSED:
        timestamps = {"resolved_at": ticket.resolved_at or now, "closed_at": now}
    else:
        timestamps = {"resolved_at": None, "closed_at": None}
    changes.update(model_update(instance=ticket, data=timestamps, validate=None, save=False))
    ticket.stage = to_stage
    ticket.updated = now
    ticket.save(update_fields=["stage", "updated", *(n for n in changes if n != "stage")])
    _commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_TRANSITIONED,
        changes=changes,
        at=now,
        payload={
            "from_stage_id": current.pk,
            "to_stage_id": to_stage.pk,
            "from_category": current.category,
            "to_category": to_stage.category,
        },
    )
    return ticket


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee: User | None, actor: User | None) -> Ticket:
    """Give the ticket to an active agent, or unassign it with None. Agents only."""
    require_agent(actor, "assign tickets")
    _validate_assignee(assignee)
    ticket = _lock(ticket)
    if ticket.assignee_id == (assignee.pk if assignee else None):
        return ticket
    now = timezone.now()
    changes = {"assignee": (ticket.assignee, assignee)}
    ticket.assignee = assignee
    ticket.updated = now
    ticket.save(update_fields=["assignee", "updated"])
    _commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_ASSIGNED,
        changes=changes,
        at=now,
        payload={"assignee_id": assignee.pk if assignee else None},
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


@transaction.atomic
def comment_create(
    *,
    ticket: Ticket,
    author: User,
    body: str,
    is_internal: bool = False,
    attachments: Sequence[UploadedFile] = (),
) -> Comment:
    """Add a public or internal comment; the first public agent comment is the first
    response. Requesters write only public comments, on tickets they can see."""
    if not body.strip():
        raise ValidationError({"body": "A comment needs a body."})
    if is_internal and not author.is_agent:
        raise PermissionDenied("Requesters cannot write internal comments.")
    _require_can_view(author, ticket)
    _validate_attachments(attachments)
    ticket = _lock(ticket)
    now = timezone.now()
    comment = Comment(ticket=ticket, author=author, body=body, is_internal=is_internal, created=now)
    comment.full_clean(exclude=["ticket", "author"], **_CHECKED_BY_THE_DATABASE)
    comment.save()
    for upload in attachments:
        Attachment.objects.create(
            comment=comment,
            file=upload,
            filename=upload.name or "attachment",
            content_type=upload.content_type or "application/octet-stream",
            size=upload.size or 0,
        )

    changes: dict[str, tuple[Any, Any]] = {}
    update_fields = ["updated"]
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
    ticket.updated = now
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
        )
    return bool(deleted)
