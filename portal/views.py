"""The requester's tickets and new requests: server-rendered pages that work without
JavaScript (one small static script adds live suggestions on "New request").

Each view is a sign-in check, a selector or one service, and a template. A ticket that
is not the person's own (requested or watched) is a 404, exactly like one that does not
exist. Errors are messages on the page, never a 500: a refused reply keeps its text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from nixflow import services
from nixflow.models import Stage, User
from nixflow.services.replies import StaleReply
from nixflow.toolkit.downloads import attachment_response
from nixflow.toolkit.panels import REQUESTER, render_ticket_panels
from portal import selectors
from portal.services import (
    StageChanged,
    deflection_opened,
    deflection_shown,
    portal_reply,
    portal_request_create,
    portal_transition,
)

MAX_SUBJECT = 200
MAX_TEXT = 20_000
MAX_QUERY = 200

View = Callable[..., HttpResponseBase]


def signin_url() -> str:
    try:
        return reverse("portal:signin")
    except NoReverseMatch:  # the sign-in pages are not installed: the site's login
        return str(settings.LOGIN_URL)


def signed_in(view: View) -> View:
    """Anonymous visitors go to the portal's sign-in page, and come back after."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), signin_url())
        return view(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)  # signed_in let only signed-in people through


def _ticket_or_404(request: HttpRequest, key: str) -> Any:
    ticket = selectors.ticket_get(user=_user(request), key=key)
    if ticket is None:
        raise Http404(_("No such request."))
    return ticket


def _row_id(number: int) -> int:
    """A URL's id as a row id; beyond bigint it names no row (and PostgreSQL would
    refuse the comparison), so 404."""
    if not 0 < number < 2**63:
        raise Http404(_("No such file."))
    return number


def _messages_of(error: ValidationError) -> list[str]:
    return [str(m) for m in error.messages]


# PostgreSQL's text cannot hold a NUL character: a search or a suggestion drops it, a
# text to be stored is refused with this message (never a database error).
NUL = "\x00"


def _nul_message() -> str:
    return _("Remove the null character (an invisible control character) from your text.")


def _no_nul(text: str) -> str:
    return text.replace(NUL, "")


# --- the list -------------------------------------------------------------------------
@require_GET
@signed_in
def tickets(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", selectors.OPEN)
    if status not in selectors.STATUSES:
        status = selectors.OPEN
    query = _no_nul(request.GET.get("q", ""))[:MAX_QUERY].strip()
    after = request.GET.get("after", "")[:200]
    page = selectors.ticket_page(user=_user(request), status=status, query=query, after=after)
    return render(
        request,
        "portal/tickets.html",
        {
            "page": page,
            "status": status,
            "query": query,
            "after": after,
            "statuses": [
                (selectors.OPEN, _("Open")),
                (selectors.CLOSED, _("Resolved and closed")),
                (selectors.ALL, _("All")),
            ],
        },
    )


# --- one ticket -----------------------------------------------------------------------
def _ticket_page(
    request: HttpRequest, ticket: Any, *, status: int = 200, **extra: Any
) -> HttpResponse:
    user = _user(request)
    comments = list(selectors.public_comments(ticket=ticket))
    context = {
        "ticket": ticket,
        "status_text": selectors.status_text(ticket.stage.category),
        "closed": ticket.stage.category == "CLOSED",
        "comments": comments,
        "opener": selectors.opened_by(ticket=ticket),
        # What other apps show the requester about the ticket (the satisfaction survey).
        "panels": [
            panel
            for panel in render_ticket_panels(request, ticket, audience=REQUESTER)
            if panel.html
        ],
        "seen_comment_id": comments[-1].pk if comments else 0,
        "actions": selectors.stage_actions(ticket=ticket, user=user),
        "is_requester": ticket.requester_id == user.pk,
        "max_files": settings.NIXFLOW_MAX_ATTACHMENTS,
        "body": "",
        "errors": [],
        **extra,
    }
    return render(request, "portal/ticket.html", context, status=status)


@require_GET
@signed_in
def ticket(request: HttpRequest, key: str) -> HttpResponse:
    return _ticket_page(request, _ticket_or_404(request, key))


def _reply_refused(ticket: Any, body: str) -> tuple[int, str] | None:
    """(status, message) when a reply can't be taken as written, else None."""
    if not body.strip():
        return 400, _("Write a reply first.")
    if NUL in body:
        return 400, _nul_message()
    if len(body) > MAX_TEXT:
        return 400, _("A reply can be at most %(n)d characters.") % {"n": MAX_TEXT}
    if ticket.stage.category == "CLOSED":
        return 409, _("This request is closed: replies are not taken any more.")
    return None


@require_POST
@signed_in
def reply(request: HttpRequest, key: str) -> HttpResponse:
    ticket = _ticket_or_404(request, key)
    body = request.POST.get("body", "")
    files = request.FILES.getlist("files")
    refused = _reply_refused(ticket, body)
    if refused is not None:
        status, message = refused
        return _ticket_page(request, ticket, status=status, body=_no_nul(body), errors=[message])
    try:
        seen = int(request.POST.get("seen", "0"))
    except ValueError:
        seen = 0
    try:
        portal_reply(
            ticket=ticket,
            requester=_user(request),
            body=body,
            files=files,
            seen_comment_id=seen,
            confirmed=request.POST.get("confirmed") == "1",
        )
    except StaleReply as stale:
        ticket = _ticket_or_404(request, key)
        return _ticket_page(
            request,
            ticket,
            status=409,
            body=body,
            stale=len(stale.comments),
            files_lost=bool(files),
        )
    except (ValidationError, PermissionDenied) as error:
        shown = _messages_of(error) if isinstance(error, ValidationError) else [str(error)]
        return _ticket_page(
            request, ticket, status=400, body=body, errors=shown, files_lost=bool(files)
        )
    messages.success(request, _("Your reply was sent."))
    return redirect("portal:ticket", key=ticket.key)


@require_POST
@signed_in
def stage(request: HttpRequest, key: str) -> HttpResponse:
    """Reopen or mark resolved: one of the page's buttons (``selectors.stage_actions``),
    refused when the ticket moved since the page showed it."""
    ticket = _ticket_or_404(request, key)
    user = _user(request)
    wanted, seen = request.POST.get("to", ""), request.POST.get("from", "")
    if seen != str(ticket.stage_id):
        return _ticket_page(
            request,
            ticket,
            status=409,
            errors=[_("This request changed since you opened it. Here is where it is now.")],
        )
    actions = selectors.stage_actions(ticket=ticket, user=user)
    action = next((a for a in actions if str(a.stage_id) == wanted), None)
    if action is None:
        return _ticket_page(
            request, ticket, status=400, errors=[_("This request cannot be moved that way.")]
        )
    try:
        portal_transition(
            ticket=ticket,
            requester=user,
            to_stage=Stage.objects.get(pk=action.stage_id),
            seen_stage_id=ticket.stage_id,
        )
    except StageChanged as changed:
        ticket = _ticket_or_404(request, key)
        return _ticket_page(request, ticket, status=409, errors=_messages_of(changed))
    except (ValidationError, PermissionDenied):
        ticket = _ticket_or_404(request, key)
        return _ticket_page(
            request, ticket, status=409, errors=[_("This request cannot be moved that way.")]
        )
    if action.kind == "reopen":
        messages.success(request, _("Your request is open again."))
    else:
        messages.success(request, _("Your request is marked as resolved. Thank you."))
    return redirect("portal:ticket", key=ticket.key)


@require_POST
@signed_in
def unwatch(request: HttpRequest, key: str) -> HttpResponse:
    """A watcher stops following the ticket, and no longer sees it."""
    ticket = _ticket_or_404(request, key)
    user = _user(request)
    if ticket.requester_id == user.pk:
        return _ticket_page(
            request, ticket, status=400, errors=[_("You follow your own requests always.")]
        )
    services.ticket_unwatch(ticket=ticket, user=user, actor=user)
    messages.success(request, _("You no longer follow %(key)s.") % {"key": ticket.key})
    return redirect("portal:tickets")


@require_GET
@signed_in
def attachment(request: HttpRequest, key: str, attachment_id: int) -> HttpResponseBase:
    ticket = _ticket_or_404(request, key)
    found = selectors.public_attachment(ticket=ticket, attachment_id=_row_id(attachment_id))
    if found is None:
        raise Http404(_("No such file."))
    try:
        file = found.file.open("rb")
    except FileNotFoundError as error:
        raise Http404(_("This file is missing.")) from error
    return attachment_response(
        file, filename=found.filename, content_type=found.content_type, request=request
    )


# --- new request ----------------------------------------------------------------------
def _attempt_token(raw: str) -> str:
    """The page's attempt token if it is one, else a new one."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return str(uuid.uuid4())


def _suggestions(
    request: HttpRequest, subject: str, token: str, description: str = ""
) -> list[Any]:
    user = _user(request)
    articles = list(
        selectors.suggested_articles(subject=subject[:MAX_SUBJECT], description=description[:2000])
    )
    deflection_shown(
        requester=user, token=token, subject=subject, article_ids=[a.pk for a in articles]
    )
    return articles


def simple_requests_allowed() -> bool:
    return bool(getattr(settings, "PORTAL_SIMPLE_REQUESTS", True))


def _request_errors(subject: str, description: str) -> dict[str, str]:
    errors = {}
    if NUL in subject:
        errors["subject"] = _nul_message()
    elif not subject.strip():
        errors["subject"] = _("Give your request a subject.")
    elif len(subject) > MAX_SUBJECT:
        errors["subject"] = _("A subject can be at most %(n)d characters.") % {"n": MAX_SUBJECT}
    if NUL in description:
        errors["description"] = _nul_message()
    elif not description.strip():
        errors["description"] = _("Describe what you need.")
    elif len(description) > MAX_TEXT:
        errors["description"] = _("A description can be at most %(n)d characters.") % {
            "n": MAX_TEXT
        }
    return errors


@signed_in
def new(request: HttpRequest) -> HttpResponse:
    """GET: the form; POST: file the request, or with "Find answers" (``find``) show
    suggestions for the subject and keep what was typed."""
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    data = request.POST if request.method == "POST" else request.GET
    context: dict[str, Any] = {
        "forms": selectors.published_forms(),
        "simple": simple_requests_allowed(),
        "token": _attempt_token(data.get("attempt", "")),
        "subject": data.get("subject", "")[: MAX_SUBJECT + 1],
        "description": data.get("description", "")[: MAX_TEXT + 1],
        "errors": {},
        "general": [],
        "suggestions": [],
        "searched": False,
        "max_files": settings.NIXFLOW_MAX_ATTACHMENTS,
    }
    files = request.FILES.getlist("files")
    lost = [_("Choose your files again.")] if files else []
    if request.method == "POST" and "find" not in data:
        if not context["simple"]:
            raise PermissionDenied(_("Requests are filed through the forms here."))
        context["errors"] = _request_errors(context["subject"], context["description"])
        if not context["errors"]:
            try:
                created = portal_request_create(
                    requester=_user(request),
                    subject=context["subject"],
                    description=context["description"],
                    files=files,
                    attempt_token=context["token"],
                )
            except ValidationError as error:
                context["general"] = _messages_of(error)
            else:
                messages.success(
                    request,
                    _("Your request %(key)s was filed. We will answer you here and by mail.")
                    % {"key": created.key},
                )
                return redirect("portal:ticket", key=created.key)
        context["general"] += lost
        return render(request, "portal/new.html", context, status=400)
    context["subject"] = _no_nul(context["subject"])
    context["description"] = _no_nul(context["description"])
    if context["subject"].strip():
        context["searched"] = True
        context["suggestions"] = _suggestions(
            request, context["subject"], context["token"], context["description"]
        )
        context["general"] = lost
    return render(request, "portal/new.html", context)


@require_GET
@signed_in
def suggestions(request: HttpRequest) -> HttpResponse:
    """The suggestions as an HTML fragment, for the page's script (same markup as the
    page renders without JavaScript)."""
    subject = _no_nul(request.GET.get("subject", ""))[:MAX_SUBJECT]
    token = _attempt_token(request.GET.get("attempt", ""))
    found = _suggestions(request, subject, token) if subject.strip() else []
    return render(
        request,
        "portal/_suggestions.html",
        {"suggestions": found, "token": token, "searched": bool(subject.strip())},
    )


@require_GET
@signed_in
def open_suggestion(request: HttpRequest, token: uuid.UUID, article_id: int) -> HttpResponse:
    """A suggestion's link: record the opening on the page's attempt, then go to the
    article in the help center."""
    article_id = _row_id(article_id)
    if not deflection_opened(requester=_user(request), token=str(token), article_id=article_id):
        raise Http404(_("No such suggestion."))
    from knowledge.models import KnowledgeArticle

    slug = KnowledgeArticle.objects.filter(pk=article_id).values_list("slug", flat=True).first()
    if slug is None:
        raise Http404(_("No such article."))
    try:
        return HttpResponseRedirect(reverse("helpcenter:article", args=[slug]))
    except NoReverseMatch as error:
        raise Http404(_("No such article.")) from error
