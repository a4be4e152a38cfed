"""Webhooks in the admin, for admins only (agents do not see them: an endpoint's URL may
be a credential).

Endpoints are saved through the services (one ``webhook.*`` event each). The secret is
shown once, in the message after the endpoint is created or its secret rotated; it is
stored encrypted and never displayed again. Actions: rotate the secret, enable, disable,
send a test event. Each endpoint's page shows its latest deliveries and links to its
full delivery log, where deliveries can be sent again (the same ``webhook-id``).
"""

from __future__ import annotations

import threading
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext

from nixflow.models import User
from nixflow.toolkit.admin import READ_ONLY, RolePermissionsMixin
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.config_admin import ConfigurationAdmin
from nixflow.toolkit.errors import error_text
from webhooks import selectors, services
from webhooks.models import Delivery, Endpoint

NOTHING: frozenset[str] = frozenset()
# The secret of the endpoint this thread's request just created, for the message after
# the save (the admin instance is shared by every request; a request is one thread).
_created = threading.local()
RECENT = 10


def _secret_message(request: HttpRequest, endpoint: Endpoint, secret: str) -> None:
    messages.warning(
        request,
        format_html(
            gettext(
                "The signing secret of “{name}” is {secret}. Copy it now: it is not shown "
                "again (rotate the secret to get a new one)."
            ),
            name=endpoint.name,
            secret=format_html("<code>{}</code>", secret),
        ),
    )


@admin.register(Endpoint)
class EndpointAdmin(ConfigurationAdmin):
    agent_actions = NOTHING
    list_display = (
        "name",
        "url",
        "types_column",
        "is_active",
        "failure_streak",
        "disabled_reason",
        "log_column",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "url")
    ordering = ("name", "id")
    service_fields = ("name", "url", "event_types", "filters", "is_active")
    readonly_fields = (
        "disabled_at",
        "disabled_reason",
        "failure_streak",
        "failing_since",
        "created_by",
        "created",
        "recent_deliveries",
    )
    fieldsets = (
        (None, {"fields": ("name", "url", "event_types", "filters", "is_active")}),
        (
            gettext_lazy("Health"),
            {
                "fields": (
                    "disabled_at",
                    "disabled_reason",
                    "failure_streak",
                    "failing_since",
                    "created_by",
                    "created",
                )
            },
        ),
        (gettext_lazy("Delivery log"), {"fields": ("recent_deliveries",)}),
    )
    actions = ("rotate_secret", "enable", "disable", "send_test")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "url":
            kwargs["assume_scheme"] = "https"  # a URL typed without one
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fieldsets if obj is not None else self.fieldsets[:1]

    @admin.display(description=gettext_lazy("Event types"))
    def types_column(self, obj: Endpoint) -> str:
        return ", ".join(obj.event_types) or gettext("only from automation rules")

    @admin.display(description=gettext_lazy("Deliveries"))
    def log_column(self, obj: Endpoint) -> SafeString:
        url = reverse("admin:webhooks_delivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, gettext("Delivery log"))

    class Media:
        css = {"all": ("webhooks/admin.css",)}

    @admin.display(description=gettext_lazy("Latest"))
    def recent_deliveries(self, obj: Endpoint) -> SafeString:
        rows = list(selectors.deliveries_of(endpoint=obj)[:RECENT])
        if not rows:
            return format_html("{}", gettext("None yet."))
        items = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    d.webhook_id,
                    d.event_type,
                    d.get_status_display(),
                    d.last_status_code or "",
                    d.last_error or d.response_excerpt[:80],
                )
                for d in rows
            ),
        )
        log = reverse("admin:webhooks_delivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html(
            '<div class="webhook-log"><table><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table></div>"
            '<p><a href="{}">{}</a></p>',
            gettext("Webhook id"),
            gettext("Event"),
            gettext("Status"),
            gettext("HTTP"),
            gettext("Answer or error"),
            items,
            log,
            gettext("The whole delivery log"),
        )

    def create_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        endpoint, secret = services.endpoint_create(actor=actor, data=data)
        _created.secret = (endpoint.pk, secret)
        return endpoint

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.endpoint_update(endpoint=obj, actor=actor, data=data)

    def delete_with(self, obj: Any, actor: User) -> None:
        services.endpoint_delete(endpoint=obj, actor=actor)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        created = getattr(_created, "secret", None)
        if created is not None and created[0] == obj.pk:
            _secret_message(request, obj, created[1])
        _created.secret = None
        return super().response_add(request, obj, post_url_continue)

    def _each(self, request: HttpRequest, queryset: QuerySet[Endpoint], do: Any) -> int:
        done = 0
        for endpoint in queryset:
            try:
                do(endpoint, signed_in_user(request))
                done += 1
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{endpoint}: {error_text(error)}", messages.ERROR)
        return done

    @admin.action(description=gettext_lazy("Rotate the signing secret"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        def rotate(endpoint: Endpoint, actor: User) -> None:
            endpoint, secret = services.endpoint_rotate_secret(endpoint=endpoint, actor=actor)
            _secret_message(request, endpoint, secret)

        self._each(request, queryset, rotate)

    @admin.action(description=gettext_lazy("Enable (send again, waiting deliveries first)"))
    def enable(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        done = self._each(
            request, queryset, lambda e, a: services.endpoint_enable(endpoint=e, actor=a)
        )
        self.message_user(
            request, ngettext("Enabled %d endpoint.", "Enabled %d endpoints.", done) % done
        )

    @admin.action(description=gettext_lazy("Disable"))
    def disable(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        done = self._each(
            request,
            queryset,
            lambda e, a: services.endpoint_disable(
                endpoint=e,
                actor=a,
                reason="Disabled by an admin.",  # stored: English
            ),
        )
        self.message_user(
            request, ngettext("Disabled %d endpoint.", "Disabled %d endpoints.", done) % done
        )

    @admin.action(description=gettext_lazy("Send a test event"))
    def send_test(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        done = self._each(
            request, queryset, lambda e, a: services.endpoint_send_test(endpoint=e, actor=a)
        )
        self.message_user(
            request,
            ngettext(
                "Queued a test event for %d endpoint: see its delivery log.",
                "Queued a test event for %d endpoints: see their delivery logs.",
                done,
            )
            % done,
        )


@admin.register(Delivery)
class DeliveryAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """The delivery log: read-only, with "send again"."""

    agent_actions = NOTHING
    admin_actions = READ_ONLY
    list_display = (
        "webhook_id",
        "event_type",
        "ordering_key",
        "status",
        "last_status_code",
        "last_attempt_at",
        "excerpt_column",
    )
    list_filter = ("status", "endpoint")
    list_select_related = ("endpoint",)
    search_fields = ("=webhook_id", "=ordering_key", "event_type")
    ordering = ("-id",)
    show_full_result_count = False
    actions = ("redeliver",)
    fields = (
        "endpoint",
        "webhook_id",
        "event",
        "event_type",
        "ordering_key",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "last_status_code",
        "last_duration_ms",
        "last_error",
        "response_excerpt",
        "created",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("Answer or error"))
    def excerpt_column(self, obj: Delivery) -> str:
        text = obj.last_error or obj.response_excerpt
        return text[:80] + ("…" if len(text) > 80 else "")

    @admin.action(description=gettext_lazy("Send again (same webhook id)"))
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                services.delivery_redeliver(delivery=delivery, actor=signed_in_user(request))
                done += 1
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{delivery}: {error_text(error)}", messages.ERROR)
        self.message_user(
            request,
            ngettext("Queued %d delivery again.", "Queued %d deliveries again.", done) % done,
        )
