"""Who is linked to whom at the provider: read-only, for admins settling a conflict
(deleting an identity lets the next sign-in link by verified address again)."""

from __future__ import annotations

from django.contrib import admin

from nixflow.toolkit.admin import DELETE, VIEW, RolePermissionsMixin
from sso.models import Identity


@admin.register(Identity)
class IdentityAdmin(RolePermissionsMixin, admin.ModelAdmin):
    # By role, as every admin of the desk: admins are staff without Django's permission
    # rows, so a plain ModelAdmin would open to superusers only. Agents see nothing.
    agent_actions = frozenset()
    admin_actions = frozenset({VIEW, DELETE})
    # As before: a deletion is not an admin event (the identity's name is the person's
    # subject at the provider, which the event log would keep in plain).
    record_admin_events = False

    list_display = ("user", "issuer", "subject", "created", "last_signed_in")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email", "subject")
    readonly_fields = ("user", "issuer", "subject", "created", "last_signed_in")
