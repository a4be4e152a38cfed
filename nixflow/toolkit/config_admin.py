"""Admin pages for configuration saved and deleted through an app's services.

SLA calendars and policies, knowledge categories and tags, custom forms and mail
accounts are all configuration with ``<entity>_create/_update/_delete`` services that
validate, lock and record the entity's own event (the same one the API records for the
same change). Their admin pages share one shape, written here once:

- ``ServiceDeleteMixin``: deletes through ``delete_with``. A refusal (the row came in use
  after the confirmation page, or the actor may not) is an error message, never a 500:
  on the delete page the whole POST is rolled back (Django's log entry included) and the
  editor is sent back to the row; in "delete selected" the other rows are deleted, one
  message says how many and one lists each refusal, and Django's "Successfully deleted
  N" (which would count the refused rows) is held back.
- ``ConfigurationAdmin``: also saves the form and its inline rows with one service call
  (``create_with``/``update_with``), so a save is one domain event and the admin records
  no generic ``admin.*`` event besides (``record_admin_events = False``); a service's
  refusal is shown on the form (``ServiceFormAdminMixin``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext

from nixflow.models import User
from nixflow.toolkit.admin import (
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    refusals_to_form,
    report_failures,
)
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.errors import error_text

_HOLD_SUCCESS = "_config_admin_hold_success_message"


class _DeleteRefused(Exception):  # noqa: N818 -- an outcome, like ServiceRefused
    """A delete service refused: rolls back the delete page's transaction (Django's log
    entry included) and is shown as a message instead."""

    def __init__(self, error: ValidationError | PermissionDenied) -> None:
        super().__init__(error_text(error))
        self.error = error


def inline_rows(formset: BaseInlineFormSet) -> list[dict[str, Any]]:
    """The rows an inline formset ends up with (kept, changed and new ones, not the
    deleted ones or blank extra forms), as a service takes them: one dict a row."""
    fields = [name for name in formset.form.base_fields if name not in {"id", "DELETE"}]
    fk = formset.fk.name
    deleted = formset.deleted_forms
    return [
        {name: form.cleaned_data[name] for name in fields if name != fk}
        for form in formset.forms
        if form not in deleted and (form in formset.initial_forms or form.has_changed())
    ]


class ServiceDeleteMixin:
    """Deletes through a service (``delete_with``); its refusal is an error message,
    never a 500, and what it refused is neither deleted nor logged."""

    def delete_with(self, obj: Any, actor: User) -> None:
        raise NotImplementedError

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)  # type: ignore[misc]
        except _DeleteRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
            opts = self.model._meta  # type: ignore[attr-defined]
            change = f"admin:{opts.app_label}_{opts.model_name}_change"
            return HttpResponseRedirect(reverse(change, args=[object_id]))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        try:
            self.delete_with(obj, signed_in_user(request))
        except (ValidationError, PermissionDenied) as error:
            raise _DeleteRefused(error) from error

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # Django's "delete selected" shows what is in use before it asks; a row that came
        # in use in the meantime is refused here and reported, the others are deleted.
        rows = list(queryset)
        failures = []
        for obj in rows:
            try:
                self.delete_with(obj, signed_in_user(request))
            except (ValidationError, PermissionDenied) as error:
                failures.append(f"{obj}: {error_text(error)}")
        if not failures:
            return  # Django says "Successfully deleted N …"
        # Its count would include the refused rows: held back (message_user), said here.
        setattr(request, _HOLD_SUCCESS, True)
        noun = str(queryset.model._meta.verbose_name)
        if deleted := len(rows) - len(failures):
            self.message_user(
                request,
                gettext("Deleted %(count)s %(items)s.")
                % {"count": deleted, "items": model_ngettext(queryset.model._meta, deleted)},
            )
        report_failures(self, request, "Could not delete", failures, noun=noun)  # type: ignore[arg-type]

    def message_user(self, request: HttpRequest, message: Any, *args: Any, **kwargs: Any) -> None:
        level = args[0] if args else kwargs.get("level", messages.INFO)
        if level == messages.SUCCESS and getattr(request, _HOLD_SUCCESS, False):
            return
        super().message_user(request, message, *args, **kwargs)  # type: ignore[misc]


class ConfigurationAdmin(
    ServiceDeleteMixin, ServiceFormAdminMixin, RolePermissionsMixin, admin.ModelAdmin
):
    """A configuration model saved with its inline rows by one service call and deleted
    through its service: one domain event per save or deletion, recorded by the service.

    A subclass names the form fields its services take (``service_fields``), the service
    argument for each inline's rows (``row_arguments``), and the three calls
    (``create_with``, ``update_with``, ``delete_with``)."""

    record_admin_events = False
    # The model form's fields the services take.
    service_fields: tuple[str, ...] = ()
    # Inline row model -> the service's argument for its rows.
    row_arguments: ClassVar[dict[type[Model], str]] = {}

    def create_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        """Create the row; ``obj`` is the form's unsaved instance, ``data`` its fields."""
        raise NotImplementedError

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        """Update ``obj``; on a change ``data`` and ``rows`` hold only what changed."""
        raise NotImplementedError

    def service_data(self, form: ModelForm, change: bool) -> dict[str, Any]:
        data = {name: form.cleaned_data[name] for name in self.service_fields}
        if change:  # as a PATCH: what the form changed
            data = {name: value for name, value in data.items() if name in form.changed_data}
        return data

    def service_rows(self, formsets: list[Any], change: bool) -> dict[str, Any]:
        rows = {
            self.row_arguments[formset.model]: inline_rows(formset)
            for formset in formsets
            if not change or formset.has_changed()  # as a PATCH: only rows that changed
        }
        for formset in formsets:
            formset.save(commit=False)  # only for the admin's change message: what changed
        return rows

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        """Nothing yet: the row and its inline rows are saved together in save_related."""

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list[Any], change: bool
    ) -> None:
        data = self.service_data(form, change)
        rows = self.service_rows(formsets, change)
        actor = signed_in_user(request)
        with refusals_to_form():
            if change:
                saved = self.update_with(form.instance, actor, data, rows)
            else:
                saved = self.create_with(form.instance, actor, data, rows)
        # The admin carries on with the form's instance (its log entry, the redirect).
        if saved is not form.instance:
            for field in saved._meta.concrete_fields:
                setattr(form.instance, field.attname, getattr(saved, field.attname))
        form.instance._state.adding = False
        form.instance._state.db = saved._state.db
