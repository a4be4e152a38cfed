"""``SessionRefresh``: a single sign-on session asks the provider again now and then.

A session made by signing in at the provider would otherwise last as long as Django's
session, however long ago the provider stopped vouching for the person (disabled,
signed out there, removed from the application). Every ``OIDC_SESSION_REFRESH_SECONDS``
(default 900; 0: never) the next page the person opens first goes to the provider's
authorization endpoint with ``prompt=none``: the provider answers at once, without a
page, either with a new code (the sign-in runs again, claims and all, and the person
lands on the page they asked for) or with an error such as ``login_required``, which
ends the session here (sso.views.CallbackView).

mozilla-django-oidc's middleware does the asking (state, nonce, PKCE, the redirect).
This subclass decides *when*, more narrowly than the library:

- only while single sign-on is configured (it stands in MIDDLEWARE either way) and
  ``OIDC_SESSION_REFRESH_SECONDS`` is above 0;
- only for sessions made by the provider (``sso.backends.OidcBackend``, with the ID
  token's time the callback stores): a password session is never sent to the provider;
- only for GET page loads: not the API, not a form's POST, not a script's fetch or an
  XHR, not a frame (a provider's page refuses to be framed), not the sign-in and
  sign-out pages themselves.

The library reads its settings once, when the middleware is built; here they are read
at each refresh, with the endpoint from the provider's discovery document
(sso.discovery). When that document cannot be read, the page is served and the refresh
is tried again a minute later: a provider that is down stops nobody working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.deprecation import MiddlewareMixin
from mozilla_django_oidc import middleware

from sso.conf import SSO_BACKEND
from sso.discovery import ProviderUnavailableError, sso_setting

logger = logging.getLogger(__name__)

# The session key the library's callback sets: when the ID token is due to be renewed.
EXPIRATION_KEY = "oidc_id_token_expiration"
# After a provider that could not be reached: ask again this much later (seconds).
RETRY_SECONDS = 60
# Never a reason to ask the provider: the folders of these pages (/sso/, its own way in
# and out; /api/, what scripts and other programs read), and signing out anywhere.
EXEMPT_FOLDERS_OF = ("sso:signin", "schema")
EXEMPT_PAGES = ("admin:logout", "portal:signout")


def refresh_seconds() -> int:
    """Seconds between two asks; 0 while single sign-on or its refresh is off."""
    if not getattr(settings, "OIDC_ENABLED", False):
        return 0
    return max(int(getattr(settings, "OIDC_SESSION_REFRESH_SECONDS", 900)), 0)


def signed_in_by_provider(request: HttpRequest) -> bool:
    """Whether the session was made by signing in at the provider (and not by a
    password, a mailed sign-in link or a test's force_login)."""
    session = request.session
    return session.get(BACKEND_SESSION_KEY) == SSO_BACKEND and EXPIRATION_KEY in session


def is_page_load(request: HttpRequest) -> bool:
    """A person opening a page in a browser tab: GET, not a script's request nor a
    frame. Browsers say so (Sec-Fetch-*); a client that sends none of it counts as a
    page load unless it says it is a script (X-Requested-With, as jQuery does)."""
    if request.method != "GET":
        return False
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        return False
    mode = request.headers.get("sec-fetch-mode")
    destination = request.headers.get("sec-fetch-dest")
    return mode in (None, "navigate") and destination in (None, "document")


def _reverse(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


class SessionRefresh(middleware.SessionRefresh):
    """Goes in MIDDLEWARE after AuthenticationMiddleware (docs/sso.md, "Sessions")."""

    get_settings = staticmethod(sso_setting)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        # Not the library's __init__, which reads the provider's settings here, once,
        # and fails while single sign-on is off: the properties below read them when a
        # refresh needs them.
        MiddlewareMixin.__init__(self, get_response)

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self) -> str:  # noqa: N802 (the library's name)
        return str(self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT"))

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:  # noqa: N802
        return str(self.get_settings("OIDC_RP_CLIENT_ID"))

    @property
    def OIDC_RP_SCOPES(self) -> str:  # noqa: N802
        return str(self.get_settings("OIDC_RP_SCOPES", "openid email"))

    @property
    def OIDC_AUTHENTICATION_CALLBACK_URL(self) -> str:  # noqa: N802
        return str(self.get_settings("OIDC_AUTHENTICATION_CALLBACK_URL", "sso:callback"))

    @property
    def OIDC_STATE_SIZE(self) -> int:  # noqa: N802
        return int(self.get_settings("OIDC_STATE_SIZE", 32))

    @property
    def OIDC_USE_NONCE(self) -> bool:  # noqa: N802
        return bool(self.get_settings("OIDC_USE_NONCE", True))

    @property
    def OIDC_NONCE_SIZE(self) -> int:  # noqa: N802
        return int(self.get_settings("OIDC_NONCE_SIZE", 32))

    @cached_property
    def exempt_prefixes(self) -> tuple[str, ...]:
        # "/sso/signin/" -> "/sso/", "/api/schema/" -> "/api/".
        urls = [url for url in map(_reverse, EXEMPT_FOLDERS_OF) if url]
        return tuple(url.rstrip("/").rsplit("/", 1)[0] + "/" for url in urls)

    @cached_property
    def exempt_urls(self) -> set[str]:
        return {url for url in map(_reverse, EXEMPT_PAGES) if url}

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        return bool(
            refresh_seconds()
            and request.user.is_authenticated
            and signed_in_by_provider(request)
            and is_page_load(request)
            and request.path not in self.exempt_urls
            and not request.path.startswith(self.exempt_prefixes)
        )

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not self.is_refreshable_url(request):
            return None
        if request.session.get(EXPIRATION_KEY, 0) > time.time():
            return None
        try:
            self.OIDC_OP_AUTHORIZATION_ENDPOINT  # noqa: B018 (read now, to catch it)
        except ProviderUnavailableError as error:
            logger.warning("Single sign-on: no session refresh, the provider is down: %s", error)
            request.session[EXPIRATION_KEY] = time.time() + min(RETRY_SECONDS, refresh_seconds())
            return None
        response: HttpResponse | None = super().process_request(request)
        if response is not None and response.status_code == 302:
            # Marked, so that the callback knows a refusal ends a running session.
            state = parse_qs(urlsplit(response["Location"]).query).get("state", [""])[0]
            flow: dict[str, Any] | None = request.session.get("oidc_states", {}).get(state)
            if flow is not None:
                flow["refresh"] = True
                request.session.modified = True
        return response
