"""The survey's pages, opened from the mail without signing in: the link's signed token
is the key (``csat.services.survey_link``).

Opening a link records nothing: mail scanners fetch every link of a message, and a GET
that voted would vote for them. The page shows the answer of the link preselected (or
the answer given before) and one button; the POST records it, then sends the browser to
the thanks page (a reload does not post again). While the survey is open, a later visit
changes the answer or the comment. An altered link gets 400, a closed survey 410, each
with a page that says so.
"""

from __future__ import annotations

from contextlib import ExitStack
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from csat import services
from csat.forms import RatingForm
from csat.models import RatingValue, Survey
from nixflow.models import User

PROBLEM_STATUS = {services.LinkState.INVALID: 400, services.LinkState.CLOSED: 410}


def _render(
    request: HttpRequest, survey: Survey | None, response: TemplateResponse
) -> HttpResponse:
    """Render in the requester's own language and time zone when they chose them (as
    their mail was written): nobody needs to be signed in here, so the middleware may
    not know them. A language chosen in this browser (the chooser's cookie) or by
    whoever is signed in comes first."""
    requester = survey.requester if survey is not None else None
    language = _language(request, requester)
    zone = _zone(getattr(requester, "time_zone", "") or "")
    with ExitStack() as stack:
        if language:
            stack.enter_context(translation.override(language))
            response["Content-Language"] = language
        if zone is not None:
            stack.enter_context(timezone.override(zone))
        response.render()
    return response


def _language(request: HttpRequest, requester: User | None) -> str:
    if request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME):
        return ""
    if getattr(request.user, "is_authenticated", False) and getattr(request.user, "language", ""):
        return ""
    code = getattr(requester, "language", "") or ""
    return code if code in {code for code, _name in settings.LANGUAGES} else ""


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _problem(request: HttpRequest, link: services.Link) -> HttpResponse:
    response = TemplateResponse(
        request,
        "csat/problem.html",
        {"state": link.state.value, "survey": link.survey},
        status=PROBLEM_STATUS[link.state],
    )
    return _render(request, link.survey, response)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def survey_page(request: HttpRequest, token: str, choice: str = "") -> HttpResponse:
    link = services.survey_link(token=token)
    survey = link.survey
    if link.state is not services.LinkState.READY or survey is None:
        return _problem(request, link)
    requester = survey.requester
    assert isinstance(requester, User)  # noqa: S101 -- a sent survey names its requester
    existing = getattr(survey, "rating", None)
    if request.method == "POST":
        form = RatingForm(request.POST)
        if form.is_valid():
            try:
                services.rating_record(
                    survey=survey,
                    requester=requester,
                    rating=form.cleaned_data["rating"],
                    comment=form.cleaned_data["comment"],
                )
            except services.SurveyClosed:
                return _problem(request, services.Link(services.LinkState.CLOSED, survey))
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    for message in messages:
                        form.add_error(field if field in form.fields else None, message)
            else:
                return HttpResponseRedirect(reverse("csat:thanks", args=[token]))
    else:
        initial = {
            "rating": choice or (existing.rating if existing else ""),
            "comment": existing.comment if existing else "",
        }
        form = RatingForm(initial=initial)
    response = TemplateResponse(
        request,
        "csat/survey.html",
        {
            "form": form,
            "survey": survey,
            "ticket": survey.ticket,
            "rating": existing,
            "token": token,
        },
        status=400 if form.is_bound else 200,
    )
    return _render(request, survey, response)


@never_cache
@require_http_methods(["GET", "HEAD"])
def thanks_page(request: HttpRequest, token: str) -> HttpResponse:
    link = services.survey_link(token=token)
    survey = link.survey
    if link.state is not services.LinkState.READY or survey is None:
        return _problem(request, link)
    rating = getattr(survey, "rating", None)
    response = TemplateResponse(
        request,
        "csat/thanks.html",
        {
            "survey": survey,
            "ticket": survey.ticket,
            "rating": rating,
            "good": rating is not None and rating.rating == RatingValue.GOOD,
            "token": token,
        },
    )
    return _render(request, survey, response)
