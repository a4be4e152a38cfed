"""The help center's pages: server-rendered, readable without JavaScript.

Reads go through ``helpcenter.reading`` (the KB's visibility rule), writes through the
KB's services (``knowledge.services``): counted views, the search history and its
clicks, ratings and feedback, exactly as the KB's API records them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
)
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import condition, require_GET, require_POST, require_safe

from helpcenter import reading
from knowledge import search, services
from knowledge.models import KBCategory, KnowledgeCategory, KnowledgeTag
from knowledge.query import MAX_QUERY_CHARS
from nixflow.models import Ticket, User
from nixflow.security import UserThrottle, client_address

# The kinds of article as readers read them (the KB's own labels are for its staff and
# its API, and are not translated).
KIND_LABELS = {
    KBCategory.FAQ: pgettext_lazy("kind of article", "FAQ"),
    KBCategory.HOW_TO: pgettext_lazy("kind of article", "How-to"),
    KBCategory.TROUBLESHOOTING: pgettext_lazy("kind of article", "Troubleshooting"),
    KBCategory.REFERENCE: pgettext_lazy("kind of article", "Reference"),
    KBCategory.POLICY: pgettext_lazy("kind of article", "Policy"),
    KBCategory.KNOWN_ISSUE: pgettext_lazy("kind of article", "Known issue"),
    KBCategory.ANNOUNCEMENT: pgettext_lazy("kind of article", "Announcement"),
}
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


def unknown_path(request: HttpRequest) -> HttpResponse:
    """Any other address under /help/: the help center's 404. It catches everything, so
    Django's APPEND_SLASH (which acts only on addresses nothing matches) is done here:
    ``/help/network`` goes on to ``/help/network/`` when that is a page."""
    if not request.path.endswith("/") and request.method in {"GET", "HEAD"}:
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "unknown":
            target = request.path + "/"
            if request.META.get("QUERY_STRING"):
                target += "?" + request.META["QUERY_STRING"]
            return HttpResponsePermanentRedirect(target)
    return not_found(request)


@require_safe
def former_article_address(request: HttpRequest, slug: str) -> HttpResponse:
    """``/help/a/<slug>/``, the first release's article address: moved for good."""
    return HttpResponsePermanentRedirect(reverse("helpcenter:article", kwargs={"slug": slug}))


@require_safe
def former_category_address(request: HttpRequest, slug: str) -> HttpResponse:
    """``/help/c/<slug>/``, the first release's category address: moved for good."""
    return HttpResponsePermanentRedirect(reverse("helpcenter:category", kwargs={"slug": slug}))


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
def category(request: HttpRequest, slug: str) -> HttpResponse:
    found = reading.category_by_slug(user=request.user, slug=slug)
    if found is None:
        moved_to = reading.category_moved_to(user=request.user, slug=slug)
        if moved_to is not None:
            return HttpResponsePermanentRedirect(
                reverse("helpcenter:category", kwargs={"slug": moved_to})
            )
        return not_found(request)
    articles = reading.published_articles(user=request.user).filter(category=found)
    paginator = Paginator(articles, 20)
    page = paginator.get_page(request.GET.get("page"))
    return _page(request, "category.html", {"category": found, "page": page})


# --- the article page, with conditional GETs --------------------------------------------
def _freshness(request: HttpRequest, slug: str) -> reading.Freshness | None:
    # condition() calls both functions, and the view reuses it: one query serves all
    # (cached on the request).
    cache = getattr(request, "_helpcenter_freshness", {})
    if slug not in cache:
        cache[slug] = reading.article_freshness(
            user=request.user, slug=slug, reader_key=_reader_key(request)
        )
        request._helpcenter_freshness = cache  # type: ignore[attr-defined]
    found: reading.Freshness | None = cache[slug]
    return found


def _etag(request: HttpRequest, slug: str) -> str | None:
    found = _freshness(request, slug)
    return None if found is None else found.etag


def _last_modified(request: HttpRequest, slug: str) -> datetime | None:
    found = _freshness(request, slug)
    return None if found is None else found.last_modified


def _viewer_key(request: HttpRequest) -> str:
    """As the KB API counts a reader: the user, else the session or address and agent."""
    session_key = request.session.session_key
    client = session_key or (
        f"{request.META.get('REMOTE_ADDR', '')}|{request.META.get('HTTP_USER_AGENT', '')}"
    )
    user = request.user if request.user.is_authenticated else None
    return services.viewer_key_for(user=user, client=client)


def _reader_key(request: HttpRequest) -> str:
    """Who answers "Was this helpful?" without an account: their address and browser,
    hashed (``viewer_key_for``), not their session, which a reader could drop to answer
    again. Empty for signed-in readers: their account is who they are."""
    if request.user.is_authenticated:
        return ""
    client = f"{client_address(request) or ''}|{request.META.get('HTTP_USER_AGENT', '')}"
    return services.viewer_key_for(user=None, client=client)


@require_safe
@condition(etag_func=_etag, last_modified_func=_last_modified)
def article(request: HttpRequest, slug: str) -> HttpResponse:
    """The article as the KB renders it for its API (``body_html``, sanitized on save).
    A 304 answers a reader whose copy is current: the article's version and change time
    and the reader's own rating are in the ETag. Only a full answer counts a view."""
    fresh = _freshness(request, slug)
    if fresh is None:
        moved_to = reading.article_moved_to(user=request.user, slug=slug)
        if moved_to is not None:
            return HttpResponsePermanentRedirect(
                reverse("helpcenter:article", kwargs={"slug": moved_to})
            )
        return not_found(request)
    found = fresh.article
    user = request.user if request.user.is_authenticated else None
    services.article_view_record(article=found, user=user, viewer_key=_viewer_key(request))
    context = {
        "article": found,
        "internal": reading.is_internal(found),
        "tags": fresh.tags,
        "related": reading.related_articles(user=request.user, article=found, tags=fresh.tags),
        "attachments": reading.attachments_of(found) if fresh.files else [],
        "kind": KIND_LABELS[KBCategory(found.kind)],
        "my_rating": fresh.helpful,
        "thanks": request.GET.get("thanks", ""),
        "request_ticket": _own_ticket(request),
    }
    return _page(request, "article.html", context)


def _own_ticket(request: HttpRequest) -> Ticket | None:
    """The request a reader's comment just opened (``?ticket=<id>`` after sending it),
    if it is theirs: the page names its key."""
    raw = request.GET.get("ticket", "")
    if not raw.isdigit() or len(raw) > 12 or not request.user.is_authenticated:
        return None
    return Ticket.objects.filter(pk=int(raw), requester=request.user).only("id").first()


# --- search ----------------------------------------------------------------------------
def _search_page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    number = int(raw) if raw.isdigit() and len(raw) < 6 else 1
    return min(max(number, 1), MAX_SEARCH_PAGE)


@dataclass
class _Filters:
    """The search page's filters as the reader chose them, and what they offer."""

    categories: list[KnowledgeCategory]
    tags: list[KnowledgeTag]
    category: KnowledgeCategory | None = None
    tag: KnowledgeTag | None = None
    kind: str = ""
    unknown: list[str] = field(default_factory=list)

    def options(self, kinds: list[tuple[str, Any]]) -> dict[str, list[tuple[str, Any, bool]]]:
        """Each filter's choices as (value, label, chosen): the page renders 50 of them
        on every search, and a template loop that compares rows costs more than this."""
        chosen_category = self.category.pk if self.category else None
        chosen_tag = self.tag.pk if self.tag else None
        return {
            "category": [(c.slug, c.name, c.pk == chosen_category) for c in self.categories],
            "tag": [(t.slug, t.name, t.pk == chosen_tag) for t in self.tags],
            "kind": [(value, label, value == self.kind) for value, label in kinds],
        }

    @property
    def params(self) -> dict[str, str]:
        """The chosen filters as query parameters (for the pager's links)."""
        chosen = {
            "category": self.category.slug if self.category else "",
            "tag": self.tag.slug if self.tag else "",
            "kind": self.kind,
        }
        return {name: value for name, value in chosen.items() if value}


def _filters(request: HttpRequest) -> _Filters:
    """The filters of the query string. A value the reader may not choose (a category
    or tag they cannot find, an unknown kind) is dropped, and the page says so."""
    found = _Filters(
        categories=reading.filter_categories(user=request.user),
        tags=reading.filter_tags(user=request.user),
    )
    wanted = request.GET.get("category", "")
    if wanted:
        found.category = next((c for c in found.categories if c.slug == wanted), None)
        if found.category is None:
            found.unknown.append(_("Category"))
    wanted = request.GET.get("tag", "")
    if wanted:
        found.tag = next((t for t in found.tags if t.slug == wanted), None)
        if found.tag is None:
            found.unknown.append(_("Tag"))
    wanted = request.GET.get("kind", "")
    if wanted:
        if wanted in KBCategory.values:
            found.kind = wanted
        else:
            found.unknown.append(_("Kind of article"))
    return found


@require_safe
def search_page(request: HttpRequest) -> TemplateResponse:
    """Search on the KB's engine, with filters (category, tag, kind) and pages; the
    first page of each search is recorded in the search history (as the API does), and
    its results link through ``search_click``."""
    query = request.GET.get("q", "").replace("\x00", "")
    filters = _filters(request)
    kinds = [
        (value, KIND_LABELS.get(KBCategory(value), label)) for value, label in KBCategory.choices
    ]
    context: dict[str, Any] = {
        "query": query,
        "filters": filters,
        "options": filters.options(kinds),
    }
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
        category=filters.category,
        tag=filters.tag,
        kind=filters.kind or None,
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
    token = _valid_token(token)
    here = {"q": query, **filters.params}
    context.update(
        results=results,
        token=token,
        number=number,
        has_next=number * SEARCH_PAGE_SIZE < results.count and number < MAX_SEARCH_PAGE,
        previous_url=_search_url(here, page=number - 1, token=token) if number > 1 else "",
        next_url=_search_url(here, page=number + 1, token=token),
        corrected_url=_search_url({**here, "q": results.corrected_query})
        if results.corrected_query
        else "",
    )
    return _page(request, "search.html", context)


def _search_url(params: dict[str, str], *, page: int = 1, token: str = "") -> str:
    """A search page's address: later pages carry the search's token (the history
    records the search once, on its first page)."""
    query = dict(params)
    if page > 1:
        query.update(page=str(page), s=token)
    return reverse("helpcenter:search") + "?" + urlencode(query)


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
    """Record "Was this helpful?" through the KB's rating service, then back to the
    article. Anonymous readers answer too, once per reader (``_reader_key``)."""
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
        services.article_rate(
            article=found,
            user=request.user if request.user.is_authenticated else None,
            helpful=answer == "yes",
            reader_key=_reader_key(request),
        )
    except PermissionDenied:
        return not_found(request)
    return HttpResponseRedirect(_article_url(found.slug, thanks="1"))


@require_POST
def feedback(request: HttpRequest, slug: str) -> HttpResponse:
    """A comment for the article's editors, through the KB's feedback service. A
    signed-in reader may send it as a request (a ticket opened for them); an anonymous
    reader's comment stays feedback, with the contact they leave, if any."""
    found = reading.article_by_slug(user=request.user, slug=slug)
    if found is None:
        return not_found(request)
    limited = _throttled(request)
    if limited is not None:
        return limited
    signed_in = request.user.is_authenticated
    comment = request.POST.get("comment", "").replace("\x00", "")[:MAX_FEEDBACK_CHARS]
    contact = "" if signed_in else request.POST.get("contact", "").replace("\x00", "")[:200]
    as_request = signed_in and request.POST.get("as_request") == "1"
    try:
        made = services.feedback_create(
            article=found,
            author=request.user if isinstance(request.user, User) else None,
            comment=comment,
            contact=contact,
            as_request=as_request,
        )
    except ValidationError as error:
        message = _("Tell us what is wrong or missing.")
        if "comment" not in getattr(error, "error_dict", {}):
            message = _("Please check what you typed: %(problem)s") % {
                "problem": " ".join(error.messages)
            }
        context = {"article": found, "error": message}
        return _page(request, "bad_request.html", context, status=400)
    except PermissionDenied:
        return not_found(request)
    if made.ticket_id is not None:
        return HttpResponseRedirect(
            _article_url(found.slug, thanks="3", ticket=str(made.ticket_id))
        )
    return HttpResponseRedirect(_article_url(found.slug, thanks="2"))
