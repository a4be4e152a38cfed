"""Saved views in the admin: the tickets of a stored ticket-list query, counted on the
desk, and the "Saved views" pages where agents name, share, change and delete them.

A view's tickets are what the ticket list shows for its query string, by construction:
``view_tickets`` runs the ticket ModelAdmin's own changelist (its filters, its search,
its ordering) on the stored query, for the user looking at it, and takes the queryset
the list would page through. ``?queue=mine`` in a team's view is each member's own.

Building that changelist costs no query of its own except the choices of the filters
the query uses (a workflow filter reads the workflows): the filters the query does not
name are left out, so a view's count on the desk is one query, plus one for such a
filter. A query the list cannot run any more (a filter an app no longer registers, a
field lookup the list refuses, a value of the wrong type) is a ``ViewQueryError`` with
the list's own words, shown next to the view instead of a count: never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import FieldError, SuspiciousOperation, ValidationError
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy

from nixflow.models import SavedView, Team, Ticket, User
from nixflow.services import saved_views as views
from nixflow.toolkit import queues
from nixflow.toolkit.admin import (
    ADD,
    CHANGE,
    DELETE,
    VIEW,
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    refusals_to_form,
)
from nixflow.toolkit.auth import is_admin, signed_in_user
from nixflow.toolkit.changelist import FastChangeList, FastListAdmin, ResultCount

logger = logging.getLogger(__name__)

TICKET_LIST = "admin:nixflow_ticket_changelist"


class ViewQueryError(Exception):
    """A stored query the ticket list cannot run; the message says why."""


class _QueryOnly(FastChangeList):
    """The ticket list's changelist without its page: the filtered, searched and
    ordered queryset (``queryset``), no count, no rows."""

    def get_results(self, request: HttpRequest) -> None:
        self.result_count = ResultCount(0)
        self.result_list = []


def _uses(entry: Any, params: QueryDict) -> bool:
    """Whether the list filter ``entry`` of list_filter reads one of ``params``."""
    name = getattr(entry, "parameter_name", None)  # a SimpleListFilter class
    if name is None:
        field = entry[0] if isinstance(entry, tuple | list) else entry
        name = str(field)
        return any(key == name or key.startswith(f"{name}__") for key in params)
    return name in params


def _view_request(user: User, query: str) -> HttpRequest:
    request = HttpRequest()
    request.method = "GET"
    request.user = user
    request.GET = QueryDict(views.view_query(query))
    request.path = reverse(TICKET_LIST)
    return request


def view_tickets(user: User, query: str) -> QuerySet[Ticket]:
    """The tickets the ticket list shows ``user`` for ``query``, in its order; a
    ``ViewQueryError`` when the list cannot run the query."""
    ticket_admin = admin.site.get_model_admin(Ticket)
    try:
        request = _view_request(user, query)
    except ValidationError as error:
        raise ViewQueryError(_error_text(error)) from error
    list_display = list(ticket_admin.get_list_display(request))
    if ticket_admin.get_actions(request):
        list_display = ["action_checkbox", *list_display]
    used = [f for f in ticket_admin.get_list_filter(request) if _uses(f, request.GET)]
    try:
        changelist = _QueryOnly(
            request,
            Ticket,
            list_display,
            ticket_admin.get_list_display_links(request, list_display),
            used,
            ticket_admin.date_hierarchy,
            ticket_admin.get_search_fields(request),
            ticket_admin.get_list_select_related(request),
            ticket_admin.list_per_page,
            ticket_admin.list_max_show_all,
            ticket_admin.list_editable,
            ticket_admin,
            ticket_admin.get_sortable_by(request),
            ticket_admin.search_help_text,
        )
    except (
        IncorrectLookupParameters,
        SuspiciousOperation,
        FieldError,
        ValidationError,
        ValueError,
        messages.MessageFailure,  # the search box refused the search term
    ) as error:
        raise ViewQueryError(_error_text(error)) from error
    queryset: QuerySet[Ticket] = changelist.queryset
    return queryset


def _error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    if isinstance(error, messages.MessageFailure):
        return gettext("The search is not valid.")
    # The first sentence: Django's FieldError goes on to list every field of the model.
    text = str(error).strip().split(". ")[0].rstrip(".")[:160]
    if not text:
        return gettext("Not a valid view.")
    return gettext("The ticket list cannot show this view: %(reason)s.") % {"reason": text}


def view_url(view: SavedView) -> str:
    """The ticket list showing the view: its stored query string."""
    return f"{reverse(TICKET_LIST)}?{view.query}" if view.query else reverse(TICKET_LIST)


def view_count(user: User, query: str, cap: int | None = None) -> ResultCount:
    """The view's tickets, counted as the desk counts a queue (capped); a search counts
    to the list's search cap, as the list does. ``ViewQueryError`` when the query does
    not run (a count the database refuses included)."""
    tickets = view_tickets(user, query)
    if cap is None and QueryDict(query).get(SEARCH_VAR, "").strip():
        cap = FastListAdmin.search_count_cap
    try:
        with transaction.atomic():  # a savepoint: the request's transaction stays usable
            return queues.capped_count(tickets, cap)
    except DatabaseError as error:
        logger.warning("Counting the saved view %r failed: %s", query, error)
        raise ViewQueryError(gettext("The ticket list cannot show this view.")) from error


@dataclass(frozen=True)
class CountedView:
    view: SavedView
    count: ResultCount | None  # None: the error says why
    error: str
    url: str
    can_change: bool


def counted_views(request: HttpRequest) -> list[CountedView]:
    """The signed-in agent's views and their teams', each counted (one query a view)."""
    user = signed_in_user(request)
    counted = []
    leads = set(user.team_memberships.filter(is_lead=True).values_list("team_id", flat=True))
    for view in views.saved_views_visible(user):
        count: ResultCount | None = None
        error = ""
        try:
            count = view_count(user, view.query)
        except ViewQueryError as refused:
            error = str(refused)
        can_change = view.owner_id == user.pk or view.team_id in leads or is_admin(user)
        counted.append(CountedView(view, count, error, view_url(view), can_change))
    return counted


# --- the admin pages ---------------------------------------------------------------------
class SavedViewForm(forms.ModelForm):
    """Name, personal or one of my teams, the list's query (prefilled by the ticket
    list's "Save this view" link) and the place among my views."""

    class Meta:
        model = SavedView
        fields = ("name", "team", "query", "position")
        widgets = {"query": forms.TextInput(attrs={"class": "vLargeTextField"})}
        labels = {"team": gettext_lazy("Shared with")}
        help_texts = {
            "team": gettext_lazy(
                "Empty: only you see it. A team: its members see it, its leads may change it."
            ),
            "query": gettext_lazy(
                "The ticket list's filters, search and sort, as its address shows them."
            ),
        }

    user: User

    def clean_query(self) -> str:
        query = views.view_query(self.cleaned_data.get("query") or "")
        try:
            view_tickets(self.user, query).query.sql_with_params()
        except ViewQueryError as error:
            raise ValidationError(str(error)) from error
        return query


@admin.register(SavedView)
class SavedViewAdmin(ServiceFormAdminMixin, RolePermissionsMixin, admin.ModelAdmin):
    """The agent's saved views and their teams'. Saved, changed and deleted through
    nixflow.services.saved_views (events view.*); an agent changes their own and, as a
    team's lead, the team's."""

    agent_actions = admin_actions = frozenset({VIEW, ADD, CHANGE, DELETE})
    record_admin_events = False  # the services record view.* themselves
    form = SavedViewForm
    list_display = ("name", "shared_with", "owner", "open_link")
    list_select_related = ("team", "owner")
    search_fields = ("name",)
    ordering = ("position", "name", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[SavedView]:
        # Admins may change any view (can_change_view), so they find every one here; the
        # desk still shows each person only their own and their teams'.
        # Whoever is no agent (a requester made staff by mistake) must be refused by the
        # role permissions (403), not sent to the index as if the view did not exist.
        user = signed_in_user(request)
        if is_admin(user) or not user.is_agent:
            return SavedView.objects.select_related("team", "owner")
        return views.saved_views_visible(user)

    def _may_change(self, request: HttpRequest, obj: SavedView | None) -> bool:
        return obj is None or views.can_change_view(signed_in_user(request), obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_change(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_change(request, obj)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        user = signed_in_user(request)
        # A subclass builds its own fields: limit the team's choices on the subclass's.
        base = super().get_form(request, obj, change=change, **kwargs)
        form: type[forms.ModelForm] = type("SavedViewForm", (base,), {"user": user})
        teams = Team.objects.all() if is_admin(user) else Team.objects.filter(members=user)
        form.base_fields["team"].queryset = teams  # type: ignore[attr-defined]
        return form

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # A plain choice of the agent's teams (get_form), without the admin's add/view
        # buttons for teams, which agents do not manage.
        if db_field.name == "team":
            return forms.ModelChoiceField(
                queryset=Team.objects.none(),
                required=False,
                empty_label=gettext("Only me"),
                label=gettext("Shared with"),
                help_text=SavedViewForm.Meta.help_texts["team"],
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # The ticket list's link passes its query string whole, as ?query=<encoded>.
        initial = super().get_changeform_initial_data(request)
        if "query" in initial:
            initial["query"] = views.view_query(str(initial["query"]))
        return initial

    def save_model(
        self, request: HttpRequest, obj: SavedView, form: forms.ModelForm, change: bool
    ) -> None:
        actor = signed_in_user(request)
        data = {name: form.cleaned_data[name] for name in SavedViewForm.Meta.fields}
        with refusals_to_form():
            if change:
                fresh = SavedView.objects.get(pk=obj.pk)
                saved = views.saved_view_update(view=fresh, actor=actor, data=data)
            else:
                saved = views.saved_view_create(owner=actor, actor=actor, **data)
        obj.pk = saved.pk
        obj.owner_id = saved.owner_id

    def delete_model(self, request: HttpRequest, obj: SavedView) -> None:
        views.saved_view_delete(view=obj, actor=signed_in_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SavedView]) -> None:
        for view in queryset:
            self.delete_model(request, view)

    def response_add(
        self, request: HttpRequest, obj: SavedView, post_url_continue: str | None = None
    ) -> HttpResponse:
        # Saved from the ticket list: back to the list the view shows.
        if "_continue" in request.POST or "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request, gettext("Saved the view “%(name)s”.") % {"name": obj.name}, messages.SUCCESS
        )
        return redirect(view_url(obj))

    @admin.display(description=gettext_lazy("shared with"))
    def shared_with(self, view: SavedView) -> str:
        return view.team.name if view.team else gettext("Only me")

    @admin.display(description=gettext_lazy("tickets"))
    def open_link(self, view: SavedView) -> SafeString:
        return format_html('<a href="{}">{}</a>', view_url(view), gettext("Open the list"))
