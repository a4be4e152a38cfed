"""POST /api/auth/token/: DRF's token for a username and password, with the protections
of the sign-in pages (nixflow/security.py): the per-address ``login`` rate, and
django-axes counting failures and locking the account out for that address.

These are the legacy tokens (docs/api-tokens.md). Once ``API_LEGACY_TOKENS`` is off they
are refused everywhere, so none is handed out either: the answer says where integration
tokens come from, and no password is checked (the refusal tells nothing about it)."""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from nixflow.api.parsers import JSONParser
from nixflow.security import LoginThrottle, client_address


class TokenLoginView(ObtainAuthToken):
    throttle_classes = [LoginThrottle]
    # DRF's view names its own parsers; the JSON one with the API's limits.
    parser_classes = [FormParser, MultiPartParser, JSONParser]

    def get_serializer_context(self) -> dict[str, Any]:
        # authenticate() gets the HttpRequest, not DRF's wrapper: django-axes marks the
        # request it is given as locked out, and AxesMiddleware, which turns that mark
        # into the lockout response, only ever sees the HttpRequest.
        return {**super().get_serializer_context(), "request": self.request._request}

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not getattr(settings, "API_LEGACY_TOKENS", True):
            return Response(
                {
                    "detail": _(
                        "Legacy API tokens are switched off on this desk. Create an "
                        "integration token in the admin (API tokens) or with POST "
                        "/api/tokens/, and send it as 'Authorization: Bearer <token>'."
                    )
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        response = super().post(request, *args, **kwargs)
        if settings.AXES_RESET_ON_SUCCESS:
            # A token is a sign-in that never calls login(), so the user_logged_in signal
            # by which axes forgets earlier failures never fires: forget them as it would
            # (this username's failures from this address).
            AxesProxyHandler.reset_attempts(
                ip_address=client_address(request), username=request.data.get("username")
            )
        return response
