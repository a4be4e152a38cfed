"""The rule page's forms: conditions and actions edited as rows, never as JSON.

A rule keeps its conditions and actions as JSON lists (``automation.models``); an admin
edits them here as two formsets: a condition row is field / operator / value, an action
row is a type and that type's parameters. The choices come from the desk as it is now:
its stages, teams, agents, tags, custom fields (``TicketField``) and, when the webhooks
app is installed, its endpoints (looked up through the app registry: feature apps do not
import each other), read once per page (``Desk``); what the saved rule names that the
desk no longer offers (a deleted team) is kept in its row by name (``Kept``), never
dropped unseen. ``RuleForm`` turns the rows into the lists the engine validates
(``validate_conditions``, ``validate_actions``) and the services save, and back.

The catalog at the top (operators, action types and their parameters) is also what the
API's schema lists, so the admin and the API offer the same things.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any, cast

from django import forms
from django.apps import apps
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext, gettext_lazy

from automation.actions import validate_actions
from automation.conditions import validate_conditions
from automation.models import Rule
from automation.references import ACTION_KINDS, References
from nixflow.models import Priority, Role, Source, Stage, Tag, Team, User, Workflow
from nixflow.models.fields import FieldType, TicketField
from nixflow.models.workflows import StageCategory

# --- The catalog: what conditions and actions can say -----------------------------------
OPERATORS: dict[str, Any] = {
    "is": gettext_lazy("is"),
    "is_not": gettext_lazy("is not"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "contains": gettext_lazy("contains"),
    "not_contains": gettext_lazy("does not contain"),
    "is_empty": gettext_lazy("is empty"),
    "is_not_empty": gettext_lazy("is not empty"),
    "gt": gettext_lazy("is greater than / after"),
    "lt": gettext_lazy("is less than / before"),
}
NO_VALUE = frozenset({"is_empty", "is_not_empty"})
LIST_VALUE = frozenset({"in", "not_in"})

BUILT_IN_FIELDS: dict[str, Any] = {
    "title": gettext_lazy("Title"),
    "description": gettext_lazy("Description"),
    "text": gettext_lazy("Title, description or new comment"),
    "comment": gettext_lazy("New comment's text"),
    "priority": gettext_lazy("Priority"),
    "stage": gettext_lazy("Stage"),
    "stage_category": gettext_lazy("Stage category"),
    "workflow": gettext_lazy("Workflow"),
    "team": gettext_lazy("Team"),
    "assignee": gettext_lazy("Assignee"),
    "requester": gettext_lazy("Requester (user id)"),
    "requester_domain": gettext_lazy("Requester's e-mail domain"),
    "channel": gettext_lazy("Channel"),
    "tags": gettext_lazy("Tags"),
    "created": gettext_lazy("Created"),
    "business_hours": gettext_lazy("In business hours (rule's calendar)"),
}
ID_FIELDS = frozenset({"stage", "workflow", "team", "assignee", "requester"})
CUSTOM_PREFIX = "field."

ACTION_TYPES: dict[str, Any] = {
    "set_priority": gettext_lazy("Set priority"),
    "set_stage": gettext_lazy("Move to stage"),
    "set_team": gettext_lazy("Set team"),
    "set_assignee": gettext_lazy("Assign to"),
    "add_tags": gettext_lazy("Add tags"),
    "remove_tags": gettext_lazy("Remove tags"),
    "set_field": gettext_lazy("Set custom field"),
    "add_note": gettext_lazy("Add internal note"),
    "send_mail": gettext_lazy("Send mail"),
    "call_webhook": gettext_lazy("Call webhook"),
}
# Each action type's parameters: (row form field, key in the action's JSON).
ACTION_PARAMS: dict[str, tuple[tuple[str, str], ...]] = {
    "set_priority": (("priority", "priority"),),
    "set_stage": (("stage", "stage"),),
    "set_team": (("team", "team"),),
    "set_assignee": (("assignee", "assignee"),),
    "add_tags": (("tags", "tags"),),
    "remove_tags": (("tags", "tags"),),
    "set_field": (("field", "field"), ("field_value", "value")),
    "add_note": (("body", "body"),),
    "send_mail": (("to", "to"), ("address", "address"), ("subject", "subject"), ("body", "body")),
    "call_webhook": (("endpoint", "endpoint"),),
}
MAIL_RECIPIENTS: dict[str, Any] = {
    "requester": gettext_lazy("the requester"),
    "assignee": gettext_lazy("the assignee"),
    "team": gettext_lazy("the team"),
    "address": gettext_lazy("an address"),
}
INT_PARAMS = frozenset({"stage", "team", "assignee", "endpoint"})


def validate(kind: str, rows: list[Any]) -> list[Any]:
    """The engine's validator for ``kind`` ("conditions" or "actions"): the rows
    normalised, or a ValidationError that names the row."""
    if kind == "conditions":
        return validate_conditions(rows)
    return validate_actions(rows)


# --- Choices from the desk -----------------------------------------------------------------
def webhook_endpoints() -> list[tuple[int, str]]:
    try:
        endpoint = apps.get_model("webhooks", "Endpoint")
    except LookupError:
        return []
    return [(row.pk, str(row)) for row in endpoint.objects.order_by("name", "id")]


def _agents() -> list[tuple[int, str]]:
    agents = User.objects.filter(role__in=[Role.AGENT, Role.ADMIN], is_active=True)
    return [(u.pk, u.get_full_name() or u.username) for u in agents.order_by("username")]


def _stages() -> list[tuple[int, str]]:
    rows = Stage.objects.select_related("workflow").order_by("workflow__name", "position")
    return [(s.pk, f"{s.workflow.name}: {s.name}") for s in rows]


def _fields() -> list[TicketField]:
    return list(TicketField.objects.filter(is_active=True).order_by("position", "name"))


@dataclasses.dataclass
class Desk:
    """The desk's rows the rule page offers, read once per page: every row of both
    formsets shares them (a query per row would grow with the rule)."""

    custom: Sequence[TicketField] = ()
    stages: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    workflows: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    teams: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    agents: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    tags: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    endpoints: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    @classmethod
    def read(cls) -> Desk:
        return cls(
            custom=_fields(),
            stages=_stages(),
            workflows=[(w.pk, w.name) for w in Workflow.objects.order_by("name")],
            teams=[(t.pk, t.name) for t in Team.objects.order_by("name")],
            agents=_agents(),
            tags=[(t.name, t.name) for t in Tag.objects.order_by("name")[:500]],
            endpoints=webhook_endpoints(),
        )

    @cached_property
    def _groups(self) -> list[tuple[str, Iterable[tuple[Any, Any]]]]:
        yes_no = [("true", gettext("yes")), ("false", gettext("no"))]
        groups: list[tuple[str, Iterable[tuple[Any, Any]]]] = [
            ("priority", Priority.choices),
            ("stage", self.stages),
            ("stage_category", StageCategory.choices),
            ("workflow", self.workflows),
            ("team", self.teams),
            ("assignee", self.agents),
            ("channel", Source.choices),
            ("tags", self.tags),
            ("business_hours", yes_no),
        ]
        for custom in self.custom:
            if custom.type in (FieldType.CHOICE, FieldType.MULTIPLE_CHOICE):
                groups.append((CUSTOM_PREFIX + custom.name, [(c, c) for c in custom.choices]))
            elif custom.type == FieldType.CHECKBOX:
                groups.append((CUSTOM_PREFIX + custom.name, yes_no))
        return groups

    @cached_property
    def value_choices(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The values a condition can pick, grouped by field: each option is
        ``<field>=<value>``, so the page's script shows the chosen field's options only."""
        labels = {**BUILT_IN_FIELDS, **{CUSTOM_PREFIX + f.name: f.label for f in self.custom}}
        return [
            (str(labels[name]), [(f"{name}={value}", str(label)) for value, label in options])
            for name, options in self._groups
            if options
        ]

    @cached_property
    def offered(self) -> frozenset[str]:
        return frozenset(v for _, options in self.value_choices for v, _ in options)

    @cached_property
    def chosen_fields(self) -> frozenset[str]:
        """The fields whose values are picked from a list (the others are typed), even
        when the desk has none of their rows left."""
        return frozenset(name for name, _ in self._groups)


# --- Rows ----------------------------------------------------------------------------------
def _apply_choices(form: forms.Form, choices: dict[str, Any]) -> None:
    for name, options in choices.items():
        field = form.fields[name]
        if isinstance(field, forms.ChoiceField):
            field.choices = options


@dataclasses.dataclass
class Kept:
    """What the saved rule names that the desk no longer offers (a deleted team, an
    agent made inactive), added to the rows' choices by name: without them a row would
    show nothing chosen, and saving it unchanged would quietly drop or change the value.
    Offered, it is shown as "deleted team #7" and kept; the engine then refuses the
    rule, naming the row, until someone edits it."""

    # (condition field, option "<field>=<value>", what is said of it)
    conditions: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    # action parameter -> [(id, what is said of it)]
    actions: dict[str, list[tuple[int, str]]] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, rule: Rule, desk: Desk, references: References) -> Kept:
        kept = cls()
        for condition in rule.conditions or []:
            name, value = str(condition.get("field", "")), condition.get("value")
            kind = references.value_kind(name)
            if kind is None or value is None or name not in desk.chosen_fields:
                continue
            for key in value if isinstance(value, list) else [value]:
                option = f"{name}={_text(key)}"
                if option not in desk.offered:
                    kept.conditions.append((name, option, references.of(kind, key).text))
        offered = {
            "stage": desk.stages,
            "team": desk.teams,
            "assignee": desk.agents,
            "endpoint": desk.endpoints,
        }
        for action in rule.actions or []:
            for key, kind in ACTION_KINDS.items():
                value = action.get(key)
                known = {pk for pk, _ in offered[key]}
                if isinstance(value, int) and value not in known:
                    said = (value, references.of(kind, value).text)
                    if said not in kept.actions.setdefault(key, []):
                        kept.actions[key].append(said)
        return kept


def _with_kept(
    groups: list[tuple[str, list[tuple[str, str]]]], kept: Kept, labels: dict[str, Any]
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The value groups with the saved rule's values that are no longer offered added to
    their field's group (the page's script shows a field's group by its options)."""
    if not kept.conditions:
        return groups
    result = [(label, list(options)) for label, options in groups]
    for name, option, said in kept.conditions:
        group = next(
            (opts for _, opts in result if opts and opts[0][0].startswith(f"{name}=")), None
        )
        if group is None:
            group = []
            result.append((str(labels.get(name, name)), group))
        if option not in {value for value, _ in group}:
            group.append((option, said))
    return result


class ConditionForm(forms.Form):
    field = forms.ChoiceField(label=gettext_lazy("field"))
    op = forms.ChoiceField(label=gettext_lazy("operator"), choices=list(OPERATORS.items()))
    value_choice = forms.ChoiceField(label=gettext_lazy("value"), required=False)
    value = forms.CharField(
        label=gettext_lazy("value (text)"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy("For “is one of”: values separated by commas."),
    )

    def __init__(
        self, *args: Any, desk: Desk | None = None, kept: Kept | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        desk = desk if desk is not None else Desk.read()
        self.custom = {CUSTOM_PREFIX + f.name: f for f in desk.custom}
        built_in = [(name, str(label)) for name, label in BUILT_IN_FIELDS.items()]
        custom_choices = [(name, f.label) for name, f in self.custom.items()]
        choices: list[Any] = [("", "---------"), (gettext("Ticket"), built_in)]
        if custom_choices:
            choices.append((gettext("Custom fields"), custom_choices))
        values = _with_kept(desk.value_choices, kept or Kept(), BUILT_IN_FIELDS)
        _apply_choices(self, {"field": choices, "value_choice": [("", "---------"), *values]})
        self.fields["value_choice"].widget.attrs["class"] = "rule-value-choice"
        self.fields["field"].widget.attrs["class"] = "rule-field"
        self.fields["op"].widget.attrs["class"] = "rule-op"
        # The names of the ids a list of values gives as text ("3, 5"), under the row.
        self.named: str = "" if self.is_bound else str(self.initial.get("named", ""))

    def condition(self) -> dict[str, Any]:
        """The row as the engine's JSON: {"field", "op", "value"}."""
        data = self.cleaned_data
        field, op = data["field"], data["op"]
        condition: dict[str, Any] = {"field": field, "op": op}
        if op in NO_VALUE:
            return condition
        chosen = data.get("value_choice") or ""
        prefix = f"{field}="
        if chosen.startswith(prefix):
            raws = [chosen[len(prefix) :]]
        else:
            text = data.get("value") or ""
            raws = [p.strip() for p in text.split(",")] if op in LIST_VALUE else [text.strip()]
            raws = [r for r in raws if r] if op in LIST_VALUE else raws
        values = [self._typed(field, raw) for raw in raws]
        condition["value"] = values if op in LIST_VALUE else values[0]
        return condition

    def _typed(self, field: str, raw: str) -> Any:
        custom = self.custom.get(field)
        kind = custom.type if custom is not None else None
        if field == "business_hours" or kind == FieldType.CHECKBOX:
            return raw.lower() in {"true", "yes", "1"}
        if (field in ID_FIELDS or kind in (FieldType.NUMBER, FieldType.USER)) and raw.isdigit():
            return int(raw)
        return raw


def condition_initial(
    condition: dict[str, Any], desk: Desk, references: References | None = None
) -> dict[str, Any]:
    """A stored condition as its row's initial values."""
    field, op = str(condition.get("field", "")), str(condition.get("op", ""))
    value = condition.get("value")
    initial: dict[str, Any] = {"field": field, "op": op}
    if value is None or op in NO_VALUE:
        return initial
    kind = references.value_kind(field) if references is not None else None
    option = f"{field}={_text(value)}"
    listed = field in desk.chosen_fields and kind is not None  # kept by name if gone (Kept)
    if not isinstance(value, list) and (option in desk.offered or listed):
        initial["value_choice"] = option
        return initial
    values = value if isinstance(value, list) else [value]
    initial["value"] = ", ".join(_text(v) for v in values)
    if kind is not None and references is not None:  # ids typed as text: named under the row
        initial["named"] = ", ".join(f"{v}: {references.of(kind, v).text}" for v in values)
    return initial


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ActionForm(forms.Form):
    """An action: its type, and the parameters that type reads (the page's script shows
    only those; each parameter's row says which types read it)."""

    type = forms.ChoiceField(label=gettext_lazy("action"))
    priority = forms.ChoiceField(
        label=gettext_lazy("priority"), required=False, choices=[("", "---------")]
    )
    stage = forms.TypedChoiceField(label=gettext_lazy("stage"), required=False, coerce=int)
    team = forms.TypedChoiceField(label=gettext_lazy("team"), required=False, coerce=int)
    assignee = forms.TypedChoiceField(
        label=gettext_lazy("agent"), required=False, coerce=int, empty_value=None
    )
    tags = forms.CharField(
        label=gettext_lazy("tags"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy("Separated by commas."),
    )
    field = forms.ChoiceField(label=gettext_lazy("custom field"), required=False)
    field_value = forms.CharField(label=gettext_lazy("value"), required=False, max_length=2000)
    to = forms.ChoiceField(label=gettext_lazy("to"), required=False, choices=[("", "---------")])
    address = forms.EmailField(label=gettext_lazy("address"), required=False)
    subject = forms.CharField(label=gettext_lazy("subject"), required=False, max_length=200)
    body = forms.CharField(
        label=gettext_lazy("text"),
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("A template: {{ ticket.key }}, {{ ticket.title }}, …"),
    )
    endpoint = forms.TypedChoiceField(
        label=gettext_lazy("webhook endpoint"), required=False, coerce=int
    )

    def __init__(
        self, *args: Any, desk: Desk | None = None, kept: Kept | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        desk = desk if desk is not None else Desk.read()
        old = (kept or Kept()).actions
        blank = [("", "---------")]
        fields = self.fields
        choices: dict[str, Any] = {}
        choices["type"] = [*blank, *((k, str(v)) for k, v in ACTION_TYPES.items())]
        fields["type"].widget.attrs["class"] = "rule-action-type"
        choices["priority"] = [*blank, *Priority.choices]
        choices["stage"] = [*blank, *desk.stages, *old.get("stage", [])]
        choices["team"] = [*blank, *desk.teams, *old.get("team", [])]
        choices["assignee"] = [
            ("", gettext("nobody (unassign)")),
            *desk.agents,
            *old.get("assignee", []),
        ]
        choices["field"] = [*blank, *((f.name, f.label) for f in desk.custom)]
        choices["to"] = [*blank, *((k, str(v)) for k, v in MAIL_RECIPIENTS.items())]
        choices["endpoint"] = [*blank, *desk.endpoints, *old.get("endpoint", [])]
        _apply_choices(self, choices)
        for name in fields:
            if name != "type":
                used_by = [t for t, params in ACTION_PARAMS.items() if name in dict(params)]
                fields[name].widget.attrs["data-action-types"] = " ".join(used_by)
        self.named = ""

    def action(self) -> dict[str, Any]:
        """The row as the engine's JSON: {"type", ...its parameters}."""
        data = self.cleaned_data
        kind = data["type"]
        action: dict[str, Any] = {"type": kind}
        for name, key in ACTION_PARAMS[kind]:
            value = data.get(name)
            if name == "tags":
                value = [t.strip() for t in (value or "").split(",") if t.strip()]
            elif name == "address" and data.get("to") != "address":
                continue
            elif value == "" and name not in {"body", "field_value"}:
                value = None
            action[key] = value
        return action


def action_initial(action: dict[str, Any]) -> dict[str, Any]:
    """A stored action as its row's initial values."""
    kind = str(action.get("type", ""))
    initial: dict[str, Any] = {"type": kind}
    for name, key in ACTION_PARAMS.get(kind, ()):
        value = action.get(key)
        if value is None:
            continue
        initial[name] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return initial


class RowFormSet(forms.BaseFormSet):
    """Rows sharing the desk's choices (read once per page) and the saved rule's values
    the desk no longer offers."""

    def __init__(
        self, *args: Any, desk: Desk | None = None, kept: Kept | None = None, **kwargs: Any
    ) -> None:
        self.desk = desk if desk is not None else Desk.read()
        self.kept = kept or Kept()
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "desk": self.desk, "kept": self.kept}

    def kept_forms(self) -> list[forms.Form]:
        """The rows to save: filled in and not marked for deletion, in order."""
        return [
            form
            for form in self.forms
            if form.has_changed() and not form.cleaned_data.get("DELETE")
        ]


ConditionFormSet = cast(
    type[RowFormSet],
    forms.formset_factory(
        ConditionForm, formset=RowFormSet, extra=1, can_delete=True, max_num=50, validate_max=True
    ),
)
ActionFormSet = cast(
    type[RowFormSet],
    forms.formset_factory(
        ActionForm, formset=RowFormSet, extra=1, can_delete=True, max_num=50, validate_max=True
    ),
)

RULE_FIELDS = (
    "name",
    "description",
    "is_active",
    "position",
    "trigger",
    "match",
    "stop_processing",
    "time_basis",
    "time_amount",
    "time_unit",
    "calendar",
)


class RuleForm(forms.ModelForm):
    """A rule's own fields, with its conditions and actions as two formsets.

    ``cleaned_data["conditions"]`` and ``["actions"]`` are the lists the services take,
    normalised by the engine's validators; their refusals are shown above the rows.
    A POST with ``_dry_run`` validates the same way but never saves: ``dry_run`` then
    holds what the edit would have matched, and the page shows the form again."""

    class Meta:
        model = Rule
        fields = RULE_FIELDS

    dry_run: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        desk = Desk.read()
        data = self.data if self.is_bound else None
        rule = self.instance
        saved_conditions, saved_actions = rule.conditions or [], rule.actions or []
        references = References(conditions=saved_conditions, actions=saved_actions)
        kept = Kept.of(rule, desk, references)
        self.condition_formset = ConditionFormSet(
            data,
            prefix="conditions",
            desk=desk,
            kept=kept,
            initial=None
            if self.is_bound
            else [condition_initial(c, desk, references) for c in saved_conditions],
        )
        self.action_formset = ActionFormSet(
            data,
            prefix="actions",
            desk=desk,
            kept=kept,
            initial=None if self.is_bound else [action_initial(a) for a in saved_actions],
        )

    @property
    def wants_dry_run(self) -> bool:
        return self.is_bound and "_dry_run" in self.data

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        for kind, formset, to_json in (
            ("conditions", self.condition_formset, ConditionForm.condition),
            ("actions", self.action_formset, ActionForm.action),
        ):
            if not formset.is_valid():
                self.add_error(None, self._rows_invalid(kind))
                continue
            rows = [to_json(form) for form in formset.kept_forms()]  # type: ignore[arg-type]
            try:
                cleaned[kind] = validate(kind, rows)
            except ValidationError as error:
                self.add_error(None, [f"{self._title(kind)}: {m}" for m in error.messages])
        return cleaned

    def _title(self, kind: str) -> str:
        return gettext("Conditions") if kind == "conditions" else gettext("Actions")

    def _rows_invalid(self, kind: str) -> str:
        return gettext("%(rows)s: correct the rows marked below.") % {"rows": self._title(kind)}

    def rows_changed(self) -> list[str]:
        """Which of the two lists differ from the rule as it was."""
        return [
            kind
            for kind in ("conditions", "actions")
            if kind in self.cleaned_data
            and self.cleaned_data[kind] != (getattr(self.instance, kind, None) or [])
        ]

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if not self.wants_dry_run:
            return valid
        from automation.dry_run import MATCHING_FIELDS, rule_dry_run

        # What the rule matches may be asked before it has a (free) name: only errors in
        # what decides the matching, or in the rows, keep the dry run from running.
        if not (set(self.errors) & {*MATCHING_FIELDS, NON_FIELD_ERRORS}):
            self.dry_run = rule_dry_run(rule_or_data={**self.cleaned_data})
        # A dry run never saves: the admin shows the same form again, with the answer.
        return False
