"""The agent's notifications in the admin: their own list, mark read or unread, and
their preferences.

Each agent sees only their own notifications, newest first, unread ones in bold.
Opening one (its text is the link) marks it read and goes to the ticket's admin page.
The unread count on every admin page is the ``unread_notifications`` template tag
(``notifications.templatetags.notifications``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy, ngettext

from eventlog.models import EventLog
from nixflow.toolkit.admin import READ_ONLY, RolePermissionsMixin
from nixflow.toolkit.auth import signed_in_user
from notifications import selectors, services
from notifications.models import Channel, Kind, Notification


class ReadFilter(admin.SimpleListFilter):
    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("unread", gettext("Unread")), ("read", gettext("Read"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Notification]
    ) -> QuerySet[Notification]:
        if self.value() == "unread":
            return queryset.filter(read_at__isnull=True)
        if self.value() == "read":
            return queryset.filter(read_at__isnull=False)
        return queryset


class PreferencesForm(forms.Form):
    """One checkbox per kind and channel."""

    def __init__(self, *args: Any, initial_table: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = []
        for row in initial_table:
            names = []
            for channel in Channel.values:
                name = f"{row['kind']}__{channel}"
                self.fields[name] = forms.BooleanField(required=False, initial=row[channel])
                names.append(name)
            self.rows.append({"label": row["label"], "fields": [self[n] for n in names]})

    def choices(self) -> dict[str, dict[str, bool]]:
        return {
            kind: {channel: self.cleaned_data[f"{kind}__{channel}"] for channel in Channel.values}
            for kind in Kind.values
        }


def _subject_page(notification: Notification) -> str:
    """A notice about no ticket opens the admin page of what its event is about (a
    webhook endpoint), or the list when there is none."""
    event = EventLog.objects.filter(pk=notification.event_id).first()
    if event is not None:
        try:
            return reverse(
                f"admin:{event.subject_app}_{event.subject_model}_change", args=[event.subject_id]
            )
        except NoReverseMatch:
            pass
    return reverse("admin:notifications_notification_changelist")


@admin.register(Notification)
class NotificationAdmin(RolePermissionsMixin, admin.ModelAdmin):
    agent_actions = admin_actions = READ_ONLY
    # The text says the kind already (and the filter offers it): on a phone the list
    # keeps room for the ticket and the time.
    list_display = ("notification", "ticket_column", "created")
    list_display_links = ("notification",)
    list_filter = (ReadFilter, "kind")
    list_select_related = ("ticket",)
    ordering = ("-created", "-id")
    sortable_by = ("created",)
    list_per_page = 50
    actions = ("mark_read", "mark_unread")
    preferences_template = "admin/notifications/notification/preferences.html"
    change_list_template = "admin/notifications/notification/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        # Only the signed-in agent's own, whatever their role: an admin's list is theirs too.
        return selectors.notification_list(user=signed_in_user(request))

    @admin.display(description=gettext_lazy("Notification"))
    def notification(self, obj: Notification) -> str:
        if obj.read_at is None:
            return format_html('<strong class="nf-unread" data-unread="1">{}</strong>', obj.text)
        return obj.text

    @admin.display(description=gettext_lazy("Ticket"))
    def ticket_column(self, obj: Notification) -> str:
        return f"{obj.ticket.key} {obj.ticket.title}" if obj.ticket is not None else "—"

    @admin.action(description=gettext_lazy("Mark selected notifications as read"))
    def mark_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = services.notification_mark_many(actor=signed_in_user(request), ids=ids, read=True)
        messages.success(
            request,
            ngettext(
                "%(count)s notification marked as read.",
                "%(count)s notifications marked as read.",
                count,
            )
            % {"count": count},
        )

    @admin.action(description=gettext_lazy("Mark selected notifications as unread"))
    def mark_unread(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = services.notification_mark_many(actor=signed_in_user(request), ids=ids, read=False)
        messages.success(
            request,
            ngettext(
                "%(count)s notification marked as unread.",
                "%(count)s notifications marked as unread.",
                count,
            )
            % {"count": count},
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {"title": gettext("My notifications"), **(extra_context or {})}
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Opening a notification: mark it read, then go to its ticket. There is nothing
        to change in one, so only GET; another agent's is not found."""
        if not self.has_view_permission(request) or request.method != "GET":
            raise PermissionDenied
        notification = self.get_object(request, object_id)  # the signed-in agent's only
        if notification is None:
            raise Http404("No such notification of yours.")
        services.notification_mark_read(actor=signed_in_user(request), notification=notification)
        if notification.ticket_id is None:
            return HttpResponseRedirect(_subject_page(notification))
        return HttpResponseRedirect(
            reverse("admin:nixflow_ticket_change", args=[notification.ticket_id])
        )

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Another agent's notification is not found, as on opening it (Django's own
        # answer, a redirect to the index, would tell nothing either, but differently).
        if not self.has_view_permission(request):
            raise PermissionDenied
        if self.get_object(request, object_id) is None:
            raise Http404("No such notification of yours.")
        return super().history_view(request, object_id, extra_context)

    def get_urls(self) -> list[URLPattern]:
        preferences = path(
            "preferences/",
            self.admin_site.admin_view(self.preferences_view),
            name="notifications_notification_preferences",
        )
        return [preferences, *super().get_urls()]

    def preferences_view(self, request: HttpRequest) -> HttpResponse:
        """The signed-in agent's own preferences, per kind and channel."""
        if not self.has_view_permission(request):
            raise Http404
        user = signed_in_user(request)
        form = PreferencesForm(
            request.POST or None, initial_table=selectors.preference_table(user=user)
        )
        if request.method == "POST" and form.is_valid():
            services.notification_preferences_update(actor=user, user=user, choices=form.choices())
            messages.success(request, gettext("Your notification preferences were saved."))
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("My notification preferences"),
            "subtitle": None,
            "opts": self.model._meta,
            "form": form,
            "channels": Channel.labels,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.preferences_template, context)
