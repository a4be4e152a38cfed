"""The staff UI: agents work tickets here; admins also design workflows and manage users.

Who may do what follows the user's role (agents are staff without Django permission
rows), and every change to a ticket goes through nixflow.services, as the API's do, so
that history and events are written whichever interface made the change.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal

from nixflow import services
from nixflow.forms import (
    CommentAddForm,
    StageChoiceField,
    StageInlineFormSet,
    TicketActionForm,
    TicketAddForm,
    TicketChangeForm,
)
from nixflow.models import (
    Comment,
    HistoryLog,
    Role,
    Source,
    Stage,
    Ticket,
    TicketWatcher,
    Transition,
    User,
    Workflow,
)
from nixflow.toolkit import panels
from nixflow.toolkit.admin import (
    ADD,
    CHANGE,
    DELETE,
    EVERYTHING,
    VIEW,
    ReadOnlyInline,
    RecordAdmin,
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    bulk_apply,
    plural,
    refusals_to_form,
    related_count,
)
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.config_admin import ServiceDeleteMixin

_RECORDED_BY_SERVICE = "_nixflow_recorded_by_service"


# --- Users -------------------------------------------------------------------------------
@admin.register(User)
class UserAdmin(ServiceFormAdminMixin, RolePermissionsMixin, DjangoUserAdmin):
    """Agents look people up (requesters, colleagues); only admins change them."""

    list_display = ("username", "email", "role", "is_staff", "is_active", "last_login")
    list_filter = ("role", "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "email", "first_name", "last_name")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,  # type: ignore[misc]  # set on the class; the stubs allow None
        ("Service desk", {"fields": ("role",)}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Service desk", {"fields": ("email", "role")}),
    )
    # What only a superuser may grant: superuser status, and Django's permission rows
    # (which third-party admin pages such as django-celery-beat's go by). A role admin
    # manages roles; otherwise an admin could make anyone, themselves included, a
    # superuser.
    superuser_only_fields = ("is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, *self.superuser_only_fields)

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        """A new user is made by ``services.user_create`` (``user.created``); a change of
        e-mail address, name, role or active state goes through ``services.user_update``
        (``user.updated``). The rest (username, password, superuser status, groups) is
        saved here and recorded as ``admin.changed``, as for any model without services."""
        if not change:
            self._create(request, obj, form)
            return
        by_service = [name for name in form.changed_data if name in services.USER_FIELDS]
        if not by_service:
            super().save_model(request, obj, form, change)
            return
        rest = [name for name in form.changed_data if name not in services.USER_FIELDS]
        fresh = User.objects.get(pk=obj.pk)
        with refusals_to_form():
            updated = services.user_update(
                user=fresh,
                actor=signed_in_user(request),
                data={name: form.cleaned_data[name] for name in by_service},
            )
        obj.is_staff = updated.is_staff
        if rest:
            super().save_model(request, obj, form, change)
        else:
            setattr(request, _RECORDED_BY_SERVICE, True)

    def _create(self, request: HttpRequest, obj: User, form: ModelForm) -> None:
        data = form.cleaned_data
        with refusals_to_form():
            user = services.user_create(
                username=data["username"],
                email=data.get("email", ""),
                role=data.get("role", Role.REQUESTER),
                # Empty when the admin chose "password-based authentication: disabled".
                password=data.get("password1") or None,
                actor=signed_in_user(request),
            )
        # The admin carries on with the form's instance (its log entry, the redirect).
        for field in User._meta.concrete_fields:
            setattr(obj, field.attname, getattr(user, field.attname))
        obj._state.adding = False
        obj._state.db = user._state.db
        setattr(request, _RECORDED_BY_SERVICE, True)

    def _record_admin_event(
        self, request: HttpRequest, type: str, obj: Model, payload: dict[str, Any]
    ) -> None:
        if not getattr(request, _RECORDED_BY_SERVICE, False):
            super()._record_admin_event(request, type, obj, payload)

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        """A superuser's account (details, password, activity) is a superuser's to change."""
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


# --- Tickets -----------------------------------------------------------------------------
class AgentListFilter(admin.RelatedFieldListFilter):
    """Assignee choices: agents and admins (including deactivated ones, whose tickets
    still need finding), not every requester in the user table."""

    # The values are primary keys, which the stubs' return type has as str.
    def field_choices(  # type: ignore[override]
        self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[Any, str]]:
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False,
            ordering=ordering,
            limit_choices_to={"role__in": [Role.AGENT, Role.ADMIN]},
        )


class AssignmentFilter(admin.SimpleListFilter):
    title = "assignment"
    parameter_name = "assignment"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("mine", "Assigned to me"), ("unassigned", "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.value() == "mine":
            return queryset.filter(assignee=signed_in_user(request))
        if self.value() == "unassigned":
            return queryset.filter(assignee__isnull=True)
        return queryset


class WatcherInline(RolePermissionsMixin, admin.TabularInline):
    """Adding a row watches, deleting one unwatches (TicketAdmin.save_formset)."""

    model = TicketWatcher
    fields = ("user", "created")
    readonly_fields = ("created",)
    autocomplete_fields = ("user",)
    extra = 0
    agent_actions = admin_actions = frozenset({VIEW, ADD, DELETE})

    def get_queryset(self, request: HttpRequest) -> QuerySet[TicketWatcher]:
        # Each row's caption is str(row), which names the ticket.
        return super().get_queryset(request).select_related("ticket", "user")


class CommentInline(ReadOnlyInline):
    """The conversation, read-only: a comment once sent is part of the record."""

    model = Comment
    fields = ("created", "author", "is_internal", "body", "files")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Comment]:
        return (
            super()
            .get_queryset(request)
            .select_related("ticket", "author")
            .prefetch_related("attachments")
        )

    @admin.display(description="attachments")
    def files(self, comment: Comment) -> SafeString | str:
        """Links to the API's download, which checks who may read the file (the admin's
        session signs the agent in there); MEDIA_URL is not served, on purpose."""
        key = comment.ticket.key
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (
                    reverse("ticket-attachment", kwargs={"key": key, "attachment_id": a.pk}),
                    a.filename,
                )
                for a in comment.attachments.all()
            ),
        )


class NewCommentInline(RolePermissionsMixin, admin.StackedInline):
    """One empty comment form, saved through services.comment_create."""

    model = Comment
    form = CommentAddForm
    fields = ("body", "is_internal", "attachments")
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name = "new comment"
    verbose_name_plural = "add a comment"
    agent_actions = admin_actions = frozenset({VIEW, ADD})

    def get_queryset(self, request: HttpRequest) -> QuerySet[Comment]:
        return super().get_queryset(request).none()


class HistoryInline(ReadOnlyInline):
    """The audit trail: nobody edits or deletes it."""

    model = HistoryLog
    fields = ("created", "actor", "field", "old_value", "new_value")

    def get_queryset(self, request: HttpRequest) -> QuerySet[HistoryLog]:
        return super().get_queryset(request).select_related("ticket", "actor")


TICKET_READONLY_ON_CHANGE = (
    "key",
    "requester",
    "workflow",
    "source",
    "created",
    "updated",
    "first_response_at",
    "resolved_at",
    "closed_at",
)


@admin.register(Ticket)
class TicketAdmin(ServiceFormAdminMixin, RolePermissionsMixin, admin.ModelAdmin):
    """The agents' desk. Nothing here saves a ticket itself: see save_model."""

    agent_actions = admin_actions = frozenset({VIEW, ADD, CHANGE})
    # Deleting a ticket takes its history with it: superusers only (mistakes, spam).
    superuser_actions = EVERYTHING
    record_admin_events = False  # the ticket services record every change themselves

    list_display = (
        "key",
        "title",
        "stage_and_category",
        "priority",
        "requester",
        "assignee",
        "created",
        "updated",
        "first_response_at",
    )
    list_display_links = ("key", "title")
    # One query for the page's rows whatever their number.
    list_select_related = ("stage", "requester", "assignee")
    list_filter = (
        "stage__category",
        "priority",
        ("assignee", AgentListFilter),
        AssignmentFilter,
        "workflow",
        "source",
    )
    # Sorting a million rows is only cheap along an index: the primary key (key),
    # nf_ticket_created and nf_ticket_updated.
    sortable_by = ("key", "created", "updated")
    ordering = ("-created",)
    # Listed for the search box; get_search_results does the searching.
    search_fields = ("title", "description", "requester__username", "requester__email")
    search_help_text = (
        "A key (NF-12), or words of the title or description, "
        "or the requester's username or e-mail address."
    )
    # The paginator still counts the filtered rows once; this avoids a second count of
    # the whole table on every page view.
    show_full_result_count = False
    autocomplete_fields = ("requester",)
    actions = ("assign_to_me", "move_to_stage")
    action_form = TicketActionForm

    # --- list ---------------------------------------------------------------------------
    @admin.display(description="key", ordering="id")
    def key(self, ticket: Ticket) -> str:
        return ticket.key

    @admin.display(description="stage")
    def stage_and_category(self, ticket: Ticket) -> str:
        return f"{ticket.stage.name} ({ticket.stage.get_category_display()})"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Ticket], search_term: str
    ) -> tuple[QuerySet[Ticket], bool]:
        """A key finds its ticket; otherwise every word must be in the title or the
        description (trigram indexes serve both) or be the requester's username or
        e-mail address. The requester test is a semi-join on requester_id rather than
        an OR across a join, so that PostgreSQL can combine the three indexes."""
        number = Ticket.number_from_key(search_term.strip())
        if number is not None:
            return queryset.filter(pk=number), False
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)  # noqa: PLW2901 -- as Django's own search
            people = User.objects.filter(Q(username__iexact=bit) | Q(email__iexact=bit))
            queryset = queryset.filter(
                Q(title__icontains=bit) | Q(description__icontains=bit) | Q(requester__in=people)
            )
        return queryset, False

    # --- actions ------------------------------------------------------------------------
    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        me = signed_in_user(request)
        tickets = list(queryset.order_by("pk"))
        todo = [ticket for ticket in tickets if ticket.assignee_id != me.pk]
        assigned = bulk_apply(
            self,
            request,
            todo,
            lambda ticket: services.ticket_assign(ticket=ticket, assignee=me, actor=me),
            label=lambda ticket: ticket.key,
            failed="Could not assign",
        )
        if assigned:
            self.message_user(request, f"Assigned {plural(assigned, 'ticket')} to you.")
        if already := len(tickets) - len(todo):
            self.message_user(request, f"{plural(already, 'ticket')} already yours.", messages.INFO)

    @admin.action(
        description="Move to stage (choose it next to the action)", permissions=["change"]
    )
    def move_to_stage(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        try:
            stage = self.action_form.base_fields["to_stage"].clean(request.POST.get("to_stage"))
        except ValidationError:
            stage = None
        if stage is None:
            self.message_user(request, "Choose the stage to move the tickets to.", messages.WARNING)
            return
        actor = signed_in_user(request)
        tickets = list(queryset.order_by("pk"))
        todo = [ticket for ticket in tickets if ticket.stage_id != stage.pk]
        moved = bulk_apply(
            self,
            request,
            todo,
            lambda ticket: services.ticket_transition(ticket=ticket, to_stage=stage, actor=actor),
            label=lambda ticket: ticket.key,
            failed="Could not move",
        )
        if moved:
            self.message_user(request, f"Moved {plural(moved, 'ticket')} to {stage.name}.")
        if already := len(tickets) - len(todo):
            self.message_user(
                request, f"{plural(already, 'ticket')} already in {stage.name}.", messages.INFO
            )

    # --- the ticket page ----------------------------------------------------------------
    def get_fieldsets(self, request: HttpRequest, obj: Ticket | None = None) -> Any:
        if obj is None:
            return [
                (None, {"fields": ("title", "description", "priority")}),
                ("People and process", {"fields": ("requester", "assignee", "workflow")}),
            ]
        return [
            (None, {"fields": ("key", "title", "description")}),
            ("Work", {"fields": ("stage", "priority", "assignee")}),
            ("Details", {"fields": TICKET_READONLY_ON_CHANGE[1:]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Ticket | None = None) -> Any:
        return () if obj is None else TICKET_READONLY_ON_CHANGE

    def get_form(
        self, request: HttpRequest, obj: Ticket | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        kwargs["form"] = TicketAddForm if obj is None else TicketChangeForm
        return super().get_form(request, obj, change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Ticket | None) -> list[type[Any]]:
        if obj is None:
            return []
        return [WatcherInline, CommentInline, NewCommentInline, HistoryInline]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "assignee":
            kwargs["queryset"] = User.objects.filter(
                is_active=True, role__in=[Role.AGENT, Role.ADMIN]
            ).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Ticket, form: ModelForm, change: bool) -> None:
        """Everything through the services, which lock the row, write history and publish
        events. ``obj`` carries the form's values but is never saved itself."""
        data, actor = form.cleaned_data, signed_in_user(request)
        with refusals_to_form():
            if not change:
                ticket = services.ticket_create(
                    requester=data["requester"],
                    title=data["title"],
                    description=data["description"],
                    priority=data["priority"],
                    workflow=data["workflow"],
                    assignee=data["assignee"],
                    source=Source.WEB,
                    actor=actor,
                )
                # The admin carries on with the form's instance (inlines, its log entry,
                # the redirect): make it the row the service created.
                for field in Ticket._meta.concrete_fields:
                    setattr(obj, field.attname, getattr(ticket, field.attname))
                obj._state.adding = False
                obj._state.db = ticket._state.db
                return
            own_fields = {
                name: data[name]
                for name in ("title", "description", "priority")
                if name in form.changed_data
            }
            if own_fields:
                services.ticket_update(ticket=obj, actor=actor, data=own_fields)
            if "assignee" in form.changed_data:
                services.ticket_assign(ticket=obj, assignee=data["assignee"], actor=actor)
            if "stage" in form.changed_data:
                services.ticket_transition(ticket=obj, to_stage=data["stage"], actor=actor)

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        # What formset.save() would have recorded, for the admin's change message.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        ticket = form.instance
        if formset.model is Comment:
            # The read-only conversation has no new rows; the "add a comment" form may.
            for row in formset.extra_forms:
                if not row.has_changed():
                    continue
                with refusals_to_form("Comment"):
                    comment = services.comment_create(
                        ticket=ticket,
                        author=signed_in_user(request),
                        body=row.cleaned_data["body"],
                        is_internal=row.cleaned_data["is_internal"],
                        attachments=row.cleaned_data["attachments"],
                    )
                formset.new_objects.append(comment)
        elif formset.model is TicketWatcher:
            deleted = formset.deleted_forms
            for row in deleted:
                with refusals_to_form("Watchers"):
                    services.ticket_unwatch(
                        ticket=ticket, user=row.instance.user, actor=signed_in_user(request)
                    )
                formset.deleted_objects.append(row.instance)
            for row in formset.extra_forms:
                if row in deleted or not row.has_changed():
                    continue
                with refusals_to_form("Watchers"):
                    watcher = services.ticket_watch(
                        ticket=ticket, user=row.cleaned_data["user"], actor=signed_in_user(request)
                    )
                formset.new_objects.append(watcher)
        elif formset.model is not HistoryLog:  # history is read-only
            raise NotImplementedError(f"No service saves {formset.model.__name__} rows.")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        ticket = self.get_object(request, unquote(object_id))
        if ticket is not None and self.has_view_or_change_permission(request, ticket):
            extra_context = {
                **(extra_context or {}),
                "ticket_panels": panels.render_ticket_panels(request, ticket),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_model(self, request: HttpRequest, obj: Ticket) -> None:
        services.ticket_delete(ticket=obj, actor=signed_in_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        with transaction.atomic():
            for ticket in queryset:
                services.ticket_delete(ticket=ticket, actor=signed_in_user(request))

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        to_delete, model_count, _, protected = super().get_deleted_objects(objs, request)
        # A ticket takes its conversation, watchers, history and whatever feature apps
        # keep about it (SLA clocks, ...) with it. Nobody deletes those rows one by one,
        # but whoever may delete the ticket (a superuser) may delete them with it; rows
        # that PROTECT the ticket still stop the deletion.
        return to_delete, model_count, set(), protected


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
        # A handful of workflows; the ticket count is an index-only count per workflow
        # on nf_ticket_workflow_created.
        return (
            super()
            .get_queryset(request)
            .annotate(
                stage_count=related_count(Stage.objects.all(), "workflow"),
                transition_count=related_count(Transition.objects.all(), "workflow"),
                ticket_count=related_count(Ticket.objects.all(), "workflow"),
            )
        )

    @admin.display(description="stages", ordering="stage_count")
    def stage_count(self, workflow: Workflow) -> int:
        return workflow.stage_count  # type: ignore[attr-defined]

    @admin.display(description="transitions", ordering="transition_count")
    def transition_count(self, workflow: Workflow) -> int:
        return workflow.transition_count  # type: ignore[attr-defined]

    @admin.display(description="tickets", ordering="ticket_count")
    def ticket_count(self, workflow: Workflow) -> int:
        return workflow.ticket_count  # type: ignore[attr-defined]

    def get_fieldsets(self, request: HttpRequest, obj: Workflow | None = None) -> Any:
        fields = ("name", "description", "is_default", "is_active")
        if obj is not None:
            return [(None, {"fields": fields})]
        # Transitions join stages that must exist first.
        description = (
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
            f"{workflow.name}: it has tickets (deactivate it instead)" for workflow in in_use
        ]
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)


@admin.register(Comment)
class CommentAdmin(RecordAdmin):
    list_display = ("id", "ticket_key", "author", "is_internal", "created", "excerpt")
    list_select_related = ("author",)
    list_filter = ("is_internal",)

    @admin.display(description="body")
    def excerpt(self, comment: Comment) -> str:
        return comment.body if len(comment.body) <= 80 else comment.body[:79] + "…"


@admin.register(HistoryLog)
class HistoryLogAdmin(RecordAdmin):
    list_display = ("created", "ticket_key", "actor", "field", "old_value", "new_value")
    list_select_related = ("actor",)


# --- Beat's schedules --------------------------------------------------------------------
# The PeriodicTasks that run the desk (SLA monitor, mail polling, event sealing, ...) are
# the desk's admins' to pause and reschedule, and none of the agents' business.
# django-celery-beat's admin classes go by Django's permission rows, which roles don't
# use, so they are registered again with the roles' permissions. Importing its admin
# module here registers its classes first, whatever the order of autodiscovery.
def _beat_admins() -> None:
    from django_celery_beat import admin as beat_admin
    from django_celery_beat import models as beat_models

    for model, model_admin in (
        (beat_models.PeriodicTask, beat_admin.PeriodicTaskAdmin),
        (beat_models.IntervalSchedule, beat_admin.IntervalScheduleAdmin),
        (beat_models.CrontabSchedule, beat_admin.CrontabScheduleAdmin),
        (beat_models.SolarSchedule, beat_admin.SolarScheduleAdmin),
        (beat_models.ClockedSchedule, beat_admin.ClockedScheduleAdmin),
    ):
        if admin.site.is_registered(model):
            admin.site.unregister(model)
        with_roles = type(
            model_admin.__name__,
            (RolePermissionsMixin, model_admin),
            {"__module__": __name__, "agent_actions": frozenset()},
        )
        admin.site.register(model, with_roles)


_beat_admins()
