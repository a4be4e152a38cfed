"""Integration tokens in the admin: each agent sees and makes their own, admins see
everyone's; the string is shown once, on the page right after it was made; tokens are
revoked (never deleted or edited) with the list's action. Every change goes through the
services, which record the ``api_token.*`` events."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from api_tokens import selectors, services
from api_tokens.models import SCOPE_CHOICES, ApiToken
from nixflow.toolkit.admin import (
    ADD,
    VIEW,
    RolePermissionsMixin,
    ServiceFormAdminMixin,
    refusals_to_form,
)
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.errors import error_text

_SECRET = "_api_token_secret"  # noqa: S105 -- the request attribute that carries it


class ApiTokenForm(ModelForm):
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "Read or write per area; write includes read. The token never does more than "
            "your role lets you."
        ),
    )

    class Meta:
        model = ApiToken
        fields = ("name", "scopes", "expires_at")


class StateFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("active", gettext_lazy("Active")),
            ("expired", gettext_lazy("Expired")),
            ("revoked", gettext_lazy("Revoked")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(ServiceFormAdminMixin, RolePermissionsMixin, admin.ModelAdmin):
    # Made and revoked, never edited or deleted: a token with other scopes is a new
    # token, and a revoked one stays as the record of what it was.
    agent_actions = admin_actions = frozenset({VIEW, ADD})
    record_admin_events = False  # the services record api_token.created / revoked
    form = ApiTokenForm
    list_display = (
        "name",
        "user",
        "scopes_column",
        "token_column",
        "last_used_at",
        "expires_at",
        "state_column",
    )
    list_filter = (StateFilter,)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    ordering = ("-created_at", "-id")
    actions = ("revoke_selected",)
    readonly_fields = (
        "name",
        "user",
        "scopes_column",
        "token_column",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Saving a new token leads to the page that shows it once, whatever was clicked:
        # one button, so that nobody expects "add another" or "continue" to.
        extra = {"show_save_and_add_another": False, "show_save_and_continue": False}
        return super().changeform_view(
            request, object_id, form_url, {**extra, **(extra_context or {})}
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        user = signed_in_user(request)
        if not user.is_agent:
            # Refused by the role permissions (403), not sent to the index as if the
            # token did not exist.
            return ApiToken.objects.select_related("user")
        return selectors.tokens_visible(user=user)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("name", "scopes", "expires_at")
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    @admin.display(description=gettext_lazy("scopes"))
    def scopes_column(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    @admin.display(description=gettext_lazy("token"))
    def token_column(self, token: ApiToken) -> str:
        return token.display

    @admin.display(description=gettext_lazy("state"))
    def state_column(self, token: ApiToken) -> str:
        if token.revoked_at is not None:
            return gettext("Revoked")
        if token.is_expired(timezone.now()):
            return gettext("Expired")
        return gettext("Active")

    # --- Making a token ---------------------------------------------------------------
    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        with refusals_to_form():
            created = services.api_token_create(
                actor=signed_in_user(request),
                name=data["name"],
                scopes=data["scopes"],
                expires_at=data.get("expires_at"),
            )
        # The admin goes on with the object it was given (the log entry, the redirect):
        # make it the row the service wrote.
        for field in ApiToken._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created.token, field.attname))
        obj._state.adding = False
        setattr(request, _SECRET, created.secret)

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = getattr(request, _SECRET, None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Your new API token"),
            "token": obj,
            "secret": secret,
        }
        response = TemplateResponse(request, "admin/api_tokens/apitoken/created.html", context)
        # The page holds a secret: no cache anywhere may keep a copy.
        response["Cache-Control"] = "no-store"
        return response

    # --- Revoking ---------------------------------------------------------------------
    @admin.action(description=gettext_lazy("Revoke the selected tokens"))
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        actor = signed_in_user(request)
        done, refused = 0, []
        for token in queryset.filter(revoked_at__isnull=True):
            try:
                services.api_token_revoke(actor=actor, token=token)
            except (ValidationError, PermissionDenied) as error:
                refused.append(f"{token}: {error_text(error)}")
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("Revoked %(count)d token.", "Revoked %(count)d tokens.", done)
                % {"count": done},
                messages.SUCCESS,
            )
        for line in refused:
            self.message_user(request, line, messages.ERROR)
        if not done and not refused:
            self.message_user(request, gettext("Those tokens were revoked already."), messages.INFO)
