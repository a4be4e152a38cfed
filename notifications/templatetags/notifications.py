"""``{% load notifications %}{% unread_notifications %}``: the signed-in agent's link to
their notifications with the unread count, for every admin page (``admin/base_site.html``
renders it among the user links). Nothing for anyone else."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from nixflow.models import Role, User
from notifications import selectors

register = template.Library()


@register.inclusion_tag("notifications/unread_link.html", takes_context=True)
def unread_notifications(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if (
        not isinstance(user, User)
        or not user.is_active
        or user.role not in (Role.AGENT, Role.ADMIN)
    ):
        return {"show": False}
    return {
        "show": True,
        # One indexed count per page (the partial index of unread rows).
        "count": selectors.unread_count(user=user),
        "url": reverse("admin:notifications_notification_changelist"),
    }
