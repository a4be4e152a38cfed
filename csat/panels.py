"""The satisfaction panel of the ticket's admin page: the requester's answer, or where
the survey stands when there is none yet."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, linebreaks
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from csat.models import Rating, RatingValue, Survey, SurveyStatus
from csat.services import survey_token
from nixflow.models import Ticket
from nixflow.toolkit.formats import format_datetime

PANEL_TITLE = gettext_lazy("Satisfaction")


def _survey_state(survey: Survey) -> str:
    if survey.status == SurveyStatus.SCHEDULED:
        return _("Survey due %(due)s.") % {"due": format_datetime(survey.due_at)}
    if survey.status == SurveyStatus.SENT:
        return _("Survey mailed %(sent)s; open until %(closes)s. No answer yet.") % {
            "sent": format_datetime(survey.sent_at),
            "closes": format_datetime(survey.closes_at),
        }
    status = survey.get_status_display().lower()
    if survey.status_reason:
        return _("Survey %(status)s (%(reason)s).") % {
            "status": status,
            "reason": survey.status_reason,
        }
    return _("Survey %(status)s.") % {"status": status}


def satisfaction_panel(request: HttpRequest, ticket: Ticket) -> SafeString:
    survey = Survey.objects.select_related("agent", "team").filter(ticket=ticket).first()
    if survey is None:
        return format_html('<p class="help">{}</p>', _("No satisfaction survey for this ticket."))
    rating = Rating.objects.filter(survey=survey).first()
    if rating is None:
        return format_html('<p class="help">{}</p>', _survey_state(survey))
    credited = ", ".join(
        name
        for name in (
            survey.agent.get_username() if survey.agent else "",
            survey.team.name if survey.team else "",
        )
        if name
    )
    changed = (
        format_html(" ({})", _("changed %(when)s") % {"when": format_datetime(rating.updated)})
        if rating.updated != rating.created
        else ""
    )
    return format_html(
        '<p class="nf-csat nf-csat-{}"><strong>{}</strong> — {}{}{}</p>{}',
        rating.rating,
        pgettext("satisfaction rating", "Good")
        if rating.rating == RatingValue.GOOD
        else pgettext("satisfaction rating", "Bad"),
        _("rated %(when)s") % {"when": format_datetime(rating.created)},
        changed,
        format_html("; {}", _("credited to %(names)s") % {"names": credited}) if credited else "",
        format_html(
            '<blockquote class="nf-csat-comment">{}</blockquote>',
            # Escaped by linebreaks itself, which returns a plain str.
            mark_safe(linebreaks(rating.comment, autoescape=True)),  # noqa: S308
        )
        if rating.comment
        else format_html('<p class="help">{}</p>', _("No comment.")),
    )


def requester_panel(request: HttpRequest, ticket: Ticket) -> SafeString:
    """The portal's ticket page, for its requester: answer the survey there too (the
    same pages as the mail's links), or see the answer given. Nothing for followers, and
    nothing before the survey was mailed."""
    if request.user.pk != ticket.requester_id:
        return SafeString("")
    survey = Survey.objects.filter(ticket=ticket, status=SurveyStatus.SENT).first()
    if survey is None or survey.closes_at is None:
        return SafeString("")
    rating = Rating.objects.filter(survey=survey).first()
    open_ = timezone.now() < survey.closes_at
    token = survey_token(ticket_id=ticket.pk, requester_id=ticket.requester_id)
    if rating is not None:
        answer = (
            pgettext("satisfaction rating", "Good")
            if rating.rating == RatingValue.GOOD
            else pgettext("satisfaction rating", "Bad")
        )
        said = format_html("{} <strong>{}</strong>", _("Your answer:"), answer)
        if not open_:
            return format_html("<p>{}</p>", said)
        return format_html(
            '<p>{} <a href="{}">{}</a></p>',
            said,
            reverse("csat:survey", args=[token]),
            _("Change your answer"),
        )
    if not open_:
        return SafeString("")
    return format_html(
        '<p>{}</p><p class="csat-choices"><a class="button" href="{}">{}</a> '
        '<a class="button button--quiet" href="{}">{}</a></p>',
        _("How did we do with your request?"),
        reverse("csat:survey_choice", args=[token, RatingValue.GOOD]),
        pgettext("satisfaction rating", "Good"),
        reverse("csat:survey_choice", args=[token, RatingValue.BAD]),
        pgettext("satisfaction rating", "Bad"),
    )


def register() -> None:
    """Called by CsatConfig.ready."""
    from nixflow.toolkit.panels import REQUESTER, register_ticket_panel

    register_ticket_panel(PANEL_TITLE, satisfaction_panel, order=30)
    register_ticket_panel(
        gettext_lazy("Your opinion"), requester_panel, order=30, audience=REQUESTER
    )
