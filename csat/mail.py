"""The survey mail: in the requester's language, with two one-click links.

Built by the sending task from ids (``csat.tasks``): the links carry a signed token,
which is a credential, so it exists only in the message itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from csat.models import RatingValue
from csat.services import Mailing, survey_token
from nixflow.toolkit.language import language_for
from nixflow.toolkit.site import site_url


@dataclass(frozen=True)
class SurveyMail:
    subject: str
    body: str
    language: str


def survey_links(*, token: str) -> dict[str, str]:
    """The absolute link of each answer."""
    return {
        choice: site_url(reverse("csat:survey_choice", args=[token, choice]))
        for choice in RatingValue.values
    }


def survey_mail(mailing: Mailing) -> SurveyMail:
    requester, ticket = mailing.requester, mailing.ticket
    token = survey_token(ticket_id=ticket.pk, requester_id=requester.pk)
    language = language_for(requester)
    with translation.override(language):
        # Folded to one line: a line break in a header would make every attempt fail.
        title = " ".join(ticket.title.split())
        subject = gettext("[%(key)s] How did we do?") % {"key": ticket.key}
        body = render_to_string(
            "csat/mail/survey.txt",
            {
                "name": requester.get_full_name() or requester.get_username(),
                "key": ticket.key,
                "title": title,
                "links": survey_links(token=token),
                "days": mailing.survey.changeable_days,
            },
        )
    return SurveyMail(subject=subject, body=body, language=language)
