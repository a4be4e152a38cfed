"""The admin toolkit: what every app's admin classes are built from.

- ``RolePermissionsMixin``: permissions from the user's role (agents are staff without
  Django permission rows), and the generic ``admin.added/changed/deleted`` events for
  models that have no services of their own;
- ``ReadOnlyInline`` and ``RecordAdmin``: rows that are part of the record, never edited;
- ``ServiceRefused``, ``refusals_to_form`` and ``ServiceFormAdminMixin``: a service's
  refusal shown as a form error instead of a server error;
- ``related_count``, ``plural`` and ``report_failures``: list columns and messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, Model, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, gettext_noop, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from eventlog.personal import person_of, personal
from eventlog.services import event_record
from nixflow.events import ADMIN_ADDED, ADMIN_CHANGED, ADMIN_DELETED
from nixflow.models import Comment, HistoryLog, Role, Ticket, User
from nixflow.toolkit.errors import error_text

Row = TypeVar("Row")

# --- Who may do what ---------------------------------------------------------------------
VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
EVERYTHING = frozenset({VIEW, ADD, CHANGE, DELETE})
READ_ONLY = frozenset({VIEW})


class RolePermissionsMixin:
    """Admin permissions from the user's role instead of Django's permission rows.

    Agents are staff without permissions of their own, so each admin class says what
    agents, admins and superusers may do with its model. Requesters get nothing, even
    if someone made one staff.
    """

    agent_actions: frozenset[str] = READ_ONLY
    admin_actions: frozenset[str] = EVERYTHING
    superuser_actions: frozenset[str] | None = None  # None: the same as admins

    def _actions(self, request: HttpRequest) -> frozenset[str]:
        user = request.user
        if not (user.is_active and user.is_staff):
            return frozenset()
        if user.is_superuser:
            return self.admin_actions if self.superuser_actions is None else self.superuser_actions
        role = getattr(user, "role", None)
        if role == Role.ADMIN:
            return self.admin_actions
        if role == Role.AGENT:
            return self.agent_actions
        return frozenset()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool({VIEW, CHANGE} & self._actions(request))

    # `obj: Any`: a row of whichever model the admin class is for, which its own
    # overrides name (a Model here would make every such override incompatible).
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool({VIEW, CHANGE} & self._actions(request))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return ADD in self._actions(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return CHANGE in self._actions(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return DELETE in self._actions(request)

    # What is added, changed or deleted here is also recorded in the event log
    # (admin.added, admin.changed with the admin's own change message: which fields and
    # inline rows, never their values; admin.deleted), in the saving transaction. Django's
    # LogEntry says the same, but anyone with database access can edit it; configuration
    # (workflows, SLA policies, mail accounts, users' roles) is part of the audit trail.
    # False where every write goes through services that record their own events.
    record_admin_events: bool = True

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        self._record_admin_event(request, ADMIN_ADDED, obj, {"change": message})
        return entry

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        self._record_admin_event(request, ADMIN_CHANGED, obj, {"change": message})
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        entries = super().log_deletions(request, queryset)  # type: ignore[misc]
        # The delete page runs in a transaction with the deletion; the bulk "delete
        # selected" action does not, and then the events commit just before it (as
        # Django's LogEntry rows do).
        with transaction.atomic():
            for obj in queryset:
                self._record_admin_event(request, ADMIN_DELETED, obj, {})
        return entries

    def _record_admin_event(
        self, request: HttpRequest, type: str, obj: Model, payload: dict[str, Any]
    ) -> None:
        if self.record_admin_events:
            label: Any = str(obj)[:200]
            if isinstance(obj, User):  # a person's username: under their key
                label = personal(label, person=person_of(obj))
            event_record(
                type=type,
                subject=obj,
                actor=request.user,
                payload={"object": label, **payload},
            )


class ReadOnlyInline(RolePermissionsMixin, admin.TabularInline):
    """Rows shown as part of the record (a conversation, history, attachments): listed
    with their ``fields``, never added, changed or deleted here, by anyone."""

    extra = 0
    can_delete = False
    agent_actions = admin_actions = READ_ONLY

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields or ()


# --- Saving through services -------------------------------------------------------------
class ServiceRefused(Exception):  # noqa: N818 -- an outcome, named like PermissionDenied
    """A service refused a change the admin's forms had accepted."""

    def __init__(self, error: ValidationError | PermissionDenied) -> None:
        super().__init__(str(error))
        self.error = error


@contextmanager
def refusals_to_form(context: str | None = None) -> Iterator[None]:
    """Turn a service's ValidationError or PermissionDenied into ServiceRefused.

    ``context`` prefixes the message when it is about an inline row (it is shown at the
    top of the form, where a field name alone would not say which row).
    """
    try:
        yield
    except (ValidationError, PermissionDenied) as error:
        shown = error if context is None else ValidationError(f"{context}: {error_text(error)}")
        raise ServiceRefused(shown) from error


class ServiceRefusalMixin:
    """Shows a service's refusal as the form's errors (a mixin for ModelForms).

    The admin validates a form, then saves it through the services; a service can still
    refuse (a concurrent change, a rule of a feature app that listens to ticket events).
    The admin then rolls the whole change back and renders the same POST again with a
    form class that carries the refusal (see ``ServiceFormAdminMixin`` below).
    """

    refusal: ValidationError | PermissionDenied | None = None

    def clean(self) -> dict[str, Any]:
        cleaned_data: dict[str, Any] = super().clean()  # type: ignore[misc]
        if self.refusal is not None:
            add_refusal(self, self.refusal)  # type: ignore[arg-type]
        return cleaned_data


def add_refusal(form: forms.BaseForm, error: ValidationError | PermissionDenied) -> None:
    """Errors on the form's fields where the service named one, else on the form."""
    if isinstance(error, PermissionDenied):
        form.add_error(None, str(error) or gettext("You are not allowed to make this change."))
    elif hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


_REFUSAL = "_nixflow_service_refusal"


class ServiceFormAdminMixin:
    """Shows a service's refusal as a form error instead of a server error.

    The forms validate what they can (allowed stages, active agents), but a service may
    still refuse when save_model or save_formset calls it: a concurrent change, or a
    feature app's receiver of the ticket event. Django runs the POST of a change form in
    one transaction, so the exception rolls back everything the services already did;
    the view is then run again on the same POST, with form classes that add the refusal
    to their errors, and renders the page like any invalid form.
    """

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except ServiceRefused as refused:
            setattr(request, _REFUSAL, refused.error)
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        # change by name: django.contrib.auth's UserAdmin.get_form takes it as a keyword.
        form: type[ModelForm] = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        refusal = getattr(request, _REFUSAL, None)
        if refusal is None:
            return form
        return type(form.__name__, (ServiceRefusalMixin, form), {"refusal": refusal})


def related_count(queryset: QuerySet[Any], field: str) -> Coalesce:
    """A correlated COUNT for list columns: unlike Count() over joins, counts of two
    relations don't multiply each other, and each uses the index on ``field``."""
    counts = queryset.filter(**{field: OuterRef("pk")}).order_by().values(field)
    return Coalesce(
        Subquery(counts.annotate(n=Count("*")).values("n"), output_field=IntegerField()), 0
    )


# The nouns bulk actions count, in the active language ("3 Tickets"); another noun
# (a model's verbose_name, already translated) gets the English plural of ``plural``.
COUNTED = {
    "ticket": ngettext_lazy("%(count)d ticket", "%(count)d tickets", "count"),
    "message": ngettext_lazy("%(count)d message", "%(count)d messages", "count"),
    "tag": ngettext_lazy("%(count)d tag", "%(count)d tags", "count"),
    "article": ngettext_lazy("%(count)d article", "%(count)d articles", "count"),
    "submission": ngettext_lazy("%(count)d submission", "%(count)d submissions", "count"),
    "feedback item": ngettext_lazy("%(count)d feedback item", "%(count)d feedback items", "count"),
    "comment": ngettext_lazy("%(count)d comment", "%(count)d comments", "count"),
}

# What the admin's bulk actions pass as ``failed`` to report_failures and bulk_apply,
# for the catalogs; report_failures translates whatever it is given.
FAILED_PHRASES = (
    gettext_noop("Could not assign"),
    gettext_noop("Could not delete"),
    gettext_noop("Could not merge"),
    gettext_noop("Could not move"),
    gettext_noop("Could not reject"),
    gettext_noop("Could not release"),
    gettext_noop("Could not resend"),
    gettext_noop("Could not send the confirmation mail of"),
    gettext_noop("Could not tag"),
    gettext_noop("Could not untag"),
    gettext_noop("Did not change"),
)


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """3, "ticket" → "3 tickets"; 1, "ticket" → "1 ticket"; in the active language for
    the nouns of ``COUNTED``."""
    if plural is None and singular in COUNTED:
        return str(COUNTED[singular] % {"count": count})
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


MAX_LISTED_ERRORS = 10


def report_failures(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    what: str,
    failures: list[str],
    *,
    noun: str = "ticket",
) -> None:
    """One error message for a bulk action's failures: "Could not move 3 tickets: NF-1:
    ...; NF-2: ...", the first MAX_LISTED_ERRORS of them listed."""
    if not failures:
        return
    shown = "; ".join(failures[:MAX_LISTED_ERRORS])
    more = len(failures) - MAX_LISTED_ERRORS
    suffix = gettext("; and %(count)d more") % {"count": more} if more > 0 else ""
    model_admin.message_user(
        request,
        gettext("%(failed)s %(items)s: %(failures)s%(more)s.")
        % {
            "failed": gettext(what),
            "items": plural(len(failures), noun),
            "failures": shown.rstrip("."),
            "more": suffix,
        },
        messages.ERROR,
    )


def bulk_apply(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[Row],
    do: Callable[[Row], object],
    *,
    label: Callable[[Row], str],
    failed: str,
    noun: str = "ticket",
) -> int:
    """The body of a bulk admin action: ``do`` (one service call) for each row, every
    refusal reported in one error message ("Could not move 2 tickets: NF-1: ..."), and
    the number of rows it changed returned for the action's own success message."""
    done, failures = 0, []
    for row in rows:
        try:
            do(row)
        except (ValidationError, PermissionDenied) as error:
            failures.append(f"{label(row)}: {error_text(error)}")
        else:
            done += 1
    report_failures(model_admin, request, failed, failures, noun=noun)
    return done


# --- The record, read-only ---------------------------------------------------------------
class RecordAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """Rows about tickets, listed newest first and found by ticket key. Ordered by id
    (the primary key index) rather than by time, which has no index of its own."""

    agent_actions = admin_actions = READ_ONLY
    ordering: ClassVar[tuple[str, ...]] = ("-id",)
    show_full_result_count = False
    search_fields = ("ticket__id",)
    search_help_text = _("A ticket key, such as NF-12.")

    @admin.display(description=_("ticket"), ordering="ticket_id")
    def ticket_key(self, obj: Comment | HistoryLog) -> str:
        return Ticket.key_for(obj.ticket_id)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if not search_term.strip():
            return queryset, False
        number = Ticket.number_from_key(search_term.strip())
        return (queryset.none() if number is None else queryset.filter(ticket_id=number)), False
