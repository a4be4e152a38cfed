"""``{% sso_signin_button %}``: the "Sign in with …" button of the sign-in pages, shown
only while single sign-on is configured; ``{% sso_enabled as on %}`` for templates that
change with it (the admin's "Log out", sso/templates/admin/base_site.html)."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

register = template.Library()


@register.inclusion_tag("sso/_signin_button.html", takes_context=True)
def sso_signin_button(
    context: dict[str, Any], next_url: str = "", style: str = "public"
) -> dict[str, Any]:
    return {
        "enabled": getattr(settings, "OIDC_ENABLED", False),
        "provider": getattr(settings, "OIDC_PROVIDER_NAME", ""),
        "staff_passwords": getattr(settings, "OIDC_STAFF_PASSWORDS", "on"),
        "next": next_url,
        "style": style,
    }


@register.simple_tag
def sso_enabled() -> bool:
    """``{% sso_enabled as on %}``: whether single sign-on is configured."""
    return bool(getattr(settings, "OIDC_ENABLED", False))
