"""The provider's endpoints: from the settings, else from its discovery document.

``OIDC_ISSUER`` alone is enough to configure single sign-on: the endpoints are read from
``{issuer}/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0) the first
time they are needed, not while settings load, so a provider that is down keeps nobody
from starting the desk or signing in with a password. The document is cached
(``OIDC_DISCOVERY_CACHE_SECONDS``) because it is read on every sign-in.
"""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from mozilla_django_oidc.utils import import_from_settings

DOCUMENT_KEYS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}


class ProviderUnavailableError(Exception):
    """The provider's discovery document could not be read."""


def discovery_document(issuer: str) -> dict[str, Any]:
    key = f"sso:discovery:{issuer}"
    document: dict[str, Any] | None = cache.get(key)
    if document is not None:
        return document
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=getattr(settings, "OIDC_TIMEOUT", 10))
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailableError(f"{url}: {error}") from error
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        # OpenID Connect Discovery 4.3: the issuer in the document must be the one asked.
        raise ProviderUnavailableError(f"{url} names another issuer than {issuer}.")
    cache.set(key, document, getattr(settings, "OIDC_DISCOVERY_CACHE_SECONDS", 3600))
    return document


def sso_setting(name: str, *default: Any) -> Any:
    """A setting as mozilla-django-oidc reads it, endpoints filled in from discovery."""
    if name in DOCUMENT_KEYS and not getattr(settings, name, ""):
        issuer = getattr(settings, "OIDC_OP_ISSUER", "")
        if issuer:
            return discovery_document(issuer).get(DOCUMENT_KEYS[name], "")
    return import_from_settings(name, *default)
