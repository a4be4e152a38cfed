"""The portal's account pages: signing in (password or mailed link), the link's page,
signing out, and the person's own settings. How the links work, and why the answer to
"mail me a link" never says whether an account exists: ``portal.access``.

Server-rendered, without JavaScript; every form is CSRF-protected and every refusal is a
page that says what happened (429 with Retry-After when a limit was reached).
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from nixflow.models import User
from nixflow.security import LoginThrottle
from portal import access

LINK_SENT_SESSION_KEY = "portal.signin_link_sent"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


# --- Forms ------------------------------------------------------------------------------
class PasswordSigninForm(AuthenticationForm):
    """Django's sign-in form (through ``authenticate``, so django-axes counts failures),
    taking an e-mail address as well as a username."""

    username = forms.CharField(
        label=_("E-mail address or username"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Two forms on the page, the link first: focus stays where the reader puts it.
        self.fields["username"].widget.attrs.pop("autofocus", None)

    def clean(self) -> dict[str, Any]:
        given = (self.cleaned_data.get("username") or "").strip()
        if "@" in given:
            found = (
                User.objects.filter(email__iexact=given)
                .exclude(email="")
                .values_list("username", flat=True)
                .first()
            )
            if found is not None:
                self.cleaned_data["username"] = found
        return super().clean()


class LinkRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


def _language_choices() -> list[tuple[str, Any]]:
    return [("", _("Browser default")), *((code, str(name)) for code, name in settings.LANGUAGES)]


def _zone_choices() -> list[tuple[str, str]]:
    desk = _("The help desk's time zone (%(zone)s)") % {"zone": settings.TIME_ZONE}
    return [("", desk), *((name, name) for name in access.time_zone_names())]


class ProfileForm(forms.Form):
    first_name = forms.CharField(
        label=_("First name"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    language = forms.ChoiceField(label=_("Language"), required=False, choices=_language_choices)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        required=False,
        choices=_zone_choices,
        help_text=_("Dates and times are shown in this zone."),
    )


# --- Helpers ----------------------------------------------------------------------------
def _default_next() -> str:
    """Where a person lands after signing in: their requests, or their settings while
    the portal has no list of requests."""
    try:
        return reverse("portal:tickets")
    except NoReverseMatch:
        return reverse("portal:settings")


def _next(request: HttpRequest) -> str:
    return access.safe_next(request, request.POST.get("next") or request.GET.get("next"))


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def _throttled(request: HttpRequest, wait: int, *, link: bool) -> HttpResponse:
    response = TemplateResponse(
        request,
        "portal/account/throttled.html",
        {"minutes": _minutes(wait), "link": link},
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response


def _signin_page(
    request: HttpRequest,
    *,
    password_form: PasswordSigninForm | None = None,
    link_form: LinkRequestForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "password_form": password_form or PasswordSigninForm(request),
        "link_form": link_form or LinkRequestForm(),
        "next": _next(request),
        "minutes": access.link_minutes(),
    }
    return TemplateResponse(request, "portal/account/signin.html", context, status=status)


# --- Views ------------------------------------------------------------------------------
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def signin(request: HttpRequest) -> HttpResponse:
    """Two ways in on one page: a password, or a link mailed to the address."""
    if request.method != "POST":
        if request.user.is_authenticated:
            return redirect(_next(request) or _default_next())
        return _signin_page(request)
    if request.POST.get("how") == "link":
        return _ask_for_link(request)
    return _password_signin(request)


def _password_signin(request: HttpRequest) -> HttpResponse:
    # The per-address sign-in limit the admin's and the forms' sign-in pages share
    # (nixflow.security.LoginThrottleMiddleware): one address trying many accounts.
    # django-axes, through authenticate(), locks one account from one address.
    throttle = LoginThrottle()
    if not throttle.allow_request(request, None):  # type: ignore[arg-type]
        return _throttled(request, math.ceil(throttle.wait() or 60), link=False)
    form = PasswordSigninForm(request, data=request.POST)
    if not form.is_valid():
        return _signin_page(request, password_form=form)
    login(request, form.get_user())
    return HttpResponseRedirect(_next(request) or _default_next())


def _ask_for_link(request: HttpRequest) -> HttpResponse:
    form = LinkRequestForm(request.POST)
    if not form.is_valid():
        return _signin_page(request, link_form=form)
    email = form.cleaned_data["email"]
    wait = access.signin_link_throttled(request, email)
    if wait is not None:
        return _throttled(request, wait, link=True)
    access.signin_link_request(email=email, next_url=_next(request))
    request.session[LINK_SENT_SESSION_KEY] = email
    return redirect("portal:signin_link_sent")


@never_cache
@require_http_methods(["GET", "HEAD"])
def signin_link_sent(request: HttpRequest) -> HttpResponse:
    """After asking for a link (Post/Redirect/Get): the same words for every address."""
    context = {
        "email": request.session.get(LINK_SENT_SESSION_KEY, ""),
        "minutes": access.link_minutes(),
    }
    return TemplateResponse(request, "portal/account/link_sent.html", context)


LINK_STATUS = {
    access.LinkState.VALID: 200,
    access.LinkState.EXPIRED: 410,
    access.LinkState.INVALID: 404,
}


@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def signin_link(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The mailed link. GET shows a "Sign in" button (mail scanners fetch links: looking
    must not use it up); the button's POST signs in, which ends the link."""
    check = access.link_check(uidb64=uidb64, token=token)
    valid = check.state is access.LinkState.VALID
    if valid and check.user is not None and request.method == "POST":
        # A fresh session (login() cycles the key); last_login moves, so every link
        # mailed to this person until now stops working.
        login(request, check.user, backend=MODEL_BACKEND)
        return HttpResponseRedirect(_next(request) or _default_next())
    context = {
        "state": check.state.value,
        "link_user": check.user,
        "next": _next(request),
        "signed_in_as_other": request.user.is_authenticated
        and check.user is not None
        and request.user.pk != check.user.pk,
    }
    return TemplateResponse(
        request, "portal/account/link.html", context, status=LINK_STATUS[check.state]
    )


@require_http_methods(["GET", "HEAD", "POST"])
def signout(request: HttpRequest) -> HttpResponse:
    """POST signs out. GET (an old bookmark, a prefetch) only asks: signing out by a
    GET would let any page sign a visitor out."""
    if request.method == "POST":
        logout(request)
        return redirect(f"{reverse('portal:signin')}?{urlencode({'signed_out': 1})}")
    return TemplateResponse(request, "portal/account/signout.html", {})


def _password_form(user: User, data: Any = None) -> SetPasswordForm[User] | PasswordChangeForm:
    # The current password is asked whenever there is one, however the person signed in
    # (a link in a mailbox someone else can read must not be enough to take the account).
    form: SetPasswordForm[User] | PasswordChangeForm
    form = (
        PasswordChangeForm(user, data)
        if user.has_usable_password()
        else SetPasswordForm(user, data)
    )
    for field in form.fields.values():  # the profile form comes first on the page
        field.widget.attrs.pop("autofocus", None)
    return form


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    """Name, language, time zone, and a password."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('portal:signin')}?{urlencode({'next': request.path})}")
    user: User = request.user
    profile = ProfileForm(
        initial={
            "first_name": user.first_name,
            "last_name": user.last_name,
            "language": user.language,
            "time_zone": user.time_zone,
        }
    )
    password = _password_form(user)
    if request.method == "POST" and request.POST.get("form") == "password":
        password = _password_form(user, request.POST)
        if password.is_valid():
            password.save()
            update_session_auth_hash(request, password.user)  # stay signed in here
            messages.success(request, _("Your password was saved."))
            return redirect("portal:settings")
    elif request.method == "POST":
        profile = ProfileForm(request.POST)
        if profile.is_valid():
            try:
                access.account_update(user=user, data=dict(profile.cleaned_data))
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    for message in errors:
                        profile.add_error(field if field in profile.fields else None, message)
            else:
                messages.success(request, _("Your settings were saved."))
                return redirect("portal:settings")
    context = {
        "profile_form": profile,
        "password_form": password,
        "has_password": user.has_usable_password(),
    }
    return TemplateResponse(request, "portal/account/settings.html", context)
