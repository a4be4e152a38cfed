"""Dates in the reader's time zone: the admin shows every date and time in the signed-in
user's ``time_zone`` when they chose one, else in the desk's TIME_ZONE.

After AuthenticationMiddleware (it reads ``request.user``). Django converts aware
datetimes to the *current* time zone when it renders them; activating it per request
(and deactivating it after, since the worker thread serves the next request for
someone else) is how Django's documentation has it done. A zone name that is not (or no
longer) known falls back to TIME_ZONE rather than failing the page.

Not for the API (``/api/``): it writes ISO 8601 timestamps, which DRF would otherwise
give in the caller's zone when a session signs them in; clients expect them the same
whoever asks (UTC offsets as the desk's TIME_ZONE has them).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

API_PREFIX = "/api/"  # nixflow/urls.py


@lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class UserTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        api = request.path_info.startswith(API_PREFIX)
        name = getattr(user, "time_zone", "") if user is not None and not api else ""
        zone = _zone(name) if name else None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class UserLanguageMiddleware:
    """The signed-in person's own language (``User.language``) before the browser's.

    After LocaleMiddleware, which has activated the language of the cookie or of
    ``Accept-Language`` (and marks responses ``Vary: Accept-Language``), and after
    AuthenticationMiddleware. A code that is not (or no longer) one of LANGUAGES is
    ignored rather than failing the page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        code = getattr(user, "language", "") if user is not None else ""
        if code and code in _languages():
            translation.activate(code)
            request.LANGUAGE_CODE = code
        return self.get_response(request)


@lru_cache(maxsize=1)
def _languages() -> frozenset[str]:
    return frozenset(code for code, _name in settings.LANGUAGES)
