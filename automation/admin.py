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
from django.utils.translation import gettext, gettext_lazy, ngettext

from automation import services
from automation.dry_run import DryRun
from automation.forms import ACTION_TYPES, BUILT_IN_FIELDS, OPERATORS, RULE_FIELDS, RuleForm
from automation.models import Rule
from nixflow.models import User
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
        said = [_condition_words(c) for c in obj.conditions or []]
        if not said:
            return gettext("None: every ticket of the trigger.")
        return format_html_join("", "<div>{}</div>", ((line,) for line in said))

    @admin.display(description=gettext_lazy("actions"))
    def actions_shown(self, obj: Rule) -> str:
        said = [_action_words(a) for a in obj.actions or []]
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
            noun=str(Rule._meta.verbose_name),
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


def _condition_words(condition: dict[str, Any]) -> str:
    field = str(condition.get("field", ""))
    label = BUILT_IN_FIELDS.get(field, field)
    op = OPERATORS.get(str(condition.get("op", "")), condition.get("op", ""))
    value = condition.get("value")
    return f"{label} {op}" + ("" if value is None else f" {value}")


def _action_words(action: dict[str, Any]) -> str:
    kind = str(action.get("type", ""))
    params = ", ".join(f"{k}: {v}" for k, v in action.items() if k != "type")
    return f"{ACTION_TYPES.get(kind, kind)}" + (f" ({params})" if params else "")


__all__ = ["RuleAdmin", "dry_run_html"]
