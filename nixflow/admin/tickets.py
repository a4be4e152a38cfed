"""The agents' desk: the ticket list and the ticket page. Nothing here saves a ticket
itself; every change goes through nixflow.services, as the API's do."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import path, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext

from nixflow import services
from nixflow.admin.desk import QueueFilter
from nixflow.admin.fields import (
    NewTicketFieldsMixin,
    changed_values,
    new_ticket_fields,
    ticket_form_fields,
    with_custom_fields,
    with_new_ticket_fields,
)
from nixflow.admin.tags import TagListFilter, tag_action, tagged_message, untagged_message
from nixflow.admin.ticket_list import TicketListMixin
from nixflow.admin.ticket_search import AgentListFilter, StageCategoryFilter, search_tickets
from nixflow.forms import (
    INTERNAL,
    PUBLIC,
    ReplyComposerForm,
    TicketActionForm,
    TicketAddForm,
    TicketChangeForm,
)
from nixflow.models import (
    Comment,
    HistoryLog,
    Priority,
    Role,
    Source,
    Stage,
    StageCategory,
    Ticket,
    TicketWatcher,
    User,
)
from nixflow.services import replies
from nixflow.toolkit import panels, ticket_actions
from nixflow.toolkit.admin import (
    ADD,
    CHANGE,
    DELETE,
    EVERYTHING,
    VIEW,
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    bulk_apply,
    refusals_to_form,
)
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.changelist import FastListAdmin
from nixflow.toolkit.composer import ComposerTool, composer_tool, composer_tools
from nixflow.toolkit.errors import error_text
from nixflow.toolkit.formats import NO_VALUE, format_datetime
from nixflow.toolkit.ticket_columns import registered_filter

logger = logging.getLogger(__name__)


# --- Tickets -----------------------------------------------------------------------------
class AssignmentFilter(admin.SimpleListFilter):
    title = gettext_lazy("assignment")
    parameter_name = "assignment"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("mine", gettext("Assigned to me")), ("unassigned", gettext("Unassigned"))]

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


# --- The conversation and the reply composer ---------------------------------------------
# The page shows the ticket's comments and its main changes as one timeline, and after it
# a composer: its own <form id="reply-composer"> (outside the ticket's form, which it
# cannot be nested in), posted to TicketAdmin.reply_view. Without JavaScript every button
# is a plain submit; nixflow/static/nixflow/admin/composer.js inserts drafts in place.
NEWEST_FIRST = "nixflow.timeline_newest_first"  # in the session: the agent's preference
SYSTEM_FIELDS = ("ticket", "stage", "assignee", "team", "priority", "tags")


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # "public", "internal" or "system"
    created: datetime
    when: str  # in the viewer's time zone and format (nixflow.toolkit.formats)
    who: str
    text: str
    files: tuple[tuple[str, str], ...] = ()  # (download URL, file name)
    comment_id: int | None = None


def person(user: User | None) -> str:
    if user is None:
        return gettext("System")
    return user.get_full_name() or user.get_username()


def _comment_entry(comment: Comment, key: str) -> TimelineEntry:
    files = tuple(
        (reverse("ticket-attachment", kwargs={"key": key, "attachment_id": a.pk}), a.filename)
        for a in comment.attachments.all()
    )
    return TimelineEntry(
        kind="internal" if comment.is_internal else "public",
        created=comment.created,
        when=format_datetime(comment.created),
        who=person(comment.author),
        text=comment.body,
        files=files,
        comment_id=comment.pk,
    )


# The history's field names in words; English as stored ("first_response_at" reads
# "first response at"), other languages from the catalogs. A field not listed here
# (one a newer service writes) is shown by its name.
FIELD_LABELS = {
    "ticket": gettext_lazy("ticket"),
    "title": gettext_lazy("title"),
    "description": gettext_lazy("description"),
    "priority": gettext_lazy("priority"),
    "stage": gettext_lazy("stage"),
    "assignee": gettext_lazy("assignee"),
    "team": gettext_lazy("team"),
    "tags": gettext_lazy("tags"),
    "watchers": gettext_lazy("watchers"),
    "requester": gettext_lazy("requester"),
    "workflow": gettext_lazy("workflow"),
    "first_response_at": gettext_lazy("first response at"),
    "resolved_at": gettext_lazy("resolved at"),
    "closed_at": gettext_lazy("closed at"),
}


def field_label(field: str) -> str:
    # A custom field's history rows are named field.<name> (nixflow.services.fields).
    return str(FIELD_LABELS.get(field, field.removeprefix("field.").replace("_", " ")))


def _value(field: str, value: str) -> str:
    if field == "priority" and value in Priority.values:
        return str(Priority(value).label)
    return shown_value(value)


def system_line(row: HistoryLog) -> str:
    """A history row as one short line: "Stage: New → Open", "Assigned to bob"."""
    old, new = _value(row.field, row.old_value), _value(row.field, row.new_value)
    if row.field == "ticket":
        return gettext("Opened the ticket")
    if row.field == "assignee":
        if row.new_value:
            return gettext("Assigned to %(agent)s") % {"agent": new}
        return gettext("Unassigned (was %(agent)s)") % {"agent": old}
    label = capfirst(field_label(row.field))
    if not row.old_value:
        return f"{label}: {new}"
    return f"{label}: {old} → {new}"


def _system_entry(row: HistoryLog) -> TimelineEntry:
    return TimelineEntry(
        kind="system",
        created=row.created,
        when=format_datetime(row.created),
        who=person(row.actor),
        text=system_line(row),
    )


def timeline(ticket: Ticket, *, newest_first: bool) -> list[TimelineEntry]:
    """Comments and the main changes (stage, assignee, team, priority, tags), in time
    order; the full audit trail stays in the History section."""
    comments = ticket.comments.select_related("author").prefetch_related("attachments")
    rows = ticket.history.filter(field__in=SYSTEM_FIELDS).select_related("actor")
    entries = [_comment_entry(c, ticket.key) for c in comments]
    entries += [_system_entry(row) for row in rows.order_by("created", "pk")]
    # Stable sort: at one instant a comment comes before the stage change it caused.
    entries.sort(key=lambda e: e.created)
    return entries[::-1] if newest_first else entries


@dataclass(frozen=True)
class HistoryRow:
    when: str
    who: str
    field: str
    old: str
    new: str


def history_rows(ticket: Ticket) -> list[HistoryRow]:
    """The full audit trail, oldest first, values as people read them (dates in the
    viewer's zone and format, not the ISO text stored): shown folded below the
    conversation. Nobody edits it, so it is a table, not a formset."""
    rows = ticket.history.select_related("actor").order_by("created", "pk")
    return [
        HistoryRow(
            when=format_datetime(row.created),
            who=person(row.actor),
            field=field_label(row.field),
            old=_value(row.field, row.old_value),
            new=_value(row.field, row.new_value),
        )
        for row in rows
    ]


def _newest_first(request: HttpRequest) -> bool:
    """The agent's order, remembered in their session; ``?timeline=newest|oldest``
    changes it."""
    session = getattr(request, "session", None)
    if session is None:
        return False
    chosen = request.GET.get("timeline")
    if chosen in ("newest", "oldest"):
        session[NEWEST_FIRST] = chosen == "newest"
    return bool(session.get(NEWEST_FIRST, False))


@dataclass
class Composer:
    """What the composer shows: its form, its buttons, and why it stopped, if it did."""

    form: ReplyComposerForm
    actions: list[tuple[str, str]]  # (action, button label)
    errors: list[str] = field(default_factory=list)
    notice: str = ""
    new_comments: list[TimelineEntry] = field(default_factory=list)
    confirm: tuple[str, str] | None = None  # the "Send anyway" button
    reopen: list[tuple[str, str]] = field(default_factory=list)  # the reopen question
    tool_changes: list[str] = field(default_factory=list)
    tools: list[ComposerTool] = field(default_factory=list)


def stage_action_label(ticket: Ticket, stage: Stage) -> str:
    if stage.category == StageCategory.RESOLVED:
        label = gettext("Send and resolve")
    elif stage.category == StageCategory.CLOSED:
        label = gettext("Send and close")
    elif ticket.stage.category in replies.FINISHED:
        label = gettext("Send and reopen")
    else:
        return gettext("Send and set %(stage)s") % {"stage": stage.name}
    category = stage.get_category_display()
    return label + ("" if stage.name == category else f" ({stage.name})")


def composer_actions(ticket: Ticket) -> list[tuple[str, str]]:
    """ "Send", then "Send and <stage>" for each stage the workflow allows from here."""
    return [("send", pgettext("button", "Send"))] + [
        (f"stage:{stage.pk}", stage_action_label(ticket, stage))
        for stage in replies.reachable_stages(ticket)
    ]


def _tools(request: HttpRequest, ticket: Ticket) -> list[tuple[ComposerTool, list[Any]]]:
    found = []
    for tool in composer_tools():
        try:
            found.append((tool, tool.choices(request, ticket)))
        except Exception:  # a broken tool must not take the composer down
            logger.exception("Composer tool %r failed for ticket %s", tool.name, ticket.pk)
    return found


def composer_form(request: HttpRequest, ticket: Ticket, **kwargs: Any) -> Composer:
    tools = _tools(request, ticket)
    form = ReplyComposerForm(
        tools=[(tool.name, str(tool.label), choices) for tool, choices in tools], **kwargs
    )
    return Composer(form=form, actions=composer_actions(ticket), tools=[t for t, _ in tools])


def newest_comment_id(ticket: Ticket) -> int:
    return ticket.comments.aggregate(newest=Max("pk"))["newest"] or 0


def conversation_context(request: HttpRequest, ticket: Ticket, *, may_reply: bool) -> dict:
    composer = None
    if may_reply:
        composer = composer_form(
            request, ticket, initial={"seen_comment": newest_comment_id(ticket)}
        )
    return {
        "timeline": timeline(ticket, newest_first=_newest_first(request)),
        "history_rows": history_rows(ticket),
        "timeline_newest_first": _newest_first(request),
        "composer": composer,
        "composer_reply_url": reverse("admin:nixflow_ticket_reply", args=[ticket.pk]),
        "composer_draft_url": reverse("admin:nixflow_ticket_reply_draft", args=[ticket.pk]),
    }


@dataclass
class ReplyOutcome:
    done: str | None = None  # the message after a sent reply
    composer: Composer | None = None  # the composer to show again


def handle_reply(request: HttpRequest, ticket: Ticket) -> ReplyOutcome:
    composer = composer_form(request, ticket, data=request.POST, files=request.FILES)
    form = composer.form
    if not form.is_valid():
        return ReplyOutcome(composer=composer)
    action = request.POST.get("action", "send")
    if action.startswith("insert:"):
        _insert(request, ticket, composer, action.removeprefix("insert:"))
        return ReplyOutcome(composer=composer)
    return _send(request, ticket, composer, action)


def _rebound(composer: Composer, **values: Any) -> None:
    """Show the composer again with some values changed (a bound form's data is
    immutable, hence a copy; files are not kept: browsers never send them back)."""
    posted = composer.form.data
    data: dict[str, Any] = {name: posted.get(name) for name in posted}
    data.update(values)
    composer.form = ReplyComposerForm(tools=composer.form.tool_specs, data=data)
    composer.form.is_valid()


def _insert(request: HttpRequest, ticket: Ticket, composer: Composer, name: str) -> None:
    tool = composer_tool(name)
    value = composer.form.cleaned_data.get(f"tool_{name}") or ""
    if tool is None or not value:
        composer.errors.append(gettext("Choose what to insert first."))
        return
    try:
        draft = tool.draft(request, ticket, value)
    except (ValidationError, PermissionDenied) as error:
        composer.errors.append(error_text(error))
        return
    body = composer.form.cleaned_data["reply_body"]
    body = f"{body.rstrip()}\n\n{draft.body}" if body.strip() else draft.body
    visibility = INTERNAL if draft.is_internal else PUBLIC
    _rebound(composer, reply_body=body, visibility=visibility, **{f"composer_{name}": value})
    composer.tool_changes = [f"{tool.label}: {change}" for change in draft.changes]
    composer.notice = gettext("%(tool)s inserted. Its changes are made when you send.") % {
        "tool": tool.label
    }


def _parse_action(ticket: Ticket, action: str) -> tuple[Stage | None, bool, bool]:
    """(stage to set, confirmed, keep stage) from the button's value."""
    confirmed = action.startswith("confirm:")
    action = action.removeprefix("confirm:")
    stage = None
    if action.startswith("stage:"):
        pk = action.removeprefix("stage:")
        stage = (
            Stage.objects.filter(pk=int(pk), workflow=ticket.workflow_id).first()
            if pk.isdigit()
            else None
        )
        if stage is None:
            raise ValidationError(gettext("That stage is not in this ticket's workflow."))
    return stage, confirmed, action == "keep"


def _send(request: HttpRequest, ticket: Ticket, composer: Composer, action: str) -> ReplyOutcome:
    form = composer.form
    try:
        to_stage, confirmed, keep_stage = _parse_action(ticket, action)
        with transaction.atomic():
            reply = replies.ticket_reply(
                ticket=ticket,
                author=signed_in_user(request),
                body=form.cleaned_data["reply_body"],
                is_internal=form.is_internal,
                attachments=form.cleaned_data["attachments"],
                to_stage=to_stage,
                seen_comment_id=form.cleaned_data["seen_comment"],
                confirmed=confirmed,
                keep_stage=keep_stage,
            )
            done = _run_tools(request, reply.ticket, form.chosen_tools())
    except replies.StaleReply as stale:
        composer.new_comments = [_comment_entry(c, ticket.key) for c in stale.comments]
        composer.notice = error_text(stale)
        composer.confirm = (f"confirm:{action.removeprefix('confirm:')}", gettext("Send anyway"))
        _keep_files_note(composer)
        # The agent has seen them now: a plain "Send" after reading goes through too.
        _rebound(composer, seen_comment=stale.comments[-1].pk)
        return ReplyOutcome(composer=composer)
    except replies.ReopenQuestion as question:
        composer.notice = error_text(question)
        composer.reopen = [
            (f"stage:{s.pk}", stage_action_label(ticket, s)) for s in question.stages
        ] + [("keep", gettext("Send without reopening"))]
        _keep_files_note(composer)
        return ReplyOutcome(composer=composer)
    except (ValidationError, PermissionDenied) as error:
        composer.errors.append(error_text(error))
        _keep_files_note(composer)
        return ReplyOutcome(composer=composer)
    return ReplyOutcome(done=sent_message(reply, done))


def _keep_files_note(composer: Composer) -> None:
    if composer.form.cleaned_data.get("attachments"):
        composer.errors.append(gettext("Nothing was sent: choose the files again before sending."))


def _run_tools(request: HttpRequest, ticket: Ticket, chosen: dict[str, str]) -> list[str]:
    """Each inserted tool's changes, inside the reply's transaction: a refusal rolls the
    reply back with them."""
    done = []
    for name, value in chosen.items():
        tool = composer_tool(name)
        if tool is None:
            raise ValidationError(
                gettext("“%(tool)s” is no longer available; remove it and send again.")
                % {"tool": name}
            )
        done += [f"{tool.label}: {change}" for change in tool.on_send(request, ticket, value)]
    return done


def sent_message(reply: replies.Reply, done: list[str]) -> str:
    """What happened, in words: who was mailed, where the ticket went, what tools did."""
    comment, ticket = reply.comment, reply.ticket
    if comment.is_internal:
        parts = [gettext("Internal note added to %(ticket)s.") % {"ticket": ticket.key}]
    elif address := replies.reply_mailed_to(comment):
        parts = [gettext("Reply sent to %(address)s.") % {"address": address}]
    else:
        parts = [
            gettext("Public reply added to %(ticket)s; no mail goes to the requester.")
            % {"ticket": ticket.key}
        ]
    if reply.to_stage is not None:
        parts.append(
            gettext("%(ticket)s is now %(stage)s.")
            % {"ticket": ticket.key, "stage": ticket.stage.name}
        )
    parts += [f"{line}." for line in done]
    return " ".join(parts)


def draft_json(request: HttpRequest, ticket: Ticket) -> JsonResponse:
    """``?tool=<name>&value=<choice>``: the draft, or ``{"error": ...}`` with 400."""
    tool = composer_tool(request.GET.get("tool", ""))
    value = request.GET.get("value", "")
    if tool is None or not value:
        return JsonResponse({"error": gettext("Choose what to insert first.")}, status=400)
    try:
        draft = tool.draft(request, ticket, value)
    except (ValidationError, PermissionDenied) as error:
        return JsonResponse({"error": error_text(error)}, status=400)
    return JsonResponse(
        {
            "body": draft.body,
            "is_internal": draft.is_internal,
            "changes": [f"{tool.label}: {change}" for change in draft.changes],
        }
    )


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
        # The composer's and timeline's look and script, on the ticket's page too.
        css = {
            "all": (
                "nixflow/admin/changelist.css",
                "nixflow/admin/ticket_list.css",
                "nixflow/admin/composer.css",
            )
        }
        js = ("nixflow/admin/composer.js",)

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
    search_rank = "search_rank"  # nixflow.search ranks title over description over comments
    search_help_text = gettext_lazy(
        'Words (all required), "a phrase", prefix*, -excluded, a or b; a key (NF-12); or '
        "a requester's username, e-mail or name. Searches the whole conversation."
    )
    autocomplete_fields = ("requester",)
    actions = ("assign_to_me", "move_to_stage", "add_tags", "remove_tags")

    @property
    def action_form(self) -> type[ActionForm]:
        """The action bar, with the inputs feature apps' actions need."""
        return ticket_actions.action_form(TicketActionForm)

    def get_action(self, action: Any) -> Any:
        """The core's actions by name, and those feature apps registered."""
        for registered in ticket_actions.ticket_actions():
            if registered.name == action:
                return registered.run, registered.name, registered.description
        return super().get_action(action)

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
        """A key, a requester, or words over the whole conversation (nixflow.search),
        best match first until a column is chosen."""
        return self.rank_first(request, search_tickets(queryset, search_term)), False

    # --- actions ------------------------------------------------------------------------
    @admin.action(description=gettext_lazy("Assign to me"), permissions=["change"])
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
            self.message_user(
                request,
                ngettext(
                    "Assigned %(count)s ticket to you.",
                    "Assigned %(count)s tickets to you.",
                    assigned,
                )
                % {"count": assigned},
            )
        if already := len(tickets) - len(todo):
            self.message_user(
                request,
                ngettext(
                    "%(count)s ticket already yours.", "%(count)s tickets already yours.", already
                )
                % {"count": already},
                messages.INFO,
            )

    @admin.action(
        description=gettext_lazy("Move to stage (choose it next to the action)"),
        permissions=["change"],
    )
    def move_to_stage(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        try:
            stage = self.action_form.base_fields["to_stage"].clean(request.POST.get("to_stage"))
        except ValidationError:
            stage = None
        if stage is None:
            self.message_user(
                request, gettext("Choose the stage to move the tickets to."), messages.WARNING
            )
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
            self.message_user(
                request,
                ngettext(
                    "Moved %(count)s ticket to %(stage)s.",
                    "Moved %(count)s tickets to %(stage)s.",
                    moved,
                )
                % {"count": moved, "stage": stage.name},
            )
        if already := len(tickets) - len(todo):
            self.message_user(
                request,
                ngettext(
                    "%(count)s ticket already in %(stage)s.",
                    "%(count)s tickets already in %(stage)s.",
                    already,
                )
                % {"count": already, "stage": stage.name},
                messages.INFO,
            )

    @admin.action(
        description=gettext_lazy("Add tags (type them next to the action)"), permissions=["change"]
    )
    def add_tags(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        tag_action(
            self,
            request,
            queryset,
            services.ticket_tag_add,
            done=tagged_message,
            failed="Could not tag",
        )

    @admin.action(
        description=gettext_lazy("Remove tags (type them next to the action)"),
        permissions=["change"],
    )
    def remove_tags(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        tag_action(
            self,
            request,
            queryset,
            services.ticket_tag_remove,
            done=untagged_message,
            failed="Could not untag",
        )

    # --- the ticket page ----------------------------------------------------------------
    def get_fieldsets(self, request: HttpRequest, obj: Ticket | None = None) -> Any:
        if obj is None:
            custom = tuple(new_ticket_fields())
            return [
                (None, {"fields": ("title", "description", "priority")}),
                (gettext("People and process"), {"fields": ("requester", "assignee", "workflow")}),
                *([(gettext("Custom fields"), {"fields": custom})] if custom else []),
            ]
        return [
            (None, {"fields": ("key", "title", "description")}),
            (
                pgettext("fieldset", "Work"),
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
            *self._custom_fields_fieldset(obj),
            (
                gettext("Details"),
                {"fields": TICKET_READONLY_ON_CHANGE[2:], "classes": ("collapse",)},
            ),
        ]

    def _custom_fields_fieldset(self, ticket: Ticket) -> list[Any]:
        """The ticket's custom fields (nixflow.admin.fields), when its workflow has any."""
        names = tuple(ticket_form_fields(ticket))
        return [(gettext("Custom fields"), {"fields": names})] if names else []

    def get_readonly_fields(self, request: HttpRequest, obj: Ticket | None = None) -> Any:
        return () if obj is None else TICKET_READONLY_ON_CHANGE

    def get_form(
        self, request: HttpRequest, obj: Ticket | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        kwargs["form"] = (
            with_new_ticket_fields(TicketAddForm)
            if obj is None
            else with_custom_fields(TicketChangeForm, obj)
        )
        return super().get_form(request, obj, change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Ticket | None) -> list[type[Any]]:
        """The conversation and the reply composer are not inlines: the page renders them
        after the ticket's form (the conversation section above)."""
        if obj is None:
            return []
        return [WatcherInline]

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
                    custom_fields=(
                        form.custom_field_values()
                        if isinstance(form, NewTicketFieldsMixin)
                        else None
                    ),
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
            values = changed_values(form, obj)
            if values:  # before the stage: a field it requires may be filled in this save
                own_fields["custom_fields"] = values
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
        if formset.model is TicketWatcher:
            deleted = formset.deleted_forms
            for row in deleted:
                with refusals_to_form(gettext("Watchers")):
                    services.ticket_unwatch(
                        ticket=ticket, user=row.instance.user, actor=signed_in_user(request)
                    )
                formset.deleted_objects.append(row.instance)
            for row in formset.extra_forms:
                if row in deleted or not row.has_changed():
                    continue
                with refusals_to_form(gettext("Watchers")):
                    watcher = services.ticket_watch(
                        ticket=ticket, user=row.cleaned_data["user"], actor=signed_in_user(request)
                    )
                formset.new_objects.append(watcher)
        else:  # the watchers are the page's only inline
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
                "ticket_panels": panels.render_ticket_panels(request, ticket),
                **conversation_context(
                    request, ticket, may_reply=self.has_change_permission(request, ticket)
                ),
                **(extra_context or {}),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- the reply composer (the conversation section above) ----------------------------
    def get_urls(self) -> list[Any]:
        own = [
            path(
                "<path:object_id>/reply/",
                self.admin_site.admin_view(self.reply_view),
                name="nixflow_ticket_reply",
            ),
            path(
                "<path:object_id>/reply/draft/",
                self.admin_site.admin_view(self.draft_view),
                name="nixflow_ticket_reply_draft",
            ),
        ]
        return own + super().get_urls()

    def _ticket_to_reply(self, request: HttpRequest, object_id: str) -> Ticket:
        ticket = self.get_object(request, unquote(object_id))
        if ticket is None:
            raise Http404("No such ticket.")
        if not self.has_change_permission(request, ticket):
            raise PermissionDenied
        return ticket

    def reply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Send the composer's reply; when it cannot go yet (a question, a refusal, an
        inserted draft), show the ticket's page again with the agent's text kept."""
        ticket = self._ticket_to_reply(request, object_id)
        page = reverse("admin:nixflow_ticket_change", args=[ticket.pk])
        if request.method != "POST":
            return HttpResponseRedirect(page)
        outcome = handle_reply(request, ticket)
        if outcome.done is not None:
            self.message_user(request, outcome.done, messages.SUCCESS)
            return HttpResponseRedirect(page)
        # The ticket's page as a GET shows it, with the composer as the agent left it;
        # its own form still posts to the page (not to this URL).
        request.method = "GET"
        return self.change_view(
            request, object_id, form_url=page, extra_context={"composer": outcome.composer}
        )

    def draft_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A composer tool's draft as JSON, for the composer's script (insert in place)."""
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        ticket = self._ticket_to_reply(request, object_id)
        return draft_json(request, ticket)

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
