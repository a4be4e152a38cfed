"""Rate limit for anonymous submissions, shared by the HTML page and the API."""

from __future__ import annotations

from rest_framework.throttling import AnonRateThrottle

from nixflow.security import ClientAddressMixin


# The ignore: get_ident may return None, as DRF's does; its stubs say str (nixflow.security).
class FormSubmitAnonThrottle(ClientAddressMixin, AnonRateThrottle):  # type: ignore[misc]
    """Per client address (as every abuse limit counts it), across every public form;
    signed-in users are not limited. The rate is settings.THROTTLE_RATES["form_submit"]
    (THROTTLE_FORM_SUBMIT_RATE, 20 an hour as Zammad's web form allows)."""

    scope = "form_submit"
    rate: str | None = None  # from the scope's rate in settings
