"""Custom ticket fields: their definitions (admins) and the values tickets hold (agents).

Values are checked by the field's type (``nixflow.fields``) and written to
``Ticket.custom_fields`` like any other change of the ticket: the row locked, one
history row per changed field (named ``field.<name>``), one ``ticket.updated`` event and
the ticket's version counted. ``ticket_create(custom_fields=...)`` and
``ticket_update(data={"custom_fields": ...})`` take values the same way.

Who sets values: agents (and the system: forms, automation). Requesters set none,
neither do they see them through the API; a form maps a requester's answers onto fields
and sets them as the system, having checked them itself (``forms_builder``).

Definitions are configuration, admins only, each change one ``ticket_field.*`` event.
Once tickets hold values for a field its name and type are fixed (the values are keyed
by name and were checked against the type), and it cannot be deleted: deactivate it
instead, which hides it from forms and edits and keeps what tickets recorded. Finding
whether a field has values reads the tickets (``custom_fields ? name``, which the
containment index does not serve): an admin's occasional change, not a hot path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from nixflow import events
from nixflow.fields import document_apply
from nixflow.models import FieldType, Stage, Ticket, TicketField, User, Workflow
from nixflow.services import tickets as ticket_services
from nixflow.toolkit.auth import require_admin, require_agent
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.services import changes_payload, model_update

TICKET_FIELD_FIELDS = frozenset(
    {
        "name",
        "label",
        "type",
        "help_text",
        "choices",
        "workflows",
        "required_for_stages",
        "position",
        "is_active",
    }
)
CHOICE_TYPES = frozenset({FieldType.CHOICE, FieldType.MULTIPLE_CHOICE})


# --- Values -----------------------------------------------------------------------------
@transaction.atomic
def ticket_fields_set(
    *, ticket: Ticket, actor: User | None, values: Mapping[str, Any], locked: bool = False
) -> Ticket:
    """Set custom field values of the ticket (``None``, ``""`` or ``[]`` clears one);
    agents only. Records ``ticket.updated`` with ``{"fields": [changed names]}`` when
    anything changed. ``locked``: the caller holds the locked row (``_held``)."""
    require_agent(actor, "set custom fields")
    ticket_services._require_can_view(actor, ticket)
    ticket = ticket_services._held(ticket, locked=locked)
    new, changes = document_apply(
        document=ticket.custom_fields, workflow_id=ticket.workflow_id, values=dict(values)
    )
    if not changes:
        return ticket
    now = timezone.now()
    ticket.custom_fields = new
    ticket.save(update_fields=["custom_fields", *ticket_services.touch(ticket, now)])
    ticket_services._commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_UPDATED,
        changes=changes,
        at=now,
        payload={"fields": field_names(changes)},
    )
    return ticket


def field_names(changes: Mapping[str, Any]) -> list[str]:
    """The custom field names among a change's keys (``field.<name>``), sorted."""
    return sorted(key.removeprefix("field.") for key in changes if key.startswith("field."))


# --- Definitions ---------------------------------------------------------------------------
def _snapshot(field: TicketField) -> dict[str, Any]:
    return {
        "name": field.name,
        "label": field.label,
        "type": field.type,
        "help_text": field.help_text,
        "choices": list(field.choices),
        "workflow_ids": sorted(w.pk for w in field.workflows.all()),
        "required_stage_ids": sorted(s.pk for s in field.required_for_stages.all()),
        "position": field.position,
        "is_active": field.is_active,
    }


def _has_values(name: str) -> bool:
    return Ticket.objects.filter(custom_fields__has_key=name).exists()


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - TICKET_FIELD_FIELDS)
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(unknown)}.")
    cleaned = dict(data)
    for key in ("name", "label", "help_text"):
        if isinstance(cleaned.get(key), str):
            cleaned[key] = cleaned[key].strip()
    if "choices" in cleaned:
        choices = [str(c).strip() for c in cleaned["choices"] or ()]
        if any(not c for c in choices):
            raise ValidationError({"choices": "A choice cannot be empty."})
        if len(set(choices)) != len(choices):
            raise ValidationError({"choices": "Each choice may appear once."})
        cleaned["choices"] = choices
    return cleaned


def _check_shape(
    field: TicketField, workflows: Sequence[Workflow], stages: Sequence[Stage]
) -> None:
    """What a definition must hold together: choices exactly for choice types, required
    stages in the field's workflows."""
    if field.type in CHOICE_TYPES and not field.choices:
        raise ValidationError({"choices": "A choice field needs at least one choice."})
    if field.type not in CHOICE_TYPES and field.choices:
        raise ValidationError({"choices": "Only single and multiple choice fields have choices."})
    if workflows:
        allowed = {w.pk for w in workflows}
        outside = sorted(s.name for s in stages if s.workflow_id not in allowed)
        if outside:
            raise ValidationError(
                {
                    "required_for_stages": f"{', '.join(outside)}: not a stage of the "
                    "field's workflows."
                }
            )


def _refusal(error: IntegrityError) -> ValidationError:
    if "name" in str(error):
        return ValidationError({"name": "A field with this name already exists."})
    return ValidationError("The change conflicts with another one made at the same time.")


@transaction.atomic
def ticket_field_create(*, actor: User | None, data: Mapping[str, Any]) -> TicketField:
    """Define a custom field; admins only. Records ``ticket_field.created``."""
    require_admin(actor, "define ticket fields")
    cleaned = _clean(data)
    workflows = list(cleaned.pop("workflows", None) or ())
    stages = list(cleaned.pop("required_for_stages", None) or ())
    field = TicketField(**cleaned)
    field.full_clean(validate_unique=False)
    if TicketField.objects.filter(name=field.name).exists():
        raise ValidationError({"name": "A field with this name already exists."})
    _check_shape(field, workflows, stages)
    try:
        with transaction.atomic():
            field.save()
    except IntegrityError as error:  # created by someone else since the check
        raise _refusal(error) from error
    field.workflows.set(workflows)
    field.required_for_stages.set(stages)
    events.record_config_event(
        type=events.TICKET_FIELD_CREATED, subject=field, actor=actor, payload=_snapshot(field)
    )
    return field


@transaction.atomic
def ticket_field_update(
    *, field: TicketField, actor: User | None, data: Mapping[str, Any]
) -> TicketField:
    """Change a field's definition; admins only. Its name and type are fixed once tickets
    hold values for it (409). Records ``ticket_field.updated`` when anything changed."""
    require_admin(actor, "change ticket fields")
    field = TicketField.objects.select_for_update().get(pk=field.pk)
    cleaned = _clean(data)
    workflows = cleaned.pop("workflows", None)
    stages = cleaned.pop("required_for_stages", None)
    before = _snapshot(field)
    for key in ("name", "type"):
        if key in cleaned and cleaned[key] != getattr(field, key) and _has_values(field.name):
            raise ConflictError(
                {
                    key: f"Tickets hold values for {field.name!r}: its {key} cannot change. "
                    "Make a new field instead."
                }
            )
    new_name = cleaned.get("name", field.name)
    if new_name != field.name and TicketField.objects.filter(name=new_name).exists():
        raise ValidationError({"name": "A field with this name already exists."})
    changes = model_update(
        instance=field,
        data=cleaned,
        also_set={"updated": timezone.now()},
        validate=lambda f: f.full_clean(validate_unique=False),
        save=False,
    )
    now_workflows = list(field.workflows.all()) if workflows is None else list(workflows)
    now_stages = list(field.required_for_stages.all()) if stages is None else list(stages)
    _check_shape(field, now_workflows, now_stages)
    if changes:
        try:
            with transaction.atomic():
                field.save(update_fields=[*changes, "updated"])
        except IntegrityError as error:
            raise _refusal(error) from error
    if workflows is not None:
        field.workflows.set(now_workflows)
    if stages is not None:
        field.required_for_stages.set(now_stages)
    after = _snapshot(field)
    changed = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
    if changed:
        events.record_config_event(
            type=events.TICKET_FIELD_UPDATED,
            subject=field,
            actor=actor,
            payload={"fields": sorted(changed), "changes": changes_payload(changed)},
        )
    return field


@transaction.atomic
def ticket_field_delete(*, field: TicketField, actor: User | None) -> None:
    """Delete a field no ticket holds a value for; admins only. A field with values is
    refused (409): deactivating it keeps what tickets recorded. Records
    ``ticket_field.deleted``."""
    require_admin(actor, "delete ticket fields")
    field = TicketField.objects.select_for_update().get(pk=field.pk)
    held = Ticket.objects.filter(custom_fields__has_key=field.name).count()
    if held:
        raise ConflictError(
            f"{held} ticket(s) hold a value for {field.label!r}; deactivate the field "
            "instead, which keeps their values."
        )
    events.record_config_event(
        type=events.TICKET_FIELD_DELETED, subject=field, actor=actor, payload=_snapshot(field)
    )
    field.delete()
