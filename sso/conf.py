"""The single sign-on settings, read from the environment by nixflow/settings.py.

Single sign-on is on when ``OIDC_CLIENT_ID`` is set together with ``OIDC_ISSUER`` (the
provider's endpoints are then read from its discovery document on first use) or with the
four endpoints given one by one. Everything mozilla-django-oidc reads is named here, with
the NixFlow settings on top of it (docs/sso.md has the table).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# nixflow.models.Role's values: settings cannot import models (the app registry is not
# ready while settings load).
ROLES = ("requester", "agent", "admin")
PASSWORD_BACKEND = "django.contrib.auth.backends.ModelBackend"  # noqa: S105 (a path)
STAFF_PASSWORD_GATE = "sso.backends.StaffPasswordGate"  # noqa: S105 (a path)
SSO_BACKEND = "sso.backends.OidcBackend"
ENDPOINTS = (
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "OIDC_OP_JWKS_ENDPOINT",
)
# Who keeps a local password when single sign-on is on: "on" everybody; "off" no agent
# or admin (requesters always do); "superusers" only superusers, as a way in while the
# provider is down.
STAFF_PASSWORD_CHOICES = ("on", "off", "superusers")


def _json_map(env: Any, name: str) -> dict[str, str]:
    raw = env.str(name, default="").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(f"{name} is not JSON: {error}.") from error
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise ImproperlyConfigured(f'{name} must be a JSON object of strings: {{"group": "..."}}.')
    return value


def role_map(env: Any) -> dict[str, str]:
    mapping = _json_map(env, "OIDC_ROLE_MAP")
    wrong = sorted(set(mapping.values()) - set(ROLES))
    if wrong:
        raise ImproperlyConfigured(
            f"OIDC_ROLE_MAP maps to {', '.join(wrong)}; the roles are {', '.join(ROLES)}."
        )
    return mapping


def settings_from_env(env: Any, *, authentication_backends: list[str]) -> dict[str, Any]:
    """The settings single sign-on adds; only the backends while it is not configured."""
    client_id = env.str("OIDC_CLIENT_ID", default="")
    issuer = env.str("OIDC_ISSUER", default="").rstrip("/")
    endpoints = {name: env.str(name, default="") for name in ENDPOINTS}
    if not client_id:
        return {"AUTHENTICATION_BACKENDS": authentication_backends, "OIDC_ENABLED": False}
    if not issuer and not all(endpoints.values()):
        raise ImproperlyConfigured(
            "OIDC_CLIENT_ID is set: set OIDC_ISSUER (its discovery document names the "
            f"endpoints) or all of {', '.join(ENDPOINTS)}."
        )
    refresh_seconds = env.int("OIDC_SESSION_REFRESH_SECONDS", default=900)
    if refresh_seconds < 0:
        raise ImproperlyConfigured(
            f"OIDC_SESSION_REFRESH_SECONDS is {refresh_seconds}; use 0 (no refresh) or more."
        )
    staff_passwords = env.str("OIDC_STAFF_PASSWORDS", default="on").strip().lower()
    if staff_passwords not in STAFF_PASSWORD_CHOICES:
        raise ImproperlyConfigured(
            f"OIDC_STAFF_PASSWORDS is {staff_passwords!r}; use one of "
            f"{', '.join(STAFF_PASSWORD_CHOICES)}."
        )
    # The gate stands right before ModelBackend (refusing staff passwords when
    # OIDC_STAFF_PASSWORDS says so); the OpenID backend comes last.
    backends: list[str] = []
    for backend in authentication_backends:
        if backend == PASSWORD_BACKEND:
            backends.append(STAFF_PASSWORD_GATE)
        backends.append(backend)
    return {
        "AUTHENTICATION_BACKENDS": [*backends, SSO_BACKEND],
        "OIDC_ENABLED": True,
        "OIDC_PROVIDER_NAME": env.str("OIDC_PROVIDER_NAME", default="single sign-on"),
        "OIDC_OP_ISSUER": issuer,
        **{name: value for name, value in endpoints.items() if value},
        "OIDC_OP_LOGOUT_ENDPOINT": env.str("OIDC_OP_LOGOUT_ENDPOINT", default=""),
        "OIDC_DISCOVERY_CACHE_SECONDS": env.int("OIDC_DISCOVERY_CACHE_SECONDS", default=3600),
        "OIDC_RP_CLIENT_ID": client_id,
        "OIDC_RP_CLIENT_SECRET": env.str("OIDC_CLIENT_SECRET", default=""),
        "OIDC_RP_SCOPES": env.str("OIDC_SCOPES", default="openid email profile"),
        "OIDC_RP_SIGN_ALGO": env.str("OIDC_SIGN_ALGO", default="RS256"),
        "OIDC_TOKEN_USE_BASIC_AUTH": env.bool("OIDC_TOKEN_USE_BASIC_AUTH", default=False),
        "OIDC_TIMEOUT": env.int("OIDC_TIMEOUT", default=10),
        # The authorization-code flow with PKCE (RFC 7636) and a nonce, always.
        "OIDC_USE_PKCE": True,
        "OIDC_USE_NONCE": True,
        # Kept for the provider's end_session_endpoint (id_token_hint) at sign-out.
        "OIDC_STORE_ID_TOKEN": True,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "sso:callback",
        "OIDC_CREATE_USERS": env.bool("OIDC_CREATE_USERS", default=True),
        "OIDC_ROLE_CLAIM": env.str("OIDC_ROLE_CLAIM", default=""),
        "OIDC_ROLE_MAP": role_map(env),
        "OIDC_TEAMS_CLAIM": env.str("OIDC_TEAMS_CLAIM", default=""),
        "OIDC_TEAM_MAP": _json_map(env, "OIDC_TEAM_MAP"),
        "OIDC_STAFF_PASSWORDS": staff_passwords,
        # How long a single sign-on session goes before the provider is asked again
        # (sso.middleware.SessionRefresh); 0: never. The library times the ID token by
        # OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS, so both say the same.
        "OIDC_SESSION_REFRESH_SECONDS": refresh_seconds,
        "OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS": refresh_seconds,
    }
