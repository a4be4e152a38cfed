"""Tags and the desk settings in the admin, and the ticket list's tags: its "By tag"
filter, the labels under each title and the bulk actions' body.

Admins keep the tag list (add, rename, delete: nixflow.services.tags, one ``tag.*``
event each) and lock it on the desk settings page; agents see both read-only. Agents
tag tickets on the ticket page and with the list's bulk actions (nixflow.admin.tickets).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext

from nixflow import selectors, services
from nixflow.models import DESK_SETTINGS_ID, DeskSettings, Tag, Ticket, User
from nixflow.toolkit.admin import CHANGE, READ_ONLY, VIEW, bulk_apply
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.config_admin import ConfigurationAdmin
from nixflow.toolkit.errors import error_text

# The filter lists tags by name; a desk with more than this many offers the first ones
# and the rest by URL (?tag=<id>) or the API's ?tag=<name>.
FILTER_CHOICES_MAX = 100


class TagListFilter(admin.SimpleListFilter):
    """``?tag=<id>``: the tickets with that tag, served from the through table's (tag_id)
    index (nixflow.selectors.tickets_with_tag_id). The id, not the name, so a saved view
    survives a rename."""

    title = gettext_lazy("tag")
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        tags = Tag.objects.order_by(Lower("name")).values_list("pk", "name")
        return [(str(pk), name) for pk, name in tags[:FILTER_CHOICES_MAX]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit() or len(value) > 18:
            raise IncorrectLookupParameters(gettext("No tag %(tag)r.") % {"tag": value})
        return selectors.tickets_with_tag_id(queryset, int(value))


class TagActionForm(ActionForm):
    into = forms.ModelChoiceField(
        queryset=Tag.objects.order_by(Lower("name")),
        required=False,
        label=gettext_lazy("Into:"),
        empty_label=gettext_lazy("(for “Merge”)"),
    )


@admin.register(Tag)
class TagAdmin(ConfigurationAdmin):
    """The tag list. A tag's tickets are one click away (the ticket list by tag)."""

    agent_actions = READ_ONLY
    actions = ("merge",)
    action_form = TagActionForm
    list_display = ("name", "created", "created_by", "tickets_link")
    search_fields = ("name",)  # also what the ticket list's filter and pickers search
    fields = ("name",)

    def get_ordering(self, request: HttpRequest) -> Any:
        return (Lower("name"), "pk")  # "billing" before "VPN", whatever the collation

    list_select_related = ("created_by",)
    service_fields = ("name",)

    @admin.display(description=gettext_lazy("tickets"))
    def tickets_link(self, tag: Tag) -> Any:
        url = reverse("admin:nixflow_ticket_changelist")
        return format_html(
            '<a href="{}?tag={}">{}</a>', url, tag.pk, gettext("Tickets with this tag")
        )

    @admin.action(
        description=gettext_lazy("Merge into the tag chosen next to the action"),
        permissions=["change"],
    )
    def merge(self, request: HttpRequest, queryset: QuerySet[Tag]) -> None:
        try:
            into = TagActionForm.base_fields["into"].clean(request.POST.get("into"))
        except ValidationError:
            into = None
        if into is None:
            self.message_user(request, gettext("Choose the tag to merge into."), messages.WARNING)
            return
        actor = signed_in_user(request)
        merged = bulk_apply(
            self,
            request,
            [tag for tag in queryset.order_by("pk") if tag.pk != into.pk],
            lambda tag: services.tag_merge(tag=tag, into=into, actor=actor),
            label=lambda tag: tag.name,
            failed="Could not merge",
            noun="tag",
        )
        if merged:
            self.message_user(
                request,
                ngettext(
                    "Merged %(count)s tag into %(tag)s.",
                    "Merged %(count)s tags into %(tag)s.",
                    merged,
                )
                % {"count": merged, "tag": into.name},
            )

    def create_with(self, obj: Tag, actor: User, data: dict[str, Any], rows: dict[str, Any]) -> Tag:
        return services.tag_create(name=data["name"], actor=actor)

    def update_with(self, obj: Tag, actor: User, data: dict[str, Any], rows: dict[str, Any]) -> Tag:
        if "name" not in data:
            return obj
        return services.tag_update(tag=obj, name=data["name"], actor=actor)

    def delete_with(self, obj: Tag, actor: User) -> None:
        services.tag_delete(tag=obj, actor=actor)


@admin.register(DeskSettings)
class DeskSettingsAdmin(ConfigurationAdmin):
    """One row: its list page is its form (the list would be empty until the first
    save). Admins change it, agents read it."""

    agent_actions = READ_ONLY
    admin_actions = frozenset({VIEW, CHANGE})
    fields = ("tags_locked", "updated")
    readonly_fields = ("updated",)
    service_fields = ("tags_locked",)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)
        url = reverse("admin:nixflow_desksettings_change", args=[DESK_SETTINGS_ID])
        return self.change_view(request, str(DESK_SETTINGS_ID), url, extra_context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        # Before the first change there is no row: the page shows the defaults.
        if str(object_id) == str(DESK_SETTINGS_ID):
            return DeskSettings.load()
        return None

    def update_with(
        self, obj: DeskSettings, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> DeskSettings:
        return services.desk_settings_update(actor=actor, data=data)


# --- The ticket list's bulk actions -----------------------------------------------------------
def tag_action(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Ticket],
    service: Callable[..., Ticket],
    *,
    done: Callable[[int, str], str],
    failed: str,
) -> None:
    """The body of "Add tags" and "Remove tags": the names typed next to the action (the
    action form's ``tag_names``), one service call per ticket, refusals reported.
    ``done(count, names)`` says what was done ("Tagged 3 tickets: vpn, billing.")."""
    try:
        field = model_admin.action_form.base_fields["tag_names"]
        names: list[str] = field.clean(request.POST.get("tag_names", ""))
    except ValidationError as error:
        model_admin.message_user(request, error_text(error), messages.ERROR)
        return
    if not names:
        model_admin.message_user(
            request, gettext("Type the tags next to the action, comma-separated."), messages.WARNING
        )
        return
    actor = signed_in_user(request)
    changed = bulk_apply(
        model_admin,
        request,
        list(queryset.order_by("pk")),
        lambda ticket: service(ticket=ticket, tags=names, actor=actor),
        label=lambda ticket: ticket.key,
        failed=failed,
    )
    if changed:
        model_admin.message_user(request, done(changed, ", ".join(names)))


def tagged_message(count: int, names: str) -> str:
    return ngettext(
        "Tagged %(count)s ticket: %(tags)s.", "Tagged %(count)s tickets: %(tags)s.", count
    ) % {"count": count, "tags": names}


def untagged_message(count: int, names: str) -> str:
    return ngettext(
        "Untagged %(count)s ticket: %(tags)s.", "Untagged %(count)s tickets: %(tags)s.", count
    ) % {"count": count, "tags": names}


# --- The ticket list's tags, under each title -----------------------------------------------
# More than this many on a row show as "+N" (all of them in the tooltip): the row stays
# short and the list fits 1440 px.
TAGS_SHOWN = 3
_LABELS = "_nixflow_tag_labels"


def attach_tag_labels(tickets: Sequence[Ticket]) -> None:
    """Load the page's tags in one query (the through table's (ticket_id, tag_id) index)
    and keep each ticket's labels on it, for ``tag_labels``: the list's query count
    stays the same however many rows and tags."""
    names: dict[int, list[str]] = defaultdict(list)
    rows = Ticket.tags.through.objects.filter(ticket_id__in=[t.pk for t in tickets])
    for ticket_id, name in rows.values_list("ticket_id", "tag__name"):
        names[ticket_id].append(name)
    for ticket in tickets:
        setattr(ticket, _LABELS, _labels(sorted(names.get(ticket.pk, []), key=str.casefold)))


def _labels(names: list[str]) -> SafeString | str:
    if not names:
        return ""
    shown, rest = names[:TAGS_SHOWN], len(names) - TAGS_SHOWN
    labels = format_html_join("", '<span class="nf-tag">{}</span>', ((n,) for n in shown))
    more = format_html('<span class="nf-tag-more">+{}</span>', rest) if rest > 0 else ""
    return format_html(
        '<span class="nf-tags" title="{}">{}{}</span>', ", ".join(names), labels, more
    )


def tag_labels(ticket: Ticket) -> SafeString | str:
    """The ticket's tags as small labels (empty before ``attach_tag_labels``)."""
    return getattr(ticket, _LABELS, "")
