"""The published form as a server-rendered page, at /forms/<slug>/, and the page that
confirms an anonymous submission made with an account's address, /forms/confirm/<token>/.

It works without JavaScript (a small script only hides conditional fields), labels every
input, lists errors at the top with links to their fields and repeats each next to its
field, is CSRF-protected, and limits anonymous posts per client address. Drafts and
archived forms are 404, exactly like forms that don't exist.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_http_methods

from forms_builder import selectors, services
from forms_builder.answers import answers
from forms_builder.models import CustomForm, FormSubmission, FormSubmissionStatus
from forms_builder.rendering import (
    HONEYPOT,
    SUBMITTER_EMAIL,
    error_summary,
    page_fields,
    posted_answers,
)
from forms_builder.throttling import FormSubmitAnonThrottle
from forms_builder.validation import Definition

DONE_SESSION_KEY = "forms_builder.done"


def error_dict(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return error.message_dict
    return {NON_FIELD_ERRORS: error.messages}


def client_ip(request: HttpRequest | Any) -> str | None:
    """The address stored with a submission: the one the throttle counts."""
    ident = FormSubmitAnonThrottle().get_ident(request)
    if ident is None:
        return None
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        return None


def _published_form(slug: str) -> CustomForm:
    form = selectors.form_get_published(slug=slug)
    if form is None:
        raise Http404(gettext("No such form."))
    return form


def _render(
    request: HttpRequest,
    form: CustomForm,
    *,
    values: dict[str, list[str]] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> TemplateResponse:
    definition = Definition.from_form(form)
    errors = errors or {}
    fields = page_fields(definition, values, errors)
    context: dict[str, Any] = {
        "form": form,
        "fields": fields,
        "errors": errors,
        "error_summary": error_summary(fields, errors),
        "ask_email": not request.user.is_authenticated,
        "submitter_email": (values or {}).get(SUBMITTER_EMAIL, [""])[0],
        "email_errors": errors.get(SUBMITTER_EMAIL, []),
        "honeypot": HONEYPOT,
        "multipart": definition.has_files,
    }
    return TemplateResponse(request, "forms_builder/form_page.html", context, status=status)


def _throttled(
    request: HttpRequest, form: CustomForm, values: dict[str, list[str]], wait: int
) -> HttpResponse:
    minutes = max(1, wait // 60)
    message = ngettext(
        "Too many forms were sent from your address. Please try again in %(minutes)d minute.",
        "Too many forms were sent from your address. Please try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    response = _render(
        request, form, values=values, errors={NON_FIELD_ERRORS: [message]}, status=429
    )
    response["Retry-After"] = str(wait)
    return response


@require_http_methods(["GET", "HEAD", "POST"])
def form_page(request: HttpRequest, slug: str) -> HttpResponse:
    form = _published_form(slug)
    user = request.user if request.user.is_authenticated else None
    if form.login_required and user is None:
        return redirect_to_login(request.get_full_path(), reverse("forms_builder:login"))
    if request.method != "POST":
        return _render(request, form)
    return _submit(request, form, user)


def _submit(request: HttpRequest, form: CustomForm, user: Any) -> HttpResponse:
    values = {**posted_answers(request.POST)}
    if user is None:
        values[SUBMITTER_EMAIL] = [request.POST.get(SUBMITTER_EMAIL, "")]
        throttle = FormSubmitAnonThrottle()
        # As nixflow.security's sign-in limit: a Django request and no view do here, but
        # the DRF stubs want a Request and a view.
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]
            return _throttled(request, form, values, int(throttle.wait() or 60))
    if request.POST.get(HONEYPOT):
        # Only robots fill in the field people can't see: act as if it worked.
        return redirect("forms_builder:done", slug=form.slug)
    try:
        submission = services.submission_create(
            form=form,
            data=posted_answers(request.POST),
            files={key: request.FILES.getlist(key) for key in request.FILES},
            submitter=user,
            submitter_email=request.POST.get(SUBMITTER_EMAIL, ""),
            ip_address=client_ip(request),
            site=request.build_absolute_uri("/"),
        )
    except ValidationError as error:
        return _render(request, form, values=values, errors=error_dict(error))
    except PermissionDenied as error:
        return _render(
            request, form, values=values, errors={NON_FIELD_ERRORS: [str(error)]}, status=403
        )
    request.session[DONE_SESSION_KEY] = {"slug": form.slug, "submission": submission.pk}
    return redirect("forms_builder:done", slug=form.slug)


@require_http_methods(["GET", "HEAD"])
def form_done(request: HttpRequest, slug: str) -> HttpResponse:
    """After a submission (Post/Redirect/Get): the form's success message, and the
    ticket's key to quote. Only the browser that submitted sees which submission."""
    form = _published_form(slug)
    done: Any = request.session.get(DONE_SESSION_KEY) or {}  # JSON from the session
    submission = None
    if done.get("slug") == form.slug:
        submission = (
            FormSubmission.objects.filter(pk=done.get("submission"), form=form)
            .select_related("ticket")
            .first()
        )
    context = {
        "form": form,
        "submission": submission,
        "failed": submission is not None and submission.status == FormSubmissionStatus.FAILED,
        "awaiting": submission is not None
        and submission.status == FormSubmissionStatus.AWAITING_CONFIRMATION,
    }
    return TemplateResponse(request, "forms_builder/done.html", context)


CONFIRMATION_STATUS = {
    services.ConfirmationState.READY: 200,
    services.ConfirmationState.CONFIRMED: 200,
    services.ConfirmationState.ALREADY_CONFIRMED: 200,
    services.ConfirmationState.INACTIVE_ACCOUNT: 403,
    services.ConfirmationState.CLOSED: 410,
    services.ConfirmationState.EXPIRED: 410,
    services.ConfirmationState.INVALID: 404,
}


@require_http_methods(["GET", "HEAD", "POST"])
def confirm_submission(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to an account whose address an anonymous submission gave
    (``forms_builder.services.confirmation``). GET shows what would be confirmed; the
    button POSTs, which links the submission and opens its ticket. Every outcome,
    expired and invalid links included, is a page that says what happened."""
    if request.method == "POST":
        outcome = services.submission_confirm(token=token)
    else:
        outcome = services.confirmation_check(token=token)
    submission = outcome.submission
    shown_answers = []
    if submission is not None and outcome.state in {
        services.ConfirmationState.READY,
        services.ConfirmationState.CONFIRMED,
    }:
        shown_answers = answers(Definition.from_snapshot(submission.form_snapshot), submission.data)
    context = {
        "state": outcome.state.value,
        "submission": submission,
        "form_name": submission.form_snapshot.get("name", "") if submission else "",
        "answers": shown_answers,
        "failed": submission is not None and submission.status == FormSubmissionStatus.FAILED,
        "token": token,
    }
    return TemplateResponse(
        request,
        "forms_builder/confirm.html",
        context,
        status=CONFIRMATION_STATUS[outcome.state],
    )


@require_http_methods(["GET", "HEAD"])
def form_index(request: HttpRequest) -> HttpResponse:
    """The published forms, for requesters looking for the right one."""
    forms = selectors.form_list_published()
    return TemplateResponse(request, "forms_builder/index.html", {"forms": forms})


class FormLoginView(LoginView):
    """Sign-in for login-required forms, open to requesters (the admin's login page
    accepts staff only). Any active user with a password may sign in."""

    template_name = "forms_builder/login.html"
    redirect_authenticated_user = True
    # LoginView resolves a lazy URL (resolve_url); the stubs accept only str.
    next_page = reverse_lazy("forms_builder:index")  # type: ignore[assignment]
