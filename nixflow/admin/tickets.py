"""The agents' desk: the ticket list and the ticket page. Nothing here saves a ticket
itself; every change goes through nixflow.services, as the API's do."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from nixflow import services
from nixflow.admin.desk import QueueFilter
from nixflow.admin.tags import TagListFilter, tag_action
from nixflow.admin.ticket_list import TicketListMixin
from nixflow.admin.ticket_search import AgentListFilter, StageCategoryFilter, search_tickets
from nixflow.forms import (
    CommentAddForm,
    TicketActionForm,
    TicketAddForm,
    TicketChangeForm,
)
from nixflow.models import (
    Comment,
    HistoryLog,
    Role,
    Source,
    Ticket,
    TicketWatcher,
    User,
)
from nixflow.toolkit import panels, ticket_actions
from nixflow.toolkit.admin import (
    ADD,
    CHANGE,
    DELETE,
    EVERYTHING,
    VIEW,
    ReadOnlyInline,
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    bulk_apply,
    plural,
    refusals_to_form,
)
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.changelist import FastListAdmin
from nixflow.toolkit.formats import NO_VALUE, format_datetime
from nixflow.toolkit.ticket_columns import registered_filter


# --- Tickets -----------------------------------------------------------------------------
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
    fields = ("created", "actor", "field", "old", "new")

    def get_queryset(self, request: HttpRequest) -> QuerySet[HistoryLog]:
        return super().get_queryset(request).select_related("ticket", "actor")

    @admin.display(description="old value")
    def old(self, row: HistoryLog) -> str:
        return shown_value(row.old_value)

    @admin.display(description="new value")
    def new(self, row: HistoryLog) -> str:
        return shown_value(row.new_value)


def shown_value(value: str) -> str:
    """A history value as the admin shows dates: the services record times as ISO text
    (first response, resolved, closed), which reads "7 Dec 2026, 14:05" here, in the
    viewer's time zone, like every other date of the admin."""
    if len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value or NO_VALUE
        if moment.tzinfo is not None:
            return format_datetime(moment)
    return value or NO_VALUE


TICKET_READONLY_ON_CHANGE = (
    "key",
    "requester_card",  # name and e-mail address (TicketListMixin)
    "workflow",
    "source",
    "created",
    "updated",
    "first_response_at",
    "resolved_at",
    "closed_at",
)


@admin.register(Ticket)
class TicketAdmin(
    TicketListMixin, FastListAdmin, ServiceFormAdminMixin, RolePermissionsMixin, admin.ModelAdmin
):
    """The agents' desk. Nothing here saves a ticket itself: see save_model."""

    class Media:
        # The fast list's pager and the ticket list's columns (TicketListMixin).
        css = {"all": ("nixflow/admin/changelist.css", "nixflow/admin/ticket_list.css")}

    agent_actions = admin_actions = frozenset({VIEW, ADD, CHANGE})
    # Deleting a ticket takes its history with it: superusers only (mistakes, spam).
    superuser_actions = EVERYTHING
    record_admin_events = False  # the ticket services record every change themselves

    # The columns, their look and how they sort: TicketListMixin (nixflow.admin.ticket_list).
    # One query for the page's rows whatever their number.
    list_select_related = ("stage", "requester", "assignee")
    list_filter = (
        QueueFilter,  # ?queue=<slug>: the desk's queue links (nixflow.admin.desk)
        StageCategoryFilter,
        "priority",
        ("assignee", AgentListFilter),
        AssignmentFilter,
        registered_filter("sla"),  # SLA state, when the sla app registers it
        TagListFilter,  # ?tag=<id> (nixflow.admin.tags)
        "workflow",
        "source",
    )
    # Listed for the search box; get_search_results does the searching.
    search_fields = ("title", "description", "requester__username", "requester__email")
    search_help_text = (
        "A key (NF-12), or words: each must be in the title or description, or be the "
        "requester's username, e-mail address, first or last name."
    )
    autocomplete_fields = ("requester",)
    actions = ("assign_to_me", "move_to_stage", "add_tags", "remove_tags")

    @property
    def action_form(self) -> type[ActionForm]:
        """The action bar, with the inputs feature apps' actions need."""
        return ticket_actions.action_form(TicketActionForm)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """The core's actions and those feature apps registered, for agents who may
        change tickets."""
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            for action in ticket_actions.ticket_actions():
                actions[action.name] = (action.run, action.name, action.description)  # type: ignore[assignment]
        return actions

    # --- list ---------------------------------------------------------------------------
    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Ticket], search_term: str
    ) -> tuple[QuerySet[Ticket], bool]:
        """A key, or words AND-ed, each served by an index (nixflow.admin.ticket_search)."""
        return search_tickets(queryset, search_term), False

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

    @admin.action(description="Add tags (type them next to the action)", permissions=["change"])
    def add_tags(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        tag_action(self, request, queryset, services.ticket_tag_add, done="Tagged")

    @admin.action(description="Remove tags (type them next to the action)", permissions=["change"])
    def remove_tags(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        tag_action(self, request, queryset, services.ticket_tag_remove, done="Untagged")

    # --- the ticket page ----------------------------------------------------------------
    def get_fieldsets(self, request: HttpRequest, obj: Ticket | None = None) -> Any:
        if obj is None:
            return [
                (None, {"fields": ("title", "description", "priority")}),
                ("People and process", {"fields": ("requester", "assignee", "workflow")}),
            ]
        return [
            (None, {"fields": ("key", "title", "description")}),
            (
                "Work",
                {
                    "fields": (
                        "stage",
                        "priority",
                        "team",
                        "assignee",
                        "tag_names",
                        "requester_card",
                    )
                },
            ),
            # Folded (a <details> element, no script): the SLA clocks panel follows the
            # fieldsets, and should be in sight without scrolling past dates.
            ("Details", {"fields": TICKET_READONLY_ON_CHANGE[2:], "classes": ("collapse",)}),
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
            if "team" in form.changed_data:  # before the assignee: a new team may assign
                services.ticket_set_team(ticket=obj, team=data["team"], actor=actor)
            if "assignee" in form.changed_data:
                services.ticket_assign(ticket=obj, assignee=data["assignee"], actor=actor)
            if "stage" in form.changed_data:
                services.ticket_transition(ticket=obj, to_stage=data["stage"], actor=actor)
            if "tag_names" in form.changed_data:
                services.ticket_tags_set(ticket=obj, tags=data["tag_names"], actor=actor)

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
