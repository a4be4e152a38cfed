"""The admin's side of data-subject requests: the record of requests, a page to export
or erase a person by address, and the same two as actions on the people list.

Only admins (the admin role or a superuser) see any of it: an export hands out
everything about a person, and an erasure cannot be undone.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext, gettext_lazy

from nixflow.models import User
from nixflow.toolkit.auth import is_admin, signed_in_user
from privacy import registry
from privacy.forms import EraseForm, PersonForm
from privacy.models import PrivacyRequest
from privacy.services import (
    is_staff_account,
    person_erase,
    person_export,
    person_lookup,
    record_count,
)


def _require_admin(request: HttpRequest) -> User:
    user = signed_in_user(request)
    if not is_admin(user):
        raise PermissionDenied
    return user


def _download(content: bytes, request: PrivacyRequest) -> HttpResponse:
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="person-{request.request_id}.zip"'
    return response


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(admin.ModelAdmin):
    list_display = ("created", "kind", "request_id", "actor", "total", "files", "legacy_events")
    list_filter = ("kind",)
    readonly_fields = (
        "request_id", "kind", "actor", "created", "records", "files", "legacy_events", "archive",
    )  # fmt: skip
    fields = readonly_fields
    change_list_template = "admin/privacy/privacyrequest/change_list.html"

    @admin.display(description=gettext_lazy("records"))
    def total(self, obj: PrivacyRequest) -> int:
        return sum(obj.counts.values())

    @admin.display(description=gettext_lazy("records per source"))
    def records(self, obj: PrivacyRequest) -> str:
        changed = [f"{name}: {count}" for name, count in sorted(obj.counts.items()) if count]
        return ", ".join(changed) or gettext("none")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin(request.user)

    # The record is written by the services only, and kept.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="privacy_export"),
            path("erase/", view(self.erase_view), name="privacy_erase"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.model._meta,
            **extra,
        }

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Enter an address, download the archive (also kept in the file storage)."""
        actor = _require_admin(request)
        form = PersonForm(request.POST or request.GET or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = person_export(email=form.cleaned_data["email"], actor=actor)
            except ValidationError as error:
                form.add_error("email", error.messages)
            else:
                return _download(result.content, result.request)
        return TemplateResponse(
            request,
            "admin/privacy/privacyrequest/export.html",
            self._context(request, gettext("Export a person's data"), form=form),
        )

    def erase_view(self, request: HttpRequest) -> HttpResponse:
        """Enter an address (or come from the people list), see what the desk holds,
        type the address again, erase."""
        actor = _require_admin(request)
        if request.method == "POST" and "confirm" in request.POST:
            form: PersonForm | EraseForm = EraseForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    result = person_erase(
                        email=data["email"], actor=actor, include_staff=data["include_staff"]
                    )
                except ValidationError as error:
                    form.add_error(None, error.messages)
                else:
                    self.message_user(
                        request,
                        gettext("Erased: %(total)d records, %(files)d files (request %(id)s).")
                        % {
                            "total": sum(result.request.counts.values()),
                            "files": result.files_deleted,
                            "id": result.request.request_id,
                        },
                        messages.SUCCESS,
                    )
                    if result.request.legacy_events:
                        self.message_user(
                            request,
                            gettext(
                                "%(count)d events recorded before per-person encryption "
                                "still name this person; the event log cannot be rewritten."
                            )
                            % {"count": result.request.legacy_events},
                            messages.WARNING,
                        )
                    return HttpResponseRedirect(
                        reverse("admin:privacy_privacyrequest_change", args=[result.request.pk])
                    )
            return self._confirmation(request, form, form.data.get("email", ""))
        form = PersonForm(request.POST or request.GET or None)
        if form.is_valid():
            email = form.cleaned_data["email"]
            return self._confirmation(
                request, EraseForm(initial={"email": email}), email, lookup_form=form
            )
        return TemplateResponse(
            request,
            "admin/privacy/privacyrequest/erase_start.html",
            self._context(request, gettext("Erase a person's data"), form=form),
        )

    def _confirmation(
        self,
        request: HttpRequest,
        form: PersonForm | EraseForm,
        email: str,
        lookup_form: PersonForm | None = None,
    ) -> HttpResponse:
        try:
            person = person_lookup(email=email, erased_before_ok=True)
        except ValidationError as error:
            start = lookup_form or PersonForm(initial={"email": email})
            return TemplateResponse(
                request,
                "admin/privacy/privacyrequest/erase_start.html",
                self._context(
                    request, gettext("Erase a person's data"), form=start, errors=error.messages
                ),
            )
        held = [
            (source.description, record_count(source.exporter(person).data))
            for source in registry.sources()
        ]
        return TemplateResponse(
            request,
            "admin/privacy/privacyrequest/erase_confirm.html",
            self._context(
                request,
                gettext("Erase %(address)s?") % {"address": person.email},
                form=form,
                email=person.email,
                held=[row for row in held if row[1]],
                is_staff=person.user is not None and is_staff_account(person.user),
            ),
        )


# --- Actions on the people list ----------------------------------------------------------
@admin.action(description=gettext_lazy("Export personal data (zip)"), permissions=["privacy"])
def export_personal_data(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[User]
) -> HttpResponse | None:
    actor = _require_admin(request)
    people = list(queryset[:2])
    if len(people) != 1 or not people[0].email:
        modeladmin.message_user(
            request, gettext("Select one person with an e-mail address to export."), messages.ERROR
        )
        return None
    try:
        result = person_export(email=people[0].email, actor=actor)
    except ValidationError as error:
        modeladmin.message_user(request, " ".join(error.messages), messages.ERROR)
        return None
    return _download(result.content, result.request)


@admin.action(description=gettext_lazy("Erase personal data…"), permissions=["privacy"])
def erase_personal_data(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[User]
) -> HttpResponse | None:
    _require_admin(request)
    people = list(queryset[:2])
    if len(people) != 1 or not people[0].email:
        modeladmin.message_user(
            request, gettext("Select one person with an e-mail address to erase."), messages.ERROR
        )
        return None
    # The confirmation page, where the address must be typed again.
    return HttpResponseRedirect(
        reverse("admin:privacy_erase") + "?" + urlencode({"email": people[0].email})
    )


def _extend_user_admin() -> None:
    """Add the two actions to the people list registered by the core, which knows
    nothing of this app (dependencies point one way)."""
    user_admin = admin.site._registry.get(User)
    if user_admin is None:
        return
    user_admin.actions = [
        *(user_admin.actions or []),
        export_personal_data,
        erase_personal_data,
    ]
    user_admin.has_privacy_permission = lambda request: is_admin(request.user)  # type: ignore[attr-defined]


_extend_user_admin()
