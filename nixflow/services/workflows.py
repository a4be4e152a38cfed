"""Workflows with their stages and transitions, changed as one (one event per change)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.db.models.deletion import ProtectedError

from nixflow import events
from nixflow.models import (
    Stage,
    Ticket,
    Transition,
    User,
    Workflow,
)
from nixflow.toolkit.auth import require_admin
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.services import changes_payload, model_update

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
        raise ConflictError({"stages": refusals})
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
                {"id": stage.pk, "name": old_name, "changes": changes_payload(changes)}
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
                    "changes": changes_payload(changes),
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
    require_admin(actor, "create workflows")
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
    require_admin(actor, "change workflows")
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
            "changes": changes_payload(changes),
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
    require_admin(actor, "delete workflows")
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if Ticket.objects.filter(workflow=workflow).exists():
        raise ConflictError(
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
        raise ConflictError(
            f"Workflow {workflow.name} is used by {', '.join(users[:5])}; change those first."
        ) from error
