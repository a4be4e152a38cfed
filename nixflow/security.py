"""Abuse limits: who a client is, how often it may ask, how much it may send.

Settings choose the numbers (``nixflow/settings.py``, "Abuse limits"); this module holds
the pieces they name (the token endpoint that uses them is ``nixflow/api/auth.py``):

- ``client_address``: the one answer to "which address is this?", used by every rate
  limit and by django-axes, so that a limit can't be dodged by a forged header;
- DRF throttles keyed on it (anonymous, per user, scoped, sign-in);
- middleware for a ceiling on any request body, and for the per-address limit on the
  HTML sign-in pages;
- the responses for all of these: JSON ``{"detail": ...}`` under ``/api/``, a short page
  elsewhere, with ``Retry-After`` when waiting helps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import (
    AnonRateThrottle,
    BaseThrottle,
    ScopedRateThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)

API_PREFIX = "/api/"
# The HTML sign-in pages (URL names) that share the token endpoint's per-address limit.
LOGIN_VIEWS = frozenset({"admin:login", "forms_builder:login"})


def client_address(request: HttpRequest | Request) -> str | None:
    """The address a request came from, as every abuse limit counts it.

    DRF trusts any X-Forwarded-For when NUM_PROXIES is unset, and a client can send a
    new one with every request to dodge a limit. So only the socket's address counts
    until the deployment says how many proxies in front of it to trust (NUM_PROXIES).
    """
    if api_settings.NUM_PROXIES is None:
        return request.META.get("REMOTE_ADDR") or None
    # get_ident reads only headers and META, which a Django request has too; the stubs
    # want DRF's Request.
    return BaseThrottle().get_ident(request) or None  # type: ignore[arg-type]


class ClientAddressMixin:
    # Returns None for a request without an address, as DRF's own get_ident does; the
    # DRF stubs declare str, hence the ignores on the throttles below.
    def get_ident(self, request: HttpRequest | Request) -> str | None:
        return client_address(request)


class AnonThrottle(ClientAddressMixin, AnonRateThrottle):  # type: ignore[misc]
    """Anonymous callers, per address (scope ``anon``)."""


class UserThrottle(ClientAddressMixin, UserRateThrottle):  # type: ignore[misc]
    """Signed-in callers per user, others per address (scope ``user``)."""


class ScopedThrottle(ClientAddressMixin, ScopedRateThrottle):  # type: ignore[misc]
    """The rate of the view's ``throttle_scope``, per user or address; views without
    one are not limited by it."""


class LoginThrottle(ClientAddressMixin, SimpleRateThrottle):  # type: ignore[misc]
    """Sign-in attempts per address (scope ``login``), whoever they claim to be: the
    guard against one address trying many accounts, which django-axes (counting per
    account and address) does not see."""

    scope = "login"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


# --- Responses ------------------------------------------------------------------------
def refused(
    request: HttpRequest, *, status: int, message: str, retry_after: int | None = None
) -> HttpResponse:
    """A refusal in the caller's language: DRF's JSON error shape under /api/, a short
    page for people elsewhere."""
    response: HttpResponse
    if request.path_info.startswith(API_PREFIX):
        response = JsonResponse({"detail": message}, status=status)
    else:
        page = render_to_string("nixflow/refused.html", {"message": message}, request=request)
        response = HttpResponse(page, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """django-axes' answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE)."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return refused(
            request,
            status=settings.AXES_HTTP_RESPONSE_CODE,
            message="Too many failed sign-in attempts: this account is locked for your "
            "address. Ask an administrator to unlock it.",
        )
    wait = int(cool_off.total_seconds())
    return refused(
        request,
        status=settings.AXES_HTTP_RESPONSE_CODE,
        message="Too many failed sign-in attempts: this account is locked for your "
        f"address. Try again in {_minutes(wait)}.",
        retry_after=wait,
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: say that a form was too large, rather than just "Bad Request"."""
    if isinstance(exception, RequestDataTooBig):
        return refused(
            request,
            status=413,
            message="The form's data is too large "
            f"(at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes besides files).",
        )
    return defaults.bad_request(request, exception)


# --- Middleware -------------------------------------------------------------------------
class RequestSizeLimitMiddleware:
    """413 for a request whose declared body is over NIXFLOW_MAX_REQUEST_BYTES, before
    any of it is read.

    Django limits form fields but spools multipart files of any size to disk, and that
    happens for every POST whose form is read, the CSRF check's included. The ceiling is
    the largest body any endpoint takes (a raw mail, or a comment with its attachments);
    views check their own, smaller limits. Under WSGI a body without Content-Length
    reads as empty, so the declared length is the whole story.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = settings.NIXFLOW_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return refused(
                request,
                status=413,
                message=f"The request body is {length} bytes; the limit is {limit}.",
            )
        return self.get_response(request)


class LoginThrottleMiddleware:
    """The ``login`` rate per address for the HTML sign-in pages (LOGIN_VIEWS), as the
    token endpoint has it through its throttle class."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if request.method != "POST" or request.resolver_match is None:
            return None
        if request.resolver_match.view_name not in LOGIN_VIEWS:
            return None
        throttle = LoginThrottle()
        # SimpleRateThrottle needs of the request only what a Django request has, and of
        # the view nothing (get_cache_key ignores it); the stubs want DRF's Request and a view.
        if throttle.allow_request(request, None):  # type: ignore[arg-type]
            return None
        wait = math.ceil(throttle.wait() or 60)
        return refused(
            request,
            status=429,
            message=f"Too many sign-in attempts from your address. Try again in {_minutes(wait)}.",
            retry_after=wait,
        )
