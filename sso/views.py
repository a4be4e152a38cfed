"""The single sign-on pages: start a sign-in, the provider's callback, sign out.

The flow is mozilla-django-oidc's (authorization code with PKCE, state and nonce kept in
the session); these views add what a person sees when it fails (a page saying why,
never a 500) and where they land: agents and admins in the admin, requesters in the
portal.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from nixflow.models import User
from sso.backends import OidcBackend
from sso.discovery import ProviderUnavailableError, sso_setting

logger = logging.getLogger(__name__)


def _enabled() -> None:
    if not getattr(settings, "OIDC_ENABLED", False):
        raise Http404("Single sign-on is not configured.")


def refused(
    request: HttpRequest, message: str, *, status: int, next_url: str = "", heading: str = ""
) -> TemplateResponse:
    """The page saying why a sign-in failed (``heading``: "Sign-in failed"), with a way
    to try again (back to ``next_url`` once signed in)."""
    return TemplateResponse(
        request,
        "sso/refused.html",
        {
            "message": message,
            "provider": getattr(settings, "OIDC_PROVIDER_NAME", ""),
            "next": next_url,
            "heading": heading,
        },
        status=status,
    )


def _unavailable(request: HttpRequest, error: Exception) -> TemplateResponse:
    logger.warning("Single sign-on: the provider could not be reached: %s", error)
    return refused(
        request,
        _("The sign-in service could not be reached. Please try again in a few minutes."),
        status=502,
    )


def portal_home() -> str:
    try:
        return reverse("portal:tickets")
    except NoReverseMatch:
        return "/"


class SignInView(OIDCAuthenticationRequestView):
    """``GET /sso/signin/?next=…`` sends the browser to the provider."""

    get_settings = staticmethod(sso_setting)

    def __init__(self, **kwargs: Any) -> None:
        # The library reads the endpoint here, before any error could become a page.
        super(OIDCAuthenticationRequestView, self).__init__(**kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        _enabled()
        try:
            self.OIDC_OP_AUTH_ENDPOINT = self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailableError as error:
            return _unavailable(request, error)
        self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
        response: HttpResponse = super().get(request)
        return response


class CallbackView(OIDCAuthenticationCallbackView):
    """``GET /sso/callback/?code=…&state=…``: where the provider sends the browser back."""

    get_settings = staticmethod(sso_setting)

    # A session refresh (sso.middleware.SessionRefresh) rather than a sign-in: anything
    # but a confirmation ends the running session.
    refresh = False
    refresh_next = ""
    signed_in = False

    def get(self, request: HttpRequest) -> HttpResponse:
        _enabled()
        flow = request.session.get("oidc_states", {}).get(request.GET.get("state"))
        self.refresh = isinstance(flow, dict) and bool(flow.get("refresh"))
        self.refresh_next = (request.session.get("oidc_login_next") or "") if self.refresh else ""
        try:
            response = self._callback(request)
        except SuspiciousOperation as error:
            # A state this session did not start, a nonce or signature that does not
            # match: someone else's sign-in, a replay, or a tampered response.
            logger.warning("Single sign-on refused a callback: %s", error)
            response = refused(
                request,
                _(
                    "This sign-in could not be checked: it was not started in this browser, "
                    "was used already, or its answer was altered. Please sign in again."
                ),
                status=400,
            )
        except (ProviderUnavailableError, requests.RequestException) as error:
            response = _unavailable(request, error)
        if self.refresh and not self.signed_in:
            logger.info(
                "Single sign-on: a session refresh did not succeed (%s); signed out.",
                request.GET.get("error") or response.status_code,
            )
            if request.user.is_authenticated:
                logout(request)
        return response

    def _callback(self, request: HttpRequest) -> HttpResponse:
        """The library's callback, except that the backend is called itself rather than
        through django.contrib.auth.authenticate(): that would run django-axes, which
        counts failures per username and address, and a refused sign-in here has no
        username, so a few refused people behind one office address would lock every
        sign-in from it out. The provider checked the password; axes guards ours."""
        if request.GET.get("error"):
            states = request.session.get("oidc_states", {})
            if request.GET.get("state") in states:
                # Used up, so that the answer cannot be replayed.
                del states[request.GET["state"]]
                request.session.save()
            if request.user.is_authenticated:
                logout(request)
            return self.login_failure()
        state = request.GET.get("state")
        if not (request.GET.get("code") and state and "oidc_states" in request.session):
            return self.login_failure()
        if state not in request.session["oidc_states"]:
            raise SuspiciousOperation("OIDC callback state not found in session `oidc_states`!")
        # Taken from the session and saved at once, so the state cannot be used twice.
        flow = request.session["oidc_states"].pop(state)
        request.session.save()
        # Read again after the slow token request: other tabs may have changed it.
        request.session = request.session.__class__(request.session.session_key)
        user = OidcBackend().authenticate(
            request, nonce=flow["nonce"], code_verifier=flow.get("code_verifier")
        )
        if not (isinstance(user, User) and user.is_active):
            return self.login_failure()
        user.backend = "sso.backends.OidcBackend"  # type: ignore[attr-defined]
        self.user = user
        response: HttpResponse = self.login_success()
        self.signed_in = True
        return response

    def login_failure(self) -> HttpResponse:
        request = self.request
        reason = getattr(request, "sso_refusal", None)
        if reason:
            return refused(request, reason, status=403, next_url=self.refresh_next)
        if self.refresh and request.GET.get("error"):
            # Asked without a page (prompt=none), the provider no longer vouches for the
            # person: signed out there, disabled, or no longer allowed this application.
            return refused(
                request,
                _(
                    "Your session here has ended: %(provider)s no longer confirms that you "
                    "are signed in there. Please sign in again."
                )
                % {"provider": getattr(settings, "OIDC_PROVIDER_NAME", "")},
                status=403,
                next_url=self.refresh_next,
                heading=_("Your session has ended"),
            )
        if request.GET.get("error"):
            # The provider's own answer (RFC 6749 4.1.2.1), e.g. access_denied.
            detail = request.GET.get("error_description") or request.GET["error"]
            return refused(
                request,
                _("The sign-in service did not sign you in: %(detail)s") % {"detail": detail},
                status=403,
            )
        return refused(
            request,
            _(
                "The sign-in did not complete: it may have expired or been started in "
                "another browser. Please sign in again."
            ),
            status=400,
        )

    @property
    def success_url(self) -> str:
        # The next page the sign-in started from (checked by the library when it was
        # stored), except that requesters never land in the admin they cannot use.
        next_url = self.request.session.get("oidc_login_next") or ""
        user = self.user
        if isinstance(user, User) and user.is_staff:
            return next_url or reverse("admin:index")
        if next_url.startswith(reverse("admin:index")):
            next_url = ""
        return next_url or portal_home()


def provider_logout_url(request: HttpRequest, *, after: str) -> str:
    """Where to send the browser to end the provider's session too (OpenID Connect
    RP-Initiated Logout 1.0), or ``after`` when the provider offers no such endpoint."""
    try:
        endpoint = sso_setting("OIDC_OP_LOGOUT_ENDPOINT", "")
    except ProviderUnavailableError:
        endpoint = ""
    id_token = request.session.get("oidc_id_token")
    if not (endpoint and id_token):
        return after
    query = {
        "id_token_hint": id_token,
        "client_id": sso_setting("OIDC_RP_CLIENT_ID"),
        "post_logout_redirect_uri": request.build_absolute_uri(after),
    }
    return f"{endpoint}?{urlencode(query)}"


@require_http_methods(["GET", "HEAD", "POST"])
def signout(request: HttpRequest) -> HttpResponse:
    """POST ends the desk's session, then sends the browser to end the provider's when it
    offers that; GET only shows the button (signing out by a GET would let any page sign
    a visitor out).

    The way to the provider is a page that moves on by itself (a meta refresh, and a
    link), not a redirect: browsers hold a redirect that answers a form to the page's
    CSP form-action, which allows only this site, so any page of the desk can post here.
    """
    _enabled()
    if request.method != "POST":
        return TemplateResponse(request, "sso/signout.html", {})
    after = reverse("sso:signed_out")
    target = provider_logout_url(request, after=after)
    logout(request)
    if target == after:
        return HttpResponseRedirect(after)
    return TemplateResponse(
        request,
        "sso/leaving.html",
        {"target": target, "provider": getattr(settings, "OIDC_PROVIDER_NAME", "")},
    )


def signed_out(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser back after signing out."""
    _enabled()
    if request.user.is_authenticated:
        return redirect("sso:signout")
    return TemplateResponse(request, "sso/signed_out.html", {})
