"""What a rule's conditions and actions name, by name: the rule's pages show "Tier 2",
not the team's id.

A rule keeps the rows it names by id (``automation.conditions``, ``automation.actions``):
stages, workflows, teams, agents and requesters, webhook endpoints, and custom fields
by their name. ``References`` reads them for any number of rules' conditions and
actions at once, one query per kind of row named (not one per condition), and says
each one as a person reads it: its name, a link to its admin page when it has one, and
"deleted team #7" when the row is gone since the rule was saved (the rule is then
refused when it runs, and when it is saved again, until someone edits it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.db.models import Model
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy, pgettext_lazy

from nixflow.models import Stage, Team, TicketField, User, Workflow
from nixflow.models.fields import FieldType

CUSTOM_PREFIX = "field."
# The kinds of rows a rule names by id, and what it says of one that is gone.
DELETED = {
    "stage": pgettext_lazy("automation reference", "deleted stage #%(id)s"),
    "workflow": pgettext_lazy("automation reference", "deleted workflow #%(id)s"),
    "team": pgettext_lazy("automation reference", "deleted team #%(id)s"),
    "user": pgettext_lazy("automation reference", "deleted user #%(id)s"),
    "endpoint": pgettext_lazy("automation reference", "deleted webhook endpoint #%(id)s"),
    "field": pgettext_lazy("automation reference", "deleted custom field %(id)s"),
}
INACTIVE = gettext_lazy("%(name)s (inactive)")
# Condition fields whose values are ids, and the kind of row each names.
CONDITION_KINDS = {
    "stage": "stage",
    "workflow": "workflow",
    "team": "team",
    "assignee": "user",
    "requester": "user",
}
# Action parameters that are ids, and the kind of row each names.
ACTION_KINDS = {"stage": "stage", "team": "team", "assignee": "user", "endpoint": "endpoint"}


@dataclass(frozen=True)
class Named:
    """A row a rule names: how to say it, and its admin page (None: none, or gone)."""

    text: str
    url: str | None = None
    exists: bool = True

    def html(self) -> SafeString:
        if self.url:
            return format_html('<a href="{}">{}</a>', self.url, self.text)
        return format_html("{}", self.text)


def _ids(values: Any) -> list[int]:
    listed = values if isinstance(values, list) else [values]
    return [v for v in listed if isinstance(v, int) and not isinstance(v, bool)]


def _admin_url(model: type[Model], pk: Any) -> str | None:
    if not admin.site.is_registered(model):
        return None
    meta = model._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk])
    except NoReverseMatch:
        return None


def _endpoint_model() -> type[Model] | None:
    # The webhooks app's endpoints, through the app registry (feature apps do not import
    # each other); without the app an endpoint is only its id.
    try:
        return apps.get_model("webhooks", "Endpoint")
    except LookupError:
        return None


def _stages(ids: set[Any]) -> dict[Any, Named]:
    rows = Stage.objects.filter(pk__in=ids).select_related("workflow")
    return {
        s.pk: Named(f"{s.workflow.name}: {s.name}", _admin_url(Workflow, s.workflow_id))
        for s in rows
    }


def _workflows(ids: set[Any]) -> dict[Any, Named]:
    rows = Workflow.objects.filter(pk__in=ids)
    return {w.pk: Named(w.name, _admin_url(Workflow, w.pk)) for w in rows}


def _teams(ids: set[Any]) -> dict[Any, Named]:
    return {t.pk: Named(t.name, _admin_url(Team, t.pk)) for t in Team.objects.filter(pk__in=ids)}


def _users(ids: set[Any]) -> dict[Any, Named]:
    named = {}
    for user in User.objects.filter(pk__in=ids):
        name = user.get_full_name() or user.username
        if not user.is_active:
            name = str(INACTIVE % {"name": name})
        named[user.pk] = Named(name, _admin_url(User, user.pk))
    return named


def _endpoints(ids: set[Any]) -> dict[Any, Named]:
    model = _endpoint_model()
    if model is None:
        return {}
    rows = model._default_manager.filter(pk__in=ids)
    return {e.pk: Named(str(e), _admin_url(model, e.pk)) for e in rows}


READERS = {
    "stage": _stages,
    "workflow": _workflows,
    "team": _teams,
    "user": _users,
    "endpoint": _endpoints,
}


def _wanted(
    conditions: list[Mapping[str, Any]], actions: list[Mapping[str, Any]]
) -> dict[str, set[Any]]:
    """The ids of each kind the conditions and actions name (the custom fields by name;
    the users a user-type custom field names are added once the fields are read)."""
    wanted: dict[str, set[Any]] = {kind: set() for kind in DELETED}
    for condition in conditions:
        name = str(condition.get("field", ""))
        if name in CONDITION_KINDS:
            wanted[CONDITION_KINDS[name]].update(_ids(condition.get("value")))
        elif name.startswith(CUSTOM_PREFIX):
            wanted["field"].add(name[len(CUSTOM_PREFIX) :])
    for action in actions:
        for key, kind in ACTION_KINDS.items():
            wanted[kind].update(_ids(action.get(key)))
        if action.get("type") == "set_field" and action.get("field"):
            wanted["field"].add(str(action["field"]))
    return wanted


class References:
    """The rows named by the given conditions and actions, read at once: a query for
    the custom fields and one per other kind of row named, however many name them."""

    def __init__(
        self,
        *,
        conditions: Iterable[Mapping[str, Any]] = (),
        actions: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        conditions, actions = list(conditions), list(actions)
        wanted = _wanted(conditions, actions)
        fields = TicketField.objects.filter(name__in=wanted["field"]) if wanted["field"] else []
        self.fields: dict[str, TicketField] = {f.name: f for f in fields}
        # A user-type custom field's values are user ids too.
        for condition in conditions:
            if self.value_kind(str(condition.get("field", ""))) == "user":
                wanted["user"].update(_ids(condition.get("value")))
        for action in actions:
            field = CUSTOM_PREFIX + str(action.get("field", ""))
            if action.get("type") == "set_field" and self.value_kind(field) == "user":
                wanted["user"].update(_ids(action.get("value")))
        self.named: dict[tuple[str, Any], Named] = {
            ("field", f.name): Named(f.label, _admin_url(TicketField, f.pk))
            for f in self.fields.values()
        }
        for kind, read in READERS.items():
            if wanted[kind]:
                self.named.update({(kind, pk): named for pk, named in read(wanted[kind]).items()})

    def of(self, kind: str, key: Any) -> Named:
        """The row of ``kind`` that ``key`` names, or what is said of it when it is gone."""
        found = self.named.get((kind, key))
        if found is not None:
            return found
        if kind == "endpoint" and _endpoint_model() is None:
            return Named(str(key), exists=False)
        return Named(str(DELETED[kind] % {"id": key}), exists=False)

    def field(self, name: str) -> TicketField | None:
        """The custom field ``name`` (with or without ``field.``), if it still exists."""
        return self.fields.get(name.removeprefix(CUSTOM_PREFIX))

    def value_kind(self, field: str) -> str | None:
        """The kind of row a condition on ``field`` names by its values, if any."""
        if field in CONDITION_KINDS:
            return CONDITION_KINDS[field]
        custom = self.field(field) if field.startswith(CUSTOM_PREFIX) else None
        return "user" if custom is not None and custom.type == FieldType.USER else None


__all__ = ["DELETED", "Named", "References"]
