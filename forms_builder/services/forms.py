"""Designing forms: create, update, publish/withdraw/archive and delete a form with its
fields. The admin's designer and the API's ``/api/forms/`` both call these, so a change
is validated the same way and records the same event, whichever of the two made it
(payloads in ``forms_builder.events``).

A form and its fields are one unit: they are validated together (a visibility rule or
the ticket mapping refers to other fields) and saved in one transaction, which bumps the
form's ``version`` and records one event. Updates and deletions lock the form's row, so
that two designers saving at once are applied one after the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from forms_builder import events
from forms_builder.models import CustomForm, FormField, FormStatus
from forms_builder.validation import definition_errors
from nixflow.models import User
from nixflow.toolkit.auth import require_agent
from nixflow.toolkit.errors import ConflictError

# Alike the API serializer's fields, but attnames (workflow_id) whose changes an event lists.
FORM_CHANGE_FIELDS = (
    "name",
    "slug",
    "description",
    "workflow_id",
    "default_priority",
    "title_template",
    "description_field",
    "priority_field",
    "priority_map",
    "login_required",
    "success_message",
)
FIELD_CHANGE_FIELDS = tuple(
    f.attname for f in FormField._meta.concrete_fields if f.name not in {"id", "form"}
)


def _row_values(row: Model, names: Iterable[str]) -> dict[str, Any]:
    return {name: events.json_value(getattr(row, name)) for name in names}


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> events.Change:
    return {
        name: {"old": old.get(name), "new": value}
        for name, value in new.items()
        if old.get(name) != value
    }


def _validate(form: CustomForm, changed: Sequence[FormField], rows: list[FormField]) -> None:
    """The form's own rules, each changed field's, and the fields' rules together."""
    errors: dict[str, list[str]] = {}
    try:
        form.full_clean(exclude={"status"})
    except ValidationError as exc:
        errors.update(exc.message_dict)
    field_errors = []
    for row in changed:
        try:
            row.full_clean(exclude={"form"}, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            field_errors += [f"{row.key or 'a new field'}: {m}" for m in exc.messages]
    field_errors += definition_errors(form, rows, publishing=form.status == FormStatus.PUBLISHED)
    if field_errors:
        errors["fields"] = field_errors
    if errors:
        raise ValidationError(errors)


def _save(form: CustomForm, changed: Sequence[FormField], deleted_ids: set[int]) -> None:
    now = timezone.now()
    form.version += 1
    form.updated = now
    if form.pk is None:
        form.created = now
    form.save()
    FormField.objects.filter(form=form, pk__in=deleted_ids).delete()
    for row in changed:
        row.form = form
        row.save()


@transaction.atomic
def form_create(
    *, form: CustomForm, fields: Sequence[FormField] = (), actor: User | None
) -> CustomForm:
    """Save a new form, as a draft, with its fields; records ``form.created``.

    ``form`` is an unsaved CustomForm carrying the designer's values, ``fields`` its
    unsaved fields. Publish it with ``form_set_status``.
    """
    require_agent(actor, "design forms")
    if form.pk is not None:
        raise ValueError("form_create takes a new form; change a saved one with form_update.")
    form.status = FormStatus.DRAFT
    rows = list(fields)
    _validate(form, rows, rows)
    _save(form, rows, set())
    events.form_created(
        form=form,
        actor=actor,
        settings=_row_values(form, FORM_CHANGE_FIELDS),
        fields=[row.key for row in sorted(rows, key=lambda r: (r.order, r.pk))],
    )
    return form


@transaction.atomic
def form_update(
    *,
    form: CustomForm,
    changed_fields: Sequence[FormField] = (),
    deleted_fields: Sequence[FormField] = (),
    actor: User | None,
) -> CustomForm:
    """Save a designer's edit of a form: its settings as ``form`` carries them, new or
    edited fields in ``changed_fields``, fields to remove in ``deleted_fields`` (fields
    not named stay as they are). Validated together; when anything changed, the version
    grows by one and ``form.updated`` records what changed, old and new. The status
    changes only through ``form_set_status``.
    """
    require_agent(actor, "design forms")
    # Two designers saving at once: the second waits here, then compares with what the
    # first saved and bumps the version again.
    current = CustomForm.objects.select_for_update().get(pk=form.pk)
    form.version = current.version
    form.status = current.status
    deleted = {row.pk: row for row in deleted_fields if row.pk}
    changed_by_id = {row.pk: row for row in changed_fields if row.pk}
    kept = list(FormField.objects.filter(form=form).exclude(pk__in=deleted))
    rows = [changed_by_id.get(row.pk, row) for row in kept]
    added = [row for row in changed_fields if not row.pk]
    _validate(form, changed_fields, rows + added)

    changed = _diff(_row_values(current, FORM_CHANGE_FIELDS), _row_values(form, FORM_CHANGE_FIELDS))
    old_fields = {row.pk: (row.key, _row_values(row, FIELD_CHANGE_FIELDS)) for row in kept}
    fields_changed = {}
    for row in changed_fields:
        if row.pk in old_fields:
            key, old = old_fields[row.pk]
            diff = _diff(old, _row_values(row, FIELD_CHANGE_FIELDS))
            if diff:
                fields_changed[key] = diff
    removed = [
        row.key for row in FormField.objects.filter(form=form, pk__in=deleted).order_by("order")
    ]
    if not (changed or fields_changed or added or removed):
        return form
    _save(form, changed_fields, set(deleted))
    events.form_updated(
        form=form,
        actor=actor,
        changed=changed,
        fields_added=[row.key for row in added],
        fields_removed=removed,
        fields_changed=fields_changed,
    )
    return form


# Same signature as form_update: it dispatches to form_create or form_update.
def form_save(
    *,
    form: CustomForm,
    changed_fields: Sequence[FormField] = (),
    deleted_fields: Sequence[FormField] = (),
    actor: User | None,
) -> CustomForm:
    """``form_create`` for a new form, ``form_update`` for a saved one: for callers that
    hold either (the demo data, scripts)."""
    if form.pk is None:
        return form_create(form=form, fields=changed_fields, actor=actor)
    return form_update(
        form=form, changed_fields=changed_fields, deleted_fields=deleted_fields, actor=actor
    )


def form_fields_from_data(
    *, form: CustomForm | None, items: Sequence[Mapping[str, Any]]
) -> tuple[list[FormField], list[FormField]]:
    """The complete list of a form's fields as an API client sends it → the changed and
    deleted rows ``form_update`` takes. Fields are matched by key; order follows the list
    unless items give their own ``order``."""
    existing = {} if form is None or form.pk is None else {f.key: f for f in form.fields.all()}
    changed: list[FormField] = []
    for position, item in enumerate(items):
        row = existing.pop(item["key"], None) or FormField(key=item["key"])
        values = {"order": (position + 1) * 10, **item}
        for name, value in values.items():
            setattr(row, name, value)
        changed.append(row)
    return changed, list(existing.values())


@transaction.atomic
def form_set_status(*, form: CustomForm, status: FormStatus, actor: User | None) -> CustomForm:
    """Publish, withdraw (back to draft) or archive a form; records ``form.published``,
    ``form.withdrawn`` or ``form.archived``.

    Publishing checks the whole definition, as it will be served: at least one field,
    consistent rules, an active workflow when the form names one.
    """
    require_agent(actor, "publish or archive forms")
    form = CustomForm.objects.select_for_update().get(pk=form.pk)
    if form.status == status:
        return form
    if status == FormStatus.PUBLISHED:
        problems = definition_errors(form, list(form.fields.all()), publishing=True)
        if form.workflow is not None and not form.workflow.is_active:
            problems.append(f"Its workflow {form.workflow.name!r} is not active.")
        if problems:
            raise ConflictError(
                {"status": [f"{form.name} can't be published: {p}" for p in problems]}
            )
    previous = form.status
    form.status = status
    form.updated = timezone.now()
    form.save(update_fields=["status", "updated"])
    events.form_status_changed(form=form, actor=actor, previous_status=previous)
    return form


@transaction.atomic
def form_delete(*, form: CustomForm, actor: User | None) -> None:
    """Delete a form nobody has submitted; records ``form.deleted``. Forms with
    submissions are archived instead (their submissions and tickets refer to them)."""
    require_agent(actor, "delete forms")
    form = CustomForm.objects.select_for_update().get(pk=form.pk)
    if form.submissions.exists():
        raise ConflictError(f"{form.name} has submissions; archive it instead of deleting it.")
    keys = list(form.fields.order_by("order", "id").values_list("key", flat=True))
    events.form_deleted(form=form, actor=actor, fields=keys)
    form.delete()
