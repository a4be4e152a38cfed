"""The workflow editor: stages and transitions inline, saved through the workflow
services as one change (one workflow.* event)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Exists, OuterRef, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy

from nixflow import services
from nixflow.forms import (
    StageChoiceField,
    StageInlineFormSet,
)
from nixflow.models import (
    Stage,
    Ticket,
    Transition,
    User,
    Workflow,
)
from nixflow.toolkit.admin import (
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    refusals_to_form,
    related_count,
)
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.changelist import CappedCount, capped_text
from nixflow.toolkit.config_admin import ServiceDeleteMixin


# --- Workflows ---------------------------------------------------------------------------
def _kept_rows(formset: BaseInlineFormSet) -> list[Any]:
    """The formset's forms that stay: existing rows not deleted, and filled-in new ones."""
    deleted = set(formset.deleted_forms)
    return [
        row
        for row in formset.forms
        if row not in deleted and (row.instance.pk is not None or row.has_changed())
    ]


def _stage_specs(
    formset: BaseInlineFormSet | None, *, always: bool = False
) -> list[services.StageSpec] | None:
    """The stages the editor's rows ask for; None when the rows changed nothing."""
    if formset is None or not (always or formset.has_changed()):
        return None
    return [
        services.StageSpec(
            name=row.cleaned_data["name"],
            category=row.cleaned_data["category"],
            position=row.cleaned_data["position"],
            id=row.instance.pk,
        )
        for row in _kept_rows(formset)
    ]


def _transition_specs(formset: BaseInlineFormSet | None) -> list[services.TransitionSpec] | None:
    if formset is None or not formset.has_changed():
        return None
    return [
        services.TransitionSpec(
            from_stage=row.cleaned_data["from_stage"].pk,
            to_stage=row.cleaned_data["to_stage"].pk,
            name=row.cleaned_data["name"],
            requester_allowed=row.cleaned_data["requester_allowed"],
        )
        for row in _kept_rows(formset)
    ]


def _note_saved_rows(formset: BaseInlineFormSet) -> None:
    """What formset.save() would have noted, for the admin's change message (its log
    entry); the services saved the rows."""
    deleted = set(formset.deleted_forms)
    formset.deleted_objects = [row.instance for row in formset.deleted_forms]
    formset.new_objects = [
        row.instance for row in formset.extra_forms if row not in deleted and row.has_changed()
    ]
    formset.changed_objects = [
        (row.instance, row.changed_data)
        for row in formset.initial_forms
        if row not in deleted and row.has_changed()
    ]


class StageInline(RolePermissionsMixin, admin.TabularInline):
    model = Stage
    formset = StageInlineFormSet
    fields = ("name", "category", "position")
    ordering = ("position",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Stage]:
        # Each row's caption is str(stage), which names the workflow.
        return super().get_queryset(request).select_related("workflow")

    def get_extra(self, request: HttpRequest, obj: Workflow | None = None, **kwargs: Any) -> int:
        return 3 if obj is None else 1


class TransitionInline(RolePermissionsMixin, admin.TabularInline):
    model = Transition
    fields = ("from_stage", "to_stage", "name", "requester_allowed")
    extra = 1

    def get_queryset(self, request: HttpRequest) -> QuerySet[Transition]:
        # Read-only rows print the stages, whose names include their workflow's.
        return (
            super()
            .get_queryset(request)
            .select_related("from_stage__workflow", "to_stage__workflow")
        )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name in {"from_stage", "to_stage"}:
            # Only this workflow's stages: the inline has no other way to know the
            # workflow than the URL of the page it is on.
            match = request.resolver_match
            object_id = unquote(match.kwargs.get("object_id") or "") if match else ""
            stages = Stage.objects.order_by("position")
            kwargs["queryset"] = (
                stages.filter(workflow_id=object_id) if object_id.isdigit() else stages.none()
            )
            kwargs["form_class"] = StageChoiceField
            # With a form_class, never None (the stubs allow None for no field at all).
            field = cast(
                StageChoiceField, super().formfield_for_foreignkey(db_field, request, **kwargs)
            )
            # Every row offers the same stages: query them once per page, not once per
            # row and column (a list of choices survives the copy each form makes).
            # iter(): no COUNT for len(). The ignore: the stubs type reading choices as
            # everything assignable to it; a ModelChoiceField reads its ModelChoiceIterator.
            field.choices = list(iter(field.choices))  # type: ignore[arg-type]
            return field
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


TICKET_COUNT_CAP = 10_000


@admin.register(Workflow)
class WorkflowAdmin(
    ServiceDeleteMixin, ServiceFormAdminMixin, RolePermissionsMixin, admin.ModelAdmin
):
    """The workflow editor: stages and transitions inline; admins only change it."""

    list_display = (
        "name",
        "is_default",
        "is_active",
        "stage_count",
        "transition_count",
        "ticket_count",
    )
    list_filter = ("is_active",)
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Workflow]:
        # A handful of workflows; the ticket count reads at most TICKET_COUNT_CAP + 1
        # entries of nf_ticket_workflow_created per workflow (an exact count of the
        # default workflow's 750,000 tickets took 0.4 s).
        return (
            super()
            .get_queryset(request)
            .annotate(
                stage_count=related_count(Stage.objects.all(), "workflow"),
                transition_count=related_count(Transition.objects.all(), "workflow"),
                ticket_count=CappedCount(Ticket.objects.all(), "workflow", cap=TICKET_COUNT_CAP),
            )
        )

    @admin.display(description=gettext_lazy("stages"), ordering="stage_count")
    def stage_count(self, workflow: Workflow) -> int:
        return workflow.stage_count  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("transitions"), ordering="transition_count")
    def transition_count(self, workflow: Workflow) -> int:
        return workflow.transition_count  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("tickets"), ordering="ticket_count")
    def ticket_count(self, workflow: Workflow) -> str:
        return capped_text(workflow.ticket_count, TICKET_COUNT_CAP)  # type: ignore[attr-defined]

    def get_fieldsets(self, request: HttpRequest, obj: Workflow | None = None) -> Any:
        fields = ("name", "description", "is_default", "is_active")
        if obj is not None:
            return [(None, {"fields": fields})]
        # Transitions join stages that must exist first.
        description = gettext(
            "Add the stages below and save; then add the transitions between them. "
            "New tickets start in the stage with the lowest position."
        )
        return [(None, {"fields": fields, "description": description})]

    def get_inlines(self, request: HttpRequest, obj: Workflow | None) -> list[type[Any]]:
        return [StageInline] if obj is None else [StageInline, TransitionInline]

    # --- saving through the workflow services ----------------------------------------
    # The workflow, its stages and its transitions are one change for the services (one
    # workflow.* event), so save_model only keeps the form and save_related, which has
    # the inline formsets too, makes the whole change.
    record_admin_events = False  # the workflow services record their own events

    def save_model(
        self, request: HttpRequest, obj: Workflow, form: ModelForm, change: bool
    ) -> None:
        pass

    def save_related(
        self,
        request: HttpRequest,
        form: ModelForm,
        formsets: list[BaseInlineFormSet],
        change: bool,
    ) -> None:
        by_model = {formset.model: formset for formset in formsets}
        stages = by_model.get(Stage)
        transitions = by_model.get(Transition)
        data = {name: form.cleaned_data[name] for name in services.WORKFLOW_FIELDS}
        actor = signed_in_user(request)
        with refusals_to_form():
            if change:
                services.workflow_update(
                    workflow=form.instance,
                    actor=actor,
                    data={name: data[name] for name in form.changed_data if name in data},
                    stages=_stage_specs(stages),
                    transitions=_transition_specs(transitions),
                )
            else:
                workflow = services.workflow_create(
                    actor=actor,
                    stages=_stage_specs(stages, always=True) or [],
                    transitions=_transition_specs(transitions) or [],
                    **data,
                )
                # The admin carries on with the form's instance (its log entry, the
                # redirect): make it the row the service created.
                for model_field in Workflow._meta.concrete_fields:
                    setattr(
                        form.instance, model_field.attname, getattr(workflow, model_field.attname)
                    )
                form.instance._state.adding = False
                form.instance._state.db = workflow._state.db
        for formset in formsets:
            _note_saved_rows(formset)

    def delete_with(self, obj: Workflow, actor: User) -> None:
        # get_deleted_objects refuses a workflow in use (tickets, or configuration that
        # PROTECTs it) before the confirmation page; one that came in use since is
        # refused by the service and shown as a message (ServiceDeleteMixin).
        services.workflow_delete(workflow=obj, actor=actor)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """A workflow with tickets can't be deleted (PROTECT). Say so without collecting
        its tickets, which Django's confirmation page would list one by one."""
        pks = [workflow.pk for workflow in objs]
        in_use = Workflow.objects.filter(pk__in=pks).filter(
            Exists(Ticket.objects.filter(workflow=OuterRef("pk")))
        )
        protected = [
            gettext("%(workflow)s: it has tickets (deactivate it instead)")
            % {"workflow": workflow.name}
            for workflow in in_use
        ]
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)
