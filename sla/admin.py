"""SLA in the staff UI: calendars and policies (admins change them, agents read them),
the clocks and breaches on tickets (read-only for everyone), and the bulk
acknowledgement of breaches through ``sla.services.breach_acknowledge``.

Calendars and policies are saved, with their inline rows, by the same services the API
calls (``sla.services``): one ``sla.policy.*``/``sla.calendar.*`` event per save or
deletion, the same event the API records for the same change, instead of the generic
``admin.*`` ones. Clocks and breaches are written only by ``sla.clocks`` and the
monitor; nobody edits or deletes them here, superusers included.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, Model, OuterRef, QuerySet
from django.db.models.fields import Field
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext

from nixflow.models import Ticket, User
from nixflow.toolkit.admin import VIEW, RecordAdmin, RolePermissionsMixin
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.changelist import FastListAdmin
from nixflow.toolkit.config_admin import ConfigurationAdmin
from nixflow.toolkit.formats import format_duration
from sla import services
from sla.models import (
    BusinessCalendar,
    CalendarHoliday,
    SLABreach,
    SLAMetric,
    SLAPolicy,
    SLATarget,
    WorkingInterval,
)

ACKNOWLEDGE = "acknowledge"
# Rows named on the confirmation page and in messages; the rest are counted.
MAX_LISTED = 100
MAX_LISTED_IN_MESSAGE = 10


def _ticket_link(ticket_id: int) -> SafeString:
    url = reverse("admin:nixflow_ticket_change", args=[ticket_id])
    return format_html('<a href="{}">{}</a>', url, Ticket.key_for(ticket_id))


class SLAConfigurationAdmin(ConfigurationAdmin):
    """Calendars and policies: saved and deleted by the services their ``writes`` name
    (the same the API's viewsets call)."""

    writes: services.ConfigurationWrites

    def create_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return self.writes.create(actor=actor, data=data, rows=rows)

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return self.writes.update(row=obj, actor=actor, data=data, rows=rows)

    def delete_with(self, obj: Any, actor: User) -> None:
        self.writes.delete(row=obj, actor=actor)


# --- Calendars ---------------------------------------------------------------------------
class WorkingIntervalInline(RolePermissionsMixin, admin.TabularInline):
    model = WorkingInterval
    fields = ("weekday", "start", "end")
    extra = 1


class CalendarHolidayInline(RolePermissionsMixin, admin.TabularInline):
    model = CalendarHoliday
    fields = ("date", "name")
    extra = 1


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(SLAConfigurationAdmin):
    """Working hours (none: 24x7) and holidays; model clean() checks the holiday country."""

    list_display = (
        "name",
        "time_zone",
        "holiday_country",
        "holiday_subdivision",
        "interval_count",
        "holiday_count",
        "policy_count",
    )
    search_fields = ("name",)
    inlines = (WorkingIntervalInline, CalendarHolidayInline)
    service_fields = services.CALENDAR_FIELDS
    writes = services.CALENDAR_WRITES
    row_arguments: ClassVar[dict[type[Model], str]] = {
        WorkingInterval: "intervals",
        CalendarHoliday: "holidays",
    }

    def get_queryset(self, request: HttpRequest) -> QuerySet[BusinessCalendar]:
        # A handful of calendars with a few dozen rows each: DISTINCT counts over the
        # three joins are cheap here.
        return (
            super()
            .get_queryset(request)
            .annotate(
                interval_count=Count("intervals", distinct=True),
                holiday_count=Count("holidays", distinct=True),
                policy_count=Count("policies", distinct=True),
            )
        )

    @admin.display(description=gettext_lazy("working intervals"), ordering="interval_count")
    def interval_count(self, calendar: BusinessCalendar) -> int | str:
        return calendar.interval_count or gettext("24x7")  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("listed holidays"), ordering="holiday_count")
    def holiday_count(self, calendar: BusinessCalendar) -> int:
        return calendar.holiday_count  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("policies"), ordering="policy_count")
    def policy_count(self, calendar: BusinessCalendar) -> int:
        return calendar.policy_count  # type: ignore[attr-defined]


# --- Policies ----------------------------------------------------------------------------
class SLATargetInline(RolePermissionsMixin, admin.TabularInline):
    """One row per (priority, metric); the formset refuses duplicates (sla_target_unique)."""

    model = SLATarget
    fields = ("priority", "metric_type", "minutes")

    def get_extra(self, request: HttpRequest, obj: SLAPolicy | None = None, **kwargs: Any) -> int:
        return 3 if obj is None else 1


@admin.register(SLAPolicy)
class SLAPolicyAdmin(SLAConfigurationAdmin):
    """Which tickets a policy applies to (the first active match by order) and its
    targets per priority and metric."""

    list_display = (
        "name",
        "order",
        "is_active",
        "conditions",
        "calendar",
        "target_count",
        "escalation_email",
    )
    list_filter = ("is_active", "calendar")
    list_select_related = ("workflow", "calendar")
    search_fields = ("name",)
    inlines = (SLATargetInline,)
    fieldsets = (
        (None, {"fields": ("name", "order", "is_active")}),
        (gettext_lazy("Applies to"), {"fields": ("workflow", "priorities", "sources")}),
        (
            gettext_lazy("Clocks"),
            {"fields": ("calendar", "warning_threshold", "escalation_email")},
        ),
    )
    service_fields = services.POLICY_FIELDS
    writes = services.POLICY_WRITES
    row_arguments: ClassVar[dict[type[Model], str]] = {SLATarget: "targets"}

    def get_queryset(self, request: HttpRequest) -> QuerySet[SLAPolicy]:
        return super().get_queryset(request).annotate(target_count=Count("targets"))

    @admin.display(description=gettext_lazy("targets"), ordering="target_count")
    def target_count(self, policy: SLAPolicy) -> int:
        return policy.target_count  # type: ignore[attr-defined]

    @admin.display(description=gettext_lazy("conditions"))
    def conditions(self, policy: SLAPolicy) -> str:
        parts = []
        if policy.workflow is not None:
            parts.append(gettext("workflow %(name)s") % {"name": policy.workflow.name})
        if policy.priorities:
            parts.append(gettext("priority %(values)s") % {"values": ", ".join(policy.priorities)})
        if policy.sources:
            parts.append(gettext("source %(values)s") % {"values": ", ".join(policy.sources)})
        return "; ".join(parts) or gettext("every ticket")

    def formfield_for_dbfield(self, db_field: Field, request: HttpRequest, **kwargs: Any) -> Any:
        # Priorities and sources as checkboxes, not a comma-separated text field.
        if isinstance(db_field, ArrayField) and db_field.base_field.choices:
            return forms.TypedMultipleChoiceField(
                choices=db_field.base_field.choices,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                label=db_field.verbose_name.capitalize(),
                help_text=db_field.help_text,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """A policy with clocks can't be deleted (PROTECT). Say so without collecting
        them, which Django's confirmation page would list one by one."""
        in_use = SLAPolicy.objects.filter(pk__in=[p.pk for p in objs]).filter(
            Exists(SLAMetric.objects.filter(policy=OuterRef("pk")))
        )
        protected = [
            gettext("%(policy)s: it has clocks on tickets (deactivate it instead)")
            % {"policy": p.name}
            for p in in_use
        ]
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)


# --- Clocks and breaches -----------------------------------------------------------------
class TicketRecordAdmin(FastListAdmin, RecordAdmin):
    """Read-only rows about tickets, found by ticket key (RecordAdmin's search), paged
    by keys past the first pages with capped counts (nixflow.toolkit.changelist)."""

    list_select_related: ClassVar[tuple[str, ...]] = ()  # the list's joins besides the ticket

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # str(row), which the list's checkboxes use as their label, names the ticket:
        # join it (by primary key, without its text) rather than query it once per row.
        # The ChangeList applies list_select_related only to a queryset that has no
        # select_related yet, so the list's own joins are added here too.
        return (
            super()
            .get_queryset(request)
            .select_related("ticket", *self.list_select_related)
            .defer("ticket__description")
        )

    @admin.display(description=gettext_lazy("ticket"), ordering="ticket_id")
    def ticket_link(self, obj: SLAMetric | SLABreach) -> SafeString:
        return _ticket_link(obj.ticket_id)


@admin.register(SLAMetric)
class SLAMetricAdmin(TicketRecordAdmin):
    list_display = (
        "metric_type",
        "ticket_link",
        "status",
        "policy",
        "started_at",
        "deadline",
        "completed_at",
    )
    list_display_links = ("metric_type",)
    list_filter = ("status", "metric_type", "policy")
    list_select_related = ("policy",)
    # Newest first along the primary key; the ticket column sorts on sla_metric_ticket.
    sortable_by = ("ticket_link",)
    # The clock's page: business time as the whole admin writes durations ("2 h 15 min"),
    # not as the seconds it is counted in.
    fields = (
        "ticket_link",
        "metric_type",
        "policy",
        "status",
        "target",
        "used",
        "paused_for",
        "started_at",
        "running_since",
        "paused_at",
        "warning_at",
        "deadline",
        "completed_at",
    )
    readonly_fields = ("ticket_link", "target", "used", "paused_for")

    @admin.display(description=gettext_lazy("target (business time)"))
    def target(self, metric: SLAMetric) -> str:
        return format_duration(metric.target_seconds)

    @admin.display(description=gettext_lazy("used (business time)"))
    def used(self, metric: SLAMetric) -> str:
        return format_duration(metric.elapsed_seconds)

    @admin.display(description=gettext_lazy("paused for (business time)"))
    def paused_for(self, metric: SLAMetric) -> str:
        return format_duration(metric.paused_seconds)


# A list filter, alike in shape to the core's and knowledge's: other lookups.
class AcknowledgedFilter(admin.SimpleListFilter):
    title = gettext_lazy("acknowledged")
    parameter_name = "acknowledged"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", gettext("Yes")), ("no", gettext("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SLABreach]) -> QuerySet[SLABreach]:
        if self.value() in {"yes", "no"}:
            return queryset.filter(acknowledged_at__isnull=self.value() == "no")
        return queryset


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        required=False,
        max_length=2000,
        help_text=gettext_lazy(
            "Why it happened or what was done about it; recorded on each breach."
        ),
    )


@admin.register(SLABreach)
class SLABreachAdmin(TicketRecordAdmin):
    agent_actions = admin_actions = frozenset({VIEW, ACKNOWLEDGE})
    list_display = (
        "breach_type",
        "ticket_link",
        "policy",
        "breached_at",
        "acknowledged_by",
        "acknowledged_at",
    )
    list_display_links = ("breach_type",)
    list_filter = ("breach_type", "policy", AcknowledgedFilter)
    list_select_related = ("policy", "acknowledged_by")
    # Latest first along sla_breach_time (-breached_at).
    ordering = ("-breached_at", "-id")
    sortable_by = ("ticket_link", "breached_at")
    actions = ("acknowledge_selected",)
    acknowledge_confirmation_template = "admin/sla/slabreach/acknowledge_selected_confirmation.html"

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return ACKNOWLEDGE in self._actions(request)

    @admin.action(
        description=gettext_lazy("Acknowledge selected breaches"), permissions=[ACKNOWLEDGE]
    )
    def acknowledge_selected(
        self, request: HttpRequest, queryset: QuerySet[SLABreach]
    ) -> TemplateResponse | None:
        """Ask for a note on a confirmation page (as Django's delete action does); its
        POST acknowledges each breach through the service, which refuses the ones
        acknowledged already, so that nobody's acknowledgement is overwritten."""
        confirmed = request.POST.get("confirm") == "yes"
        form = AcknowledgeForm(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            self._acknowledge(request, queryset, note=form.cleaned_data["note"])
            return None  # back to the list, which shows the messages

        total = queryset.count()
        shown = list(queryset.select_related("acknowledged_by").order_by("pk")[:MAX_LISTED])
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Acknowledge SLA breaches"),
            "subtitle": None,
            "opts": self.model._meta,
            "form": form,
            "breaches": [
                {
                    "key": _ticket_link(breach.ticket_id),
                    "type": breach.get_breach_type_display(),
                    "breached_at": breach.breached_at,
                    "acknowledged_by": breach.acknowledged_by,
                    "acknowledged_at": breach.acknowledged_at,
                }
                for breach in shown
            ],
            "total": total,
            "more": total - len(shown),
            "already": queryset.filter(acknowledged_at__isnull=False).count(),
            # Posted back as they came, so that "select all N" and the list's filters
            # (kept in the form's URL) still choose the same breaches.
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": request.POST.get("action", "acknowledge_selected"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.acknowledge_confirmation_template, context)

    def _acknowledge(self, request: HttpRequest, queryset: QuerySet[SLABreach], note: str) -> None:
        acknowledged, already, failed = 0, [], []
        for breach in queryset.order_by("pk"):
            key = f"{Ticket.key_for(breach.ticket_id)} {breach.get_breach_type_display()}"
            try:
                services.breach_acknowledge(breach=breach, actor=signed_in_user(request), note=note)
            except ValidationError as error:
                # The service's one refusal: "Already acknowledged by … at …".
                already.append(f"{key}: {' '.join(error.messages)}")
            except PermissionDenied as error:
                failed.append(f"{key}: {error}")
            else:
                acknowledged += 1
        if acknowledged:
            self.message_user(
                request,
                ngettext(
                    "Acknowledged %(count)s breach.",
                    "Acknowledged %(count)s breaches.",
                    acknowledged,
                )
                % {"count": acknowledged},
            )
        if already:
            self.message_user(
                request,
                ngettext(
                    "%(count)s breach had been acknowledged before and keep that "
                    "acknowledgement: %(breaches)s",
                    "%(count)s breaches had been acknowledged before and keep that "
                    "acknowledgement: %(breaches)s",
                    len(already),
                )
                % {"count": len(already), "breaches": self._listing(already)},
                messages.WARNING,
            )
        if failed:
            self.message_user(
                request,
                ngettext(
                    "Could not acknowledge %(count)s breach: %(breaches)s",
                    "Could not acknowledge %(count)s breaches: %(breaches)s",
                    len(failed),
                )
                % {"count": len(failed), "breaches": self._listing(failed)},
                messages.ERROR,
            )

    @staticmethod
    def _listing(items: list[str]) -> str:
        shown = "; ".join(items[:MAX_LISTED_IN_MESSAGE])
        more = len(items) - MAX_LISTED_IN_MESSAGE
        if more <= 0:
            return shown
        return gettext("%(shown)s; and %(more)s more") % {"shown": shown, "more": more}
