"""Automation rules in the admin: admins write them, agents read them.

The rule page edits a rule's own fields and its conditions and actions as rows
(``automation.forms``: field / operator / value, and an action's type with its
parameters), never as JSON; a small static script adds and removes rows and shows each
action's parameters only. A save is one call of ``rule_create`` or ``rule_update``, so
the admin records the same ``automation_rule.*`` event the API does, and a refusal of
the engine's validators is shown on the form.

"Dry run" on the same page validates the edit as it stands (saved or not) and shows how
many tickets of the last 30 days it would have matched, with links to examples, without
saving anything. The list enables and disables rules in bulk, through the same service.

Who reads a rule reads what it names by name, linked to its page ("Team is Tier 2"),
and "deleted team #7" for a row deleted since (``automation.references``, one query per
kind of row named, however many conditions name them).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext

from automation import services
from automation.dry_run import DryRun
from automation.forms import (
    ACTION_PARAMS,
    ACTION_TYPES,
    BUILT_IN_FIELDS,
    CUSTOM_PREFIX,
    MAIL_RECIPIENTS,
    NO_VALUE,
    OPERATORS,
    RULE_FIELDS,
    ActionForm,
    RuleForm,
)
from automation.models import Rule
from automation.references import ACTION_KINDS, References
from nixflow.models import Priority, Source, StageCategory, User
from nixflow.toolkit.admin import READ_ONLY, bulk_apply
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.config_admin import ConfigurationAdmin


@admin.register(Rule)
class RuleAdmin(ConfigurationAdmin):
    form = RuleForm
    agent_actions = READ_ONLY
    change_form_template = "admin/automation/rule/change_form.html"
    # What a rule did is in the event log (automation.rule_applied, on each ticket).
    list_display = ("name", "trigger", "is_active", "position", "version", "updated")
    list_filter = ("trigger", "is_active")
    list_editable = ()
    search_fields = ("name",)
    ordering = ("trigger", "position", "id")
    actions = ("enable_rules", "disable_rules")
    readonly_fields = (
        "version",
        "created_by",
        "created",
        "updated",
        "conditions_shown",
        "actions_shown",
    )
    service_fields = RULE_FIELDS
    fieldsets = (
        (None, {"fields": ("name", "description", "trigger", "is_active", "position")}),
        (
            gettext_lazy("Conditions and what happens"),
            {"fields": ("match", "stop_processing")},
        ),
        (
            gettext_lazy("Time rules"),
            {
                "fields": ("time_basis", "time_amount", "time_unit", "calendar"),
                "description": gettext_lazy(
                    "For the trigger “Time passed”: the rule acts on tickets whose chosen "
                    "instant lies more than this long ago (business units count the "
                    "calendar's working time)."
                ),
            },
        ),
        (gettext_lazy("Record"), {"fields": ("version", "created_by", "created", "updated")}),
    )

    class Media:
        js = ("automation/rules.js",)
        css = {"all": ("automation/rules.css",)}

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.fieldsets[:-1]  # no record yet
        if self.has_change_permission(request, obj):
            return self.fieldsets
        # Who only reads a rule sees its conditions and actions in words, not as rows.
        shown = (
            gettext_lazy("Conditions and actions"),
            {"fields": ("conditions_shown", "actions_shown")},
        )
        return (*self.fieldsets[:2], shown, *self.fieldsets[2:])

    # --- Saving through the services --------------------------------------------------
    def service_data(self, form: ModelForm, change: bool) -> dict[str, Any]:
        data = super().service_data(form, change)
        rows = form.rows_changed() if change else ["conditions", "actions"]  # type: ignore[attr-defined]
        data.update({kind: form.cleaned_data[kind] for kind in rows})
        return data

    def create_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.rule_create(actor=actor, data=data)

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        if not data:
            return obj
        return services.rule_update(rule=obj, actor=actor, data=data)

    def delete_with(self, obj: Any, actor: User) -> None:
        services.rule_delete(rule=obj, actor=actor)

    # --- The dry run ----------------------------------------------------------------------
    def render_change_form(  # noqa: PLR0917 -- Django's signature
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> TemplateResponse:
        form = context["adminform"].form
        dry_run = getattr(form, "dry_run", None)
        if dry_run is not None:
            context["dry_run"] = dry_run_html(dry_run)
        context["may_edit_rows"] = add or self.has_change_permission(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)  # type: ignore[return-value]

    # --- The list ---------------------------------------------------------------------------
    @admin.display(description=gettext_lazy("conditions"))
    def conditions_shown(self, obj: Rule) -> str:
        references = _references(obj)
        said = [_condition_html(c, references) for c in obj.conditions or []]
        if not said:
            return gettext("None: every ticket of the trigger.")
        return format_html_join("", "<div>{}</div>", ((line,) for line in said))

    @admin.display(description=gettext_lazy("actions"))
    def actions_shown(self, obj: Rule) -> str:
        references = _references(obj)
        said = [_action_html(a, references) for a in obj.actions or []]
        if not said:
            return gettext("None.")
        return format_html_join("", "<div>{}</div>", ((line,) for line in said))

    @admin.action(description=gettext_lazy("Enable the selected rules"))
    def enable_rules(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description=gettext_lazy("Disable the selected rules"))
    def disable_rules(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        self._set_active(request, queryset, False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Rule], active: bool) -> None:
        if not self.has_change_permission(request):
            self.message_user(request, gettext("Only admins can change rules."), messages.ERROR)
            return
        actor = signed_in_user(request)
        rows = [rule for rule in queryset if rule.is_active != active]
        done = bulk_apply(
            self,
            request,
            rows,
            lambda rule: services.rule_update(rule=rule, actor=actor, data={"is_active": active}),
            label=str,
            failed="Did not change",
            # English, as bulk_apply counts it ("2 rules"): the verbose name is translated.
            noun="rule",
        )
        if done:
            text = (
                ngettext("Enabled %(count)d rule.", "Enabled %(count)d rules.", done)
                if active
                else ngettext("Disabled %(count)d rule.", "Disabled %(count)d rules.", done)
            )
            self.message_user(request, text % {"count": done}, messages.SUCCESS)


def dry_run_html(result: DryRun) -> str:
    """ "Dry run: 42 of 1,250 tickets of the last 30 days would have matched", how they
    were judged, and links to the examples."""
    values = {
        "matched": number_format(result.matched, force_grouping=True),
        "examined": number_format(result.examined, force_grouping=True),
        "judged": number_format(result.judged, force_grouping=True),
        "days": result.days,
    }
    headline = (
        ngettext(
            "Dry run: %(matched)s of %(examined)s tickets of the last %(days)s day would have "
            "matched.",
            "Dry run: %(matched)s of %(examined)s tickets of the last %(days)s days would have "
            "matched.",
            result.days,
        )
        % values
    )
    notes = []
    if not result.in_sql:
        notes.append(
            gettext(
                "Some condition can only be judged ticket by ticket: only the newest "
                "%(judged)s candidates of the period were judged."
            )
            % values
            if result.limited
            else gettext("Some condition can only be judged ticket by ticket.")
        )
    if result.as_of is not None:
        notes.append(gettext("The time condition was applied as of now."))
    notes.append(gettext("Nothing was saved."))
    links = format_html_join(
        "",
        '<li><a href="{}">{}</a> {}</li>',
        (
            (reverse("admin:nixflow_ticket_change", args=[t.pk]), t.key, t.title)
            for t in result.examples
        ),
    )
    return format_html(
        '<div class="rule-dry-run" role="status"><p><strong>{}</strong> {}</p>{}</div>',
        headline,
        " ".join(notes),
        format_html('<ul class="rule-dry-run-examples">{}</ul>', links) if result.examples else "",
    )


# --- A rule in words ------------------------------------------------------------------------
# What an agent reads on a rule's page: the rows it names by their names, linked to their
# admin pages (``automation.references``), and fixed values by their labels.
CHOICE_LABELS: dict[str, dict[str, Any]] = {
    "priority": dict(Priority.choices),
    "stage_category": dict(StageCategory.choices),
    "channel": dict(Source.choices),
}
# An action's parameters by the names its row's fields give them.
PARAM_LABELS: dict[str, Any] = {
    key: ActionForm.base_fields[name].label
    for params in ACTION_PARAMS.values()
    for name, key in params
}


def _references(rule: Rule) -> References:
    """The rows ``rule`` names, read once for both of its lists on the page."""
    references = getattr(rule, "_references", None)
    if references is None:
        references = References(conditions=rule.conditions or [], actions=rule.actions or [])
        rule._references = references  # type: ignore[attr-defined]
    return references


def _yes_no(value: bool) -> str:
    return gettext("yes") if value else gettext("no")


def _value_html(field: str, value: Any, references: References) -> SafeString:
    kind = references.value_kind(field)
    if kind is not None and value is not None:
        return references.of(kind, value).html()
    if isinstance(value, bool):
        return format_html("{}", _yes_no(value))
    if value is None:
        return format_html("{}", gettext("none"))
    return format_html("{}", CHOICE_LABELS.get(field, {}).get(value, value))


def _field_label(field: str, references: References) -> Any:
    if not field.startswith(CUSTOM_PREFIX):
        return BUILT_IN_FIELDS.get(field, field)
    custom = references.field(field)
    if custom is not None:
        return custom.label
    return references.of("field", field[len(CUSTOM_PREFIX) :]).text


def _condition_html(condition: dict[str, Any], references: References) -> SafeString:
    field = str(condition.get("field", ""))
    op = str(condition.get("op", ""))
    label = _field_label(field, references)
    said = OPERATORS.get(op, op)
    if op in NO_VALUE:
        return format_html("{} {}", label, said)
    value = condition.get("value")
    values = value if isinstance(value, list) else [value]
    shown = format_html_join(", ", "{}", ((_value_html(field, v, references),) for v in values))
    return format_html("{} {} {}", label, said, shown)


# Action parameters whose values are fixed keys, said by their labels.
PARAM_VALUE_LABELS: dict[str, dict[str, Any]] = {
    "to": MAIL_RECIPIENTS,
    "priority": CHOICE_LABELS["priority"],
}


def _param_html(action: dict[str, Any], key: str, references: References) -> SafeString:
    value = action.get(key)
    if key in ACTION_KINDS:
        if value is None:
            return format_html("{}", gettext("nobody") if key == "assignee" else gettext("none"))
        return references.of(ACTION_KINDS[key], value).html()
    if key == "field":
        return format_html("{}", _field_label(CUSTOM_PREFIX + str(value), references))
    if key == "value" and action.get("type") == "set_field":
        field = CUSTOM_PREFIX + str(action.get("field", ""))
        values = value if isinstance(value, list) else [value]
        return format_html_join(", ", "{}", ((_value_html(field, v, references),) for v in values))
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return format_html("{}", PARAM_VALUE_LABELS.get(key, {}).get(text, text))


def _action_html(action: dict[str, Any], references: References) -> SafeString:
    kind = str(action.get("type", ""))
    title = ACTION_TYPES.get(kind, kind)
    keys = [k for k in action if k != "type" and not (k == "address" and not action[k])]
    if not keys:
        return format_html("{}", title)
    params = format_html_join(
        ", ",
        "{}: {}",
        ((PARAM_LABELS.get(k, k), _param_html(action, k, references)) for k in keys),
    )
    return format_html("{} ({})", title, params)


__all__ = ["RuleAdmin", "dry_run_html"]
