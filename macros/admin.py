"""Macros in the admin: each agent sees the macros they may use and changes those they
manage (their personal ones; a team's leads the team's; admins all), saved through the
services (one ``macro.*`` event each). The change page previews the body rendered with
example values, and says what applying it changes.

A bulk apply queued for the workers has a read-only page of its own, the one the
ticket list's action sends the agent to: it refreshes itself until the job is done, then
says how many tickets got the macro and lists the refusals with their reasons. Agents
see their own jobs, admins everyone's."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy, ngettext

from macros import sandbox, selectors, services, tools
from macros.models import EDITABLE_FIELDS, BulkApply, Macro, Scope
from nixflow.models import Team, User
from nixflow.toolkit.admin import EVERYTHING, READ_ONLY, RolePermissionsMixin
from nixflow.toolkit.auth import is_admin, signed_in_user
from nixflow.toolkit.config_admin import ConfigurationAdmin

FORM_FIELDS = EDITABLE_FIELDS


@admin.register(Macro)
class MacroAdmin(ConfigurationAdmin):
    agent_actions = EVERYTHING  # narrowed per macro by has_change/delete_permission
    list_display = (
        "name",
        "scope_column",
        "is_internal",
        "is_active",
        "usage_count",
        "last_used_at",
    )
    list_filter = ("scope", "is_active", "is_internal")
    search_fields = ("name",)
    ordering = ("name", "id")
    readonly_fields = ("preview", "changes_made", "usage_count", "last_used_at")
    autocomplete_fields = ()
    service_fields = FORM_FIELDS

    fieldsets = (
        (None, {"fields": ("name", "body", "is_internal", "is_active")}),
        (gettext_lazy("Who may use it"), {"fields": ("scope", "owner", "owner_team")}),
        (
            gettext_lazy("Changes when applied"),
            {
                "fields": (
                    "set_stage",
                    "set_priority",
                    "set_team",
                    "assignment",
                    "assignee",
                    "add_tags",
                    "remove_tags",
                )
            },
        ),
        (
            gettext_lazy("Preview and use"),
            {"fields": ("preview", "changes_made", "usage_count", "last_used_at")},
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Macro]:
        # Whoever is no agent (a requester made staff by mistake) must be refused by the
        # role permissions (403), not sent to the index as if the macro did not exist.
        user = signed_in_user(request)
        if not user.is_agent:
            return Macro.objects.all()
        return selectors.macros_visible(user=user)

    def _manages(self, request: HttpRequest, obj: Macro | None) -> bool:
        return obj is None or selectors.may_manage(
            user=signed_in_user(request),
            scope=obj.scope,
            owner_id=obj.owner_id,
            team_id=obj.owner_team_id,
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._manages(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if is_admin(request.user):
            return self.fieldsets
        # An agent's personal macros are their own: no owner to choose.
        return [
            (title, {"fields": tuple(f for f in opts["fields"] if f != "owner")})
            for title, opts in self.fieldsets
        ]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        user = signed_in_user(request)
        if "owner_team" in form.base_fields and not is_admin(user):
            form.base_fields["owner_team"].queryset = Team.objects.filter(  # type: ignore[attr-defined]
                memberships__user=user, memberships__is_lead=True
            )
        if "owner" in form.base_fields:
            form.base_fields["owner"].queryset = User.objects.filter(  # type: ignore[attr-defined]
                role__in=["agent", "admin"], is_active=True
            )
        return form

    def service_data(self, form: ModelForm, change: bool) -> dict[str, Any]:
        names = [n for n in self.service_fields if n in form.cleaned_data]
        data = {name: form.cleaned_data[name] for name in names}
        if change:
            data = {name: value for name, value in data.items() if name in form.changed_data}
        return data

    def create_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.macro_create(actor=actor, data=data)

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.macro_update(macro=obj, actor=actor, data=data)

    def delete_with(self, obj: Any, actor: User) -> None:
        services.macro_delete(macro=obj, actor=actor)

    @admin.display(description=gettext_lazy("scope"), ordering="scope")
    def scope_column(self, obj: Macro) -> str:
        return obj.scope_label

    @admin.display(description=gettext_lazy("preview (example values)"))
    def preview(self, obj: Macro) -> str:
        if obj.pk is None:
            return gettext("Saved macros show their body rendered here.")
        try:
            text = sandbox.render_body(obj.body, ticket=None, agent=obj.owner or obj.created_by)
        except ValidationError as error:
            return " ".join(error.messages)
        return format_html('<pre class="macro-preview">{}</pre>', text)

    @admin.display(description=gettext_lazy("applying it changes"))
    def changes_made(self, obj: Macro) -> str:
        said = tools.describe(obj) if obj.pk else []
        if not said:
            return gettext("Nothing but the reply.")
        return format_html_join("", "<div>{}</div>", ((line,) for line in said))


MAX_REFUSALS_SHOWN = 500


@admin.register(BulkApply)
class BulkApplyAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """A bulk apply's progress and outcome, read-only (the workers write it)."""

    agent_actions = admin_actions = READ_ONLY
    record_admin_events = False  # nothing is written here
    list_display = ("__str__", "actor", "created", "progress", "failed_count")
    list_select_related = ("actor",)
    ordering = ("-id",)
    fields = ("macro_name", "actor", "created", "progress", "finished_at", "refusals")
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[BulkApply]:
        user = signed_in_user(request)
        jobs = super().get_queryset(request).select_related("actor")
        return jobs if is_admin(user) or not user.is_agent else jobs.filter(actor=user)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        if job is not None and job.is_finished:
            self._tell_finished(request, job)
        return super().change_view(request, object_id, form_url, extra_context)

    def _tell_finished(self, request: HttpRequest, job: BulkApply) -> None:
        """The agent is told on the page the bulk action sent them to, which refreshes
        itself until this is true."""
        if job.done_count:
            self.message_user(
                request,
                ngettext(
                    "Done: the macro %(macro)r was applied to %(count)s ticket.",
                    "Done: the macro %(macro)r was applied to %(count)s tickets.",
                    job.done_count,
                )
                % {"macro": job.macro_name, "count": job.done_count},
                messages.SUCCESS,
            )
        if job.failed_count:
            self.message_user(
                request,
                ngettext(
                    "%(count)s ticket could not be changed: see below.",
                    "%(count)s tickets could not be changed: see below.",
                    job.failed_count,
                )
                % {"count": job.failed_count},
                messages.WARNING,
            )

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, obj: BulkApply) -> str:
        values = {
            "handled": obj.done_count + obj.failed_count,
            "total": obj.total,
            "done": obj.done_count,
            "failed": obj.failed_count,
        }
        if obj.is_finished:
            return (
                gettext("%(handled)s of %(total)s (%(done)s applied, %(failed)s refused), done")
                % values
            )
        return (
            gettext("%(handled)s of %(total)s (%(done)s applied, %(failed)s refused), applying…")
            % values
        )

    @admin.display(description=gettext_lazy("refused"))
    def refusals(self, obj: BulkApply) -> str:
        failures = obj.failures or []
        if not failures:
            return gettext("None.")
        shown = failures[:MAX_REFUSALS_SHOWN]
        rows = format_html_join(
            "", "<div>{}: {}</div>", ((f.get("ticket", ""), f.get("message", "")) for f in shown)
        )
        more = len(failures) - len(shown)
        return format_html(
            "{}{}", rows, gettext("and %(more)s more") % {"more": more} if more > 0 else ""
        )


__all__ = ["BulkApplyAdmin", "MacroAdmin", "Scope"]
