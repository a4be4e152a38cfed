"""Rate limit for anonymous submissions, shared by the HTML page and the API."""

from __future__ import annotations

from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle

# Per client address, across every public form; signed-in users are not limited.
# Zammad's web form allows 20 an hour per address.
FORM_SUBMIT_ANON_RATE = "20/hour"


class FormSubmitAnonThrottle(AnonRateThrottle):
    scope = "form_submit"
    rate = FORM_SUBMIT_ANON_RATE

    def get_ident(self, request: Any) -> str:
        # DRF trusts any X-Forwarded-For when NUM_PROXIES is unset, and a client can
        # send a new one with every request to dodge the limit. Only the socket's
        # address counts until the deployment says how many proxies to trust.
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR") or ""
        return super().get_ident(request)
