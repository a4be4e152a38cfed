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

from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, Model, OuterRef, QuerySet
from django.db.models.fields import Field
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from nixflow.models import Ticket, User
from nixflow.toolkit.admin import (
    VIEW,
    RecordAdmin,
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    refusals_to_form,
)
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.errors import error_text
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

if TYPE_CHECKING:  # a dependency of the type checker only
    from django_stubs_ext import StrOrPromise

ACKNOWLEDGE = "acknowledge"
# Rows named on the confirmation page and in messages; the rest are counted.
MAX_LISTED = 100
MAX_LISTED_IN_MESSAGE = 10


def _ticket_link(ticket_id: int) -> SafeString:
    url = reverse("admin:nixflow_ticket_change", args=[ticket_id])
    return format_html('<a href="{}">{}</a>', url, Ticket.key_for(ticket_id))


def _breaches(count: int) -> str:
    return f"{count} breach{'' if count == 1 else 'es'}"


# --- Saving configuration through its services -------------------------------------------
def _rows(formset: BaseInlineFormSet) -> list[dict[str, Any]]:
    """The rows an inline formset ends up with (kept, changed and new ones, not the
    deleted ones or blank extra forms), as the service takes them."""
    fields = [name for name in formset.form.base_fields if name not in {"id", "DELETE"}]
    fk = formset.fk.name
    deleted = formset.deleted_forms
    return [
        {name: form.cleaned_data[name] for name in fields if name != fk}
        for form in formset.forms
        if form not in deleted and (form in formset.initial_forms or form.has_changed())
    ]


_REFUSED_DELETION = "_sla_refused_deletion"


class ConfigurationAdmin(ServiceFormAdminMixin, RolePermissionsMixin, admin.ModelAdmin):
    """A configuration model saved with its inline rows by one service call, so that a
    save is one domain event (the services record it; no generic admin event)."""

    record_admin_events = False
    # The model form's fields the services take.
    service_fields: tuple[str, ...] = ()
    # Inline row model -> the service's argument for its rows.
    row_arguments: ClassVar[dict[type[Model], str]] = {}

    def create_with(self, actor: User, data: dict[str, Any], rows: dict[str, Any]) -> Model:
        raise NotImplementedError

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        raise NotImplementedError

    def delete_with(self, obj: Any, actor: User) -> None:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        """Nothing yet: the row and its inline rows are saved together in save_related."""

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list[Any], change: bool
    ) -> None:
        data = {name: form.cleaned_data[name] for name in self.service_fields}
        if change:  # as a PATCH: what the form changed, and the rows only if they changed
            data = {name: value for name, value in data.items() if name in form.changed_data}
        rows = {
            self.row_arguments[formset.model]: _rows(formset)
            for formset in formsets
            if not change or formset.has_changed()
        }
        for formset in formsets:
            formset.save(commit=False)  # only for the admin's change message: what changed
        actor = signed_in_user(request)
        with refusals_to_form():
            if change:
                saved = self.update_with(form.instance, actor, data, rows)
            else:
                saved = self.create_with(actor, data, rows)
        # The admin carries on with the form's instance (its log entry, the redirect).
        for field in saved._meta.concrete_fields:
            setattr(form.instance, field.attname, getattr(saved, field.attname))
        form.instance._state.adding = False
        form.instance._state.db = saved._state.db

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        self._delete(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        deleted = sum(self._delete(request, obj) for obj in queryset)
        if deleted and getattr(request, _REFUSED_DELETION, False):
            # Django's "Successfully deleted N" is held back (message_user): say how many.
            names = self.opts.verbose_name_plural if deleted > 1 else self.opts.verbose_name
            super().message_user(request, f"Deleted {deleted} {names}.", messages.SUCCESS)

    def _delete(self, request: HttpRequest, obj: Model) -> bool:
        try:
            self.delete_with(obj, signed_in_user(request))
        except (ValidationError, PermissionDenied) as error:
            # The confirmation page checked what is in use; this is a row that came in
            # use since. A message, not a 500.
            shown = f"{obj} was not deleted: {error_text(error)}"
            self.message_user(request, shown, messages.ERROR)
            setattr(request, _REFUSED_DELETION, True)
            return False
        return True

    def message_user(
        self,
        request: HttpRequest,
        message: StrOrPromise,
        level: int | str = messages.INFO,
        extra_tags: str = "",
        fail_silently: bool = False,
    ) -> None:
        # After a refused deletion, Django's own success message ("... was deleted
        # successfully", "Successfully deleted N ...") would be wrong: held back.
        if level == messages.SUCCESS and getattr(request, _REFUSED_DELETION, False):
            return
        super().message_user(request, message, level, extra_tags, fail_silently)


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
class BusinessCalendarAdmin(ConfigurationAdmin):
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
    row_arguments: ClassVar[dict[type[Model], str]] = {
        WorkingInterval: "intervals",
        CalendarHoliday: "holidays",
    }

    def create_with(self, actor: User, data: dict[str, Any], rows: dict[str, Any]) -> Model:
        return services.business_calendar_create(actor=actor, **data, **rows)

    def update_with(
        self, obj: BusinessCalendar, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.business_calendar_update(calendar=obj, actor=actor, data=data, **rows)

    def delete_with(self, obj: BusinessCalendar, actor: User) -> None:
        services.business_calendar_delete(calendar=obj, actor=actor)

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

    @admin.display(description="working intervals", ordering="interval_count")
    def interval_count(self, calendar: BusinessCalendar) -> int | str:
        return calendar.interval_count or "24x7"  # type: ignore[attr-defined]

    @admin.display(description="listed holidays", ordering="holiday_count")
    def holiday_count(self, calendar: BusinessCalendar) -> int:
        return calendar.holiday_count  # type: ignore[attr-defined]

    @admin.display(description="policies", ordering="policy_count")
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
class SLAPolicyAdmin(ConfigurationAdmin):
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
        ("Applies to", {"fields": ("workflow", "priorities", "sources")}),
        ("Clocks", {"fields": ("calendar", "warning_threshold", "escalation_email")}),
    )
    service_fields = services.POLICY_FIELDS
    row_arguments: ClassVar[dict[type[Model], str]] = {SLATarget: "targets"}

    def create_with(self, actor: User, data: dict[str, Any], rows: dict[str, Any]) -> Model:
        return services.sla_policy_create(actor=actor, **data, **rows)

    def update_with(
        self, obj: SLAPolicy, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.sla_policy_update(policy=obj, actor=actor, data=data, **rows)

    def delete_with(self, obj: SLAPolicy, actor: User) -> None:
        services.sla_policy_delete(policy=obj, actor=actor)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SLAPolicy]:
        return super().get_queryset(request).annotate(target_count=Count("targets"))

    @admin.display(description="targets", ordering="target_count")
    def target_count(self, policy: SLAPolicy) -> int:
        return policy.target_count  # type: ignore[attr-defined]

    @admin.display(description="conditions")
    def conditions(self, policy: SLAPolicy) -> str:
        parts = []
        if policy.workflow is not None:
            parts.append(f"workflow {policy.workflow.name}")
        if policy.priorities:
            parts.append(f"priority {', '.join(policy.priorities)}")
        if policy.sources:
            parts.append(f"source {', '.join(policy.sources)}")
        return "; ".join(parts) or "every ticket"

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
        protected = [f"{p.name}: it has clocks on tickets (deactivate it instead)" for p in in_use]
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)


# --- Clocks and breaches -----------------------------------------------------------------
class TicketRecordAdmin(RecordAdmin):
    """Read-only rows about tickets, found by ticket key (RecordAdmin's search)."""

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

    @admin.display(description="ticket", ordering="ticket_id")
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


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "acknowledged"
    parameter_name = "acknowledged"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SLABreach]) -> QuerySet[SLABreach]:
        if self.value() in {"yes", "no"}:
            return queryset.filter(acknowledged_at__isnull=self.value() == "no")
        return queryset


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        required=False,
        max_length=2000,
        help_text="Why it happened or what was done about it; recorded on each breach.",
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

    @admin.action(description="Acknowledge selected breaches", permissions=[ACKNOWLEDGE])
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
            "title": "Acknowledge SLA breaches",
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
            self.message_user(request, f"Acknowledged {_breaches(acknowledged)}.")
        if already:
            self.message_user(
                request,
                f"{_breaches(len(already))} had been acknowledged before and keep that "
                f"acknowledgement: {self._listing(already)}",
                messages.WARNING,
            )
        if failed:
            self.message_user(
                request,
                f"Could not acknowledge {_breaches(len(failed))}: {self._listing(failed)}",
                messages.ERROR,
            )

    @staticmethod
    def _listing(items: list[str]) -> str:
        shown = "; ".join(items[:MAX_LISTED_IN_MESSAGE])
        more = len(items) - MAX_LISTED_IN_MESSAGE
        return f"{shown}; and {more} more" if more > 0 else shown
