"""People in the admin: agents look requesters and colleagues up; admins manage them."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Field, Model
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy

from nixflow import services
from nixflow.models import (
    Role,
    User,
)
from nixflow.toolkit.admin import (
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    refusals_to_form,
)
from nixflow.toolkit.auth import signed_in_user

_RECORDED_BY_SERVICE = "_nixflow_recorded_by_service"


def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone this Python knows, by name, after "the desk's own" (empty, in the
    reader's language)."""
    desk = gettext("The desk's time zone (%(zone)s)") % {"zone": settings.TIME_ZONE}
    return [("", desk), *_zones()]


@cache
def _zones() -> list[tuple[str, str]]:
    return [(n, n) for n in sorted(zoneinfo.available_timezones())]


# --- Users -------------------------------------------------------------------------------
@admin.register(User)
class UserAdmin(ServiceFormAdminMixin, RolePermissionsMixin, DjangoUserAdmin):
    """Agents look people up (requesters, colleagues); only admins change them."""

    list_display = ("username", "email", "role", "is_staff", "is_active", "last_login")
    list_filter = ("role", "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "email", "first_name", "last_name")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,  # type: ignore[misc]  # set on the class; the stubs allow None
        (gettext_lazy("Service desk"), {"fields": ("role", "time_zone", "language")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        (gettext_lazy("Service desk"), {"fields": ("email", "role")}),
    )
    # What only a superuser may grant: superuser status, and Django's permission rows
    # (which third-party admin pages such as django-celery-beat's go by). A role admin
    # manages roles; otherwise an admin could make anyone, themselves included, a
    # superuser.
    superuser_only_fields = ("is_superuser", "groups", "user_permissions")

    def formfield_for_dbfield(self, db_field: Field, request: HttpRequest, **kwargs: Any) -> Any:
        # A list of the zones rather than free text: a misspelt zone would silently
        # show the desk's time zone instead (nixflow.middleware).
        if db_field.name == "time_zone":
            return forms.ChoiceField(
                choices=time_zone_choices(),
                required=False,
                label=gettext("Time zone"),
                help_text=db_field.help_text,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, *self.superuser_only_fields)

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        """A new user is made by ``services.user_create`` (``user.created``); a change of
        e-mail address, name, role or active state goes through ``services.user_update``
        (``user.updated``). The rest (username, password, superuser status, groups) is
        saved here and recorded as ``admin.changed``, as for any model without services."""
        if not change:
            self._create(request, obj, form)
            return
        by_service = [name for name in form.changed_data if name in services.USER_FIELDS]
        if not by_service:
            super().save_model(request, obj, form, change)
            return
        rest = [name for name in form.changed_data if name not in services.USER_FIELDS]
        fresh = User.objects.get(pk=obj.pk)
        with refusals_to_form():
            updated = services.user_update(
                user=fresh,
                actor=signed_in_user(request),
                data={name: form.cleaned_data[name] for name in by_service},
            )
        obj.is_staff = updated.is_staff
        if rest:
            super().save_model(request, obj, form, change)
        else:
            setattr(request, _RECORDED_BY_SERVICE, True)

    def _create(self, request: HttpRequest, obj: User, form: ModelForm) -> None:
        data = form.cleaned_data
        with refusals_to_form():
            user = services.user_create(
                username=data["username"],
                email=data.get("email", ""),
                role=data.get("role", Role.REQUESTER),
                # Empty when the admin chose "password-based authentication: disabled".
                password=data.get("password1") or None,
                actor=signed_in_user(request),
            )
        # The admin carries on with the form's instance (its log entry, the redirect).
        for field in User._meta.concrete_fields:
            setattr(obj, field.attname, getattr(user, field.attname))
        obj._state.adding = False
        obj._state.db = user._state.db
        setattr(request, _RECORDED_BY_SERVICE, True)

    def _record_admin_event(
        self, request: HttpRequest, type: str, obj: Model, payload: dict[str, Any]
    ) -> None:
        if not getattr(request, _RECORDED_BY_SERVICE, False):
            super()._record_admin_event(request, type, obj, payload)

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        """A superuser's account (details, password, activity) is a superuser's to change."""
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)
