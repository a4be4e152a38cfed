"""The help center's pages: server-rendered, readable without JavaScript.

Reads go through ``helpcenter.reading`` (the KB's visibility rule), writes through the
KB's services (``knowledge.services``): counted views, the search history and its
clicks, ratings and feedback, exactly as the KB's API records them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import condition, require_GET, require_POST, require_safe

from helpcenter import reading
from knowledge import search, services
from knowledge.query import MAX_QUERY_CHARS
from nixflow.security import UserThrottle

SEARCH_PAGE_SIZE = 10
MAX_SEARCH_PAGE = 100  # a bound on OFFSET: nobody reads page 1,000 of a search
MAX_FEEDBACK_CHARS = 5000


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> TemplateResponse:
    context.setdefault("desk_name", admin.site.site_header)
    return TemplateResponse(request, f"helpcenter/{template}", context, status=status)


def not_found(request: HttpRequest) -> TemplateResponse:
    """The 404 of the help center, in its own look: the same answer whether the article
    does not exist or is not for this reader."""
    return _page(request, "not_found.html", {}, status=404)


@require_safe
def home(request: HttpRequest) -> TemplateResponse:
    user = request.user
    context = {
        "categories": reading.categories(user=user),
        "most_viewed": reading.most_viewed(user=user),
        "recently_updated": reading.recently_updated(user=user),
    }
    return _page(request, "home.html", context)


@require_safe
def category(request: HttpRequest, slug: str) -> TemplateResponse:
    found = reading.category_by_slug(user=request.user, slug=slug)
    if found is None:
        return not_found(request)
    articles = reading.published_articles(user=request.user).filter(category=found)
    paginator = Paginator(articles, 20)
    page = paginator.get_page(request.GET.get("page"))
    return _page(request, "category.html", {"category": found, "page": page})


# --- the article page, with conditional GETs --------------------------------------------
def _freshness(request: HttpRequest, slug: str) -> tuple[str, datetime] | None:
    # condition() calls both functions; one query serves them (cached on the request).
    cache = getattr(request, "_helpcenter_freshness", {})
    if slug not in cache:
        cache[slug] = reading.article_freshness(user=request.user, slug=slug)
        request._helpcenter_freshness = cache  # type: ignore[attr-defined]
    found: tuple[str, datetime] | None = cache[slug]
    return found


def _etag(request: HttpRequest, slug: str) -> str | None:
    found = _freshness(request, slug)
    return None if found is None else found[0]


def _last_modified(request: HttpRequest, slug: str) -> datetime | None:
    found = _freshness(request, slug)
    return None if found is None else found[1]


def _viewer_key(request: HttpRequest) -> str:
    """As the KB API counts a reader: the user, else the session or address and agent."""
    session_key = request.session.session_key
    client = session_key or (
        f"{request.META.get('REMOTE_ADDR', '')}|{request.META.get('HTTP_USER_AGENT', '')}"
    )
    user = request.user if request.user.is_authenticated else None
    return services.viewer_key_for(user=user, client=client)


@require_safe
@condition(etag_func=_etag, last_modified_func=_last_modified)
def article(request: HttpRequest, slug: str) -> HttpResponse:
    """The article as the KB renders it for its API (``body_html``, sanitized on save).
    A 304 answers a reader whose copy is current: the article's version and change time
    and the reader's own rating are in the ETag. Only a full answer counts a view."""
    found = reading.article_by_slug(user=request.user, slug=slug)
    if found is None:
        return not_found(request)
    user = request.user if request.user.is_authenticated else None
    services.article_view_record(article=found, user=user, viewer_key=_viewer_key(request))
    context = {
        "article": found,
        "internal": reading.is_internal(found),
        "related": reading.related_articles(user=request.user, article=found),
        "my_rating": reading.my_rating(user=request.user, article=found),
        "thanks": request.GET.get("thanks", ""),
    }
    return _page(request, "article.html", context)


# --- search ----------------------------------------------------------------------------
def _search_page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    number = int(raw) if raw.isdigit() and len(raw) < 6 else 1
    return min(max(number, 1), MAX_SEARCH_PAGE)


@require_safe
def search_page(request: HttpRequest) -> TemplateResponse:
    """Search on the KB's engine; the first page of each search is recorded in the
    search history (as the API does), and its results link through ``search_click``."""
    query = request.GET.get("q", "").replace("\x00", "")
    context: dict[str, Any] = {"query": query}
    if not query.strip():
        return _page(request, "search.html", context)
    if len(query) > MAX_QUERY_CHARS:
        context["error"] = _("Please shorten your search to %(n)d characters.") % {
            "n": MAX_QUERY_CHARS
        }
        return _page(request, "search.html", context, status=400)
    number = _search_page_number(request)
    results = search.article_search(
        user=request.user,
        query=query,
        offset=(number - 1) * SEARCH_PAGE_SIZE,
        limit=SEARCH_PAGE_SIZE,
    )
    token = request.GET.get("s", "")
    if number == 1:
        token = str(
            services.search_record(
                query=query.strip(),
                normalized_query=results.normalized_query,
                user=request.user if request.user.is_authenticated else None,
                results_count=results.count,
                corrected_query=results.corrected_query,
            ).token
        )
    context.update(
        results=results,
        token=_valid_token(token),
        number=number,
        has_next=number * SEARCH_PAGE_SIZE < results.count and number < MAX_SEARCH_PAGE,
    )
    return _page(request, "search.html", context)


def _valid_token(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return ""


@require_GET  # not HEAD: a link checker's HEAD is not a reader's click
def search_click(request: HttpRequest, token: uuid.UUID, slug: str) -> HttpResponse:
    """A result's link: record the click on the search (the first one counts, as the
    API's click report), then go to the article. An article the reader may not find is
    the help center's 404, and records nothing."""
    found = reading.article_by_slug(user=request.user, slug=slug)
    if found is None:
        return not_found(request)
    services.search_click(token=token, article=found)
    return redirect("helpcenter:article", slug=found.slug)


# --- "Was this helpful?" and feedback --------------------------------------------------
def _throttled(request: HttpRequest) -> HttpResponse | None:
    """The API's limit for signed-in readers (``nixflow.security.UserThrottle``, scope
    ``user``), here for the same writes made from a page."""
    throttle = UserThrottle()
    # A Django request and no view do here (as forms_builder's submit limit).
    if throttle.allow_request(request, None):  # type: ignore[arg-type]
        return None
    wait = int(throttle.wait() or 60)
    response = _page(request, "throttled.html", {"wait": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


def _article_url(article_slug: str, **query: str) -> str:
    url = reverse("helpcenter:article", kwargs={"slug": article_slug})
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url + "#helpful"


@require_POST
def rate(request: HttpRequest, slug: str) -> HttpResponse:
    """Record "Was this helpful?" through the KB's rating service; signed-in readers
    only (the service refuses others), then back to the article."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('forms_builder:login')}?next={_article_url(slug)}")
    found = reading.article_by_slug(user=request.user, slug=slug)
    if found is None:
        return not_found(request)
    limited = _throttled(request)
    if limited is not None:
        return limited
    answer = request.POST.get("helpful")
    if answer not in {"yes", "no"}:
        return _page(request, "bad_request.html", {"article": found}, status=400)
    try:
        services.article_rate(article=found, user=request.user, helpful=answer == "yes")
    except PermissionDenied:
        return not_found(request)
    return HttpResponseRedirect(_article_url(found.slug, thanks="1"))


@require_POST
def feedback(request: HttpRequest, slug: str) -> HttpResponse:
    """A comment for the article's editors, through the KB's feedback service."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('forms_builder:login')}?next={_article_url(slug)}")
    found = reading.article_by_slug(user=request.user, slug=slug)
    if found is None:
        return not_found(request)
    limited = _throttled(request)
    if limited is not None:
        return limited
    comment = request.POST.get("comment", "").replace("\x00", "")[:MAX_FEEDBACK_CHARS]
    try:
        services.feedback_create(article=found, author=request.user, comment=comment)
    except ValidationError:
        context = {"article": found, "error": _("Tell us what is wrong or missing.")}
        return _page(request, "bad_request.html", context, status=400)
    except PermissionDenied:
        return not_found(request)
    return HttpResponseRedirect(_article_url(found.slug, thanks="2"))
