"""SLA policies with their targets: created, changed and deleted only here.

The admin and the API both call these services. Each checks that the actor may change
the SLA configuration, validates the policy as its model does (``full_clean``) and its
targets (one per priority and metric), locks the row it changes, and records one event
(payloads in ``sla.events``) in the same transaction: targets are part of the policy,
so a change of both is one event.

Running clocks keep the deadline they were given: a changed target applies to the
clocks started (or re-targeted by a ticket change) after it. A policy that clocks
refer to cannot be deleted (they keep its name and targets in the record); it is
deactivated instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from nixflow.models import User, Workflow
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.services import Changes, model_update
from sla import events
from sla.models import BusinessCalendar, SLAPolicy, SLATarget
from sla.services._common import (
    Row,
    changes_payload,
    checked_rows,
    distinct,
    name_taken_as_error,
    plain,
    require_admin,
)

POLICY_FIELDS = (
    "name",
    "order",
    "is_active",
    "workflow",
    "priorities",
    "sources",
    "calendar",
    "warning_threshold",
    "escalation_email",
)
TARGET_FIELDS = ("priority", "metric_type", "minutes")
POLICY_IN_USE = (
    "This policy has SLA clocks on tickets, which keep referring to it: "
    "deactivate it instead (is_active false)."
)


def _targets(rows: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Targets as given, validated and sorted (by metric type, then priority)."""
    checked = checked_rows(SLATarget, rows, fields=TARGET_FIELDS, parent="policy", label="targets")
    seen: set[tuple[str, str]] = set()
    twice: list[str] = []
    for row in checked:
        key = (row["priority"], row["metric_type"])
        if key in seen and f"{key[0]}/{key[1]}" not in twice:
            twice.append(f"{key[0]}/{key[1]}")
        seen.add(key)
    if twice:
        named = ", ".join(twice)
        message = f"More than one target for {named}: give each priority and metric one target."
        raise ValidationError({"targets": [message]})
    return sorted(checked, key=lambda row: (row["metric_type"], row["priority"]))


def _stored_targets(policy: SLAPolicy) -> list[Row]:
    return [
        dict(row)
        for row in policy.targets.order_by("metric_type", "priority").values(*TARGET_FIELDS)
    ]


def _write_targets(policy: SLAPolicy, rows: list[Row]) -> None:
    SLATarget.objects.bulk_create(SLATarget(policy=policy, **row) for row in rows)


def _values(policy: SLAPolicy, targets: list[Row]) -> dict[str, Any]:
    """The payload of sla.policy.created and .deleted."""
    values = {name: plain(getattr(policy, name)) for name in POLICY_FIELDS}
    return {**values, "targets": targets}


@transaction.atomic
def sla_policy_create(
    *,
    actor: User | None,
    name: str,
    order: int = 100,
    is_active: bool = True,
    workflow: Workflow | None = None,
    priorities: Sequence[str] = (),
    sources: Sequence[str] = (),
    calendar: BusinessCalendar | None = None,
    warning_threshold: int = 75,
    escalation_email: str = "",
    targets: Sequence[Mapping[str, Any]] = (),
) -> SLAPolicy:
    """A new policy with its targets (rows of priority, metric_type and minutes)."""
    require_admin(actor)
    policy = SLAPolicy(
        name=name,
        order=order,
        is_active=is_active,
        workflow=workflow,
        priorities=distinct(priorities),
        sources=distinct(sources),
        calendar=calendar,
        warning_threshold=warning_threshold,
        escalation_email=escalation_email,
    )
    policy.full_clean()
    rows = _targets(targets)
    with name_taken_as_error(SLAPolicy):
        policy.save()
    _write_targets(policy, rows)
    events.publish(
        events.POLICY_CREATED, subject=policy, actor=actor, payload=_values(policy, rows)
    )
    return policy


@transaction.atomic
def sla_policy_update(
    *,
    policy: SLAPolicy,
    actor: User | None,
    data: Mapping[str, Any],
    targets: Sequence[Mapping[str, Any]] | None = None,
) -> SLAPolicy:
    """Change any of the policy's fields (``data``, names from POLICY_FIELDS) and, when
    ``targets`` is given, replace its targets with them (None keeps them). Values equal
    to the stored ones change nothing; when nothing changes, nothing is recorded."""
    require_admin(actor)
    # FOR NO KEY UPDATE: two writers replacing the targets wait for each other (else
    # both delete, then collide on sla_target_unique); ticket changes that start clocks
    # under this policy (which take KEY SHARE on it) do not wait for this one.
    policy = SLAPolicy.objects.select_for_update(no_key=True).get(pk=policy.pk)
    data = {
        name: distinct(value) if name in {"priorities", "sources"} else value
        for name, value in data.items()
    }
    changes: Changes = model_update(instance=policy, data=data, allowed=POLICY_FIELDS, save=False)
    if targets is not None:
        old, new = _stored_targets(policy), _targets(targets)
        if old != new:
            policy.targets.all().delete()
            _write_targets(policy, new)
            changes["targets"] = (old, new)
    if not changes:
        return policy
    policy.updated = timezone.now()
    with name_taken_as_error(SLAPolicy):
        policy.save(update_fields=[*(name for name in changes if name != "targets"), "updated"])
    events.publish(
        events.POLICY_UPDATED, subject=policy, actor=actor, payload=changes_payload(changes)
    )
    return policy


@transaction.atomic
def sla_policy_delete(*, policy: SLAPolicy, actor: User | None) -> None:
    """Delete a policy and its targets; refused (ValidationError) while clocks refer to
    it."""
    require_admin(actor)
    # FOR UPDATE: a ticket change starting a clock under this policy (KEY SHARE on it)
    # waits, so the check below sees every clock there will be.
    policy = SLAPolicy.objects.select_for_update().get(pk=policy.pk)
    # Breaches belong to clocks, so no clock means no breach either.
    if policy.metrics.exists():
        raise ConflictError(POLICY_IN_USE)
    events.publish(
        events.POLICY_DELETED,
        subject=policy,
        actor=actor,
        payload=_values(policy, _stored_targets(policy)),
    )
    try:
        with transaction.atomic():
            policy.delete()
    except ProtectedError as error:
        raise ConflictError(POLICY_IN_USE) from error
