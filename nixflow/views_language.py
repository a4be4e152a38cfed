"""Choosing the language of the requester-facing pages: /language/.

Anonymous readers follow a plain link (GET ``?language=de&next=/help/...``) that sets
Django's language cookie, which LocaleMiddleware reads before ``Accept-Language``. A link,
not a form, because the help center's anonymous pages are cached with an ETag: a form
would need a CSRF token, and with it a cookie and ``Vary: Cookie`` on every page.
Choosing a language is no change to the desk, only to the reader's own browser, so a
GET may do it (the response is never cached).

Signed-in people use a form (POST, CSRF-protected) that also saves ``User.language``,
so their mail follows the choice too (``nixflow.toolkit.language``).

``next`` is followed only when it is a local URL of this site; anything else (another
host, ``//evil.example``, ``javascript:``) sends the reader to the help center's home.
An unknown or missing code shows the languages to choose from, never an error page.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from nixflow.toolkit.language import language_codes, user_set_language


def _home() -> str:
    try:
        return reverse("helpcenter:home")
    except NoReverseMatch:
        return "/"


def safe_next(request: HttpRequest, target: str | None) -> str:
    """``target`` when it is a URL on this site, else the help center's home."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return _home()


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def language_choose(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    code = data.get("language", "")
    target = safe_next(request, data.get("next"))
    if code not in language_codes():
        return TemplateResponse(
            request,
            "public/language.html",
            {"next_url": target, "unknown": code},
            status=400 if code else 200,
        )
    if request.method == "POST" and request.user.is_authenticated:
        user_set_language(user=request.user, language=code, actor=request.user)
    response = HttpResponseRedirect(target)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response
