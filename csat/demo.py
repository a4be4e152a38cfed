"""Demo data (``manage.py seed_demo``): the demo tickets' surveys as the desk's past.

The demo tickets are resolved through the core's services, so each resolved one already
has a survey, queued as if resolved just now. Here those become surveys mailed when the
ticket was resolved, and about six in ten get an answer a few hours later (three in four
good, some with a comment), each recorded with its ``csat.rated`` event, so the ticket
pages, the ratings list and ``/api/csat/`` have something to show. Mailing them now
would write to the demo's people about tickets weeks old: marked sent, the queued
messages find nothing to do.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from csat import events
from csat.models import Rating, RatingValue, Survey, SurveyStatus

GOOD_COMMENTS = [
    "Quick and friendly, thank you.",
    "Solved on the first try.",
    "Thanks for explaining what went wrong.",
]
BAD_COMMENTS = [
    "It took almost a week.",
    "I had to explain the problem three times.",
    "The fix did not last.",
]


def seed_ratings(*, rng: random.Random) -> tuple[int, int]:
    """(surveys made part of the past, ratings created)."""
    now = timezone.now()
    waiting = Survey.objects.filter(
        status__in=[SurveyStatus.SCHEDULED, SurveyStatus.QUEUED]
    ).select_related("ticket__requester")
    surveys = rated = 0
    with transaction.atomic():
        for survey in waiting.order_by("id"):
            ticket = survey.ticket
            resolved = min(ticket.resolved_at or survey.resolved_at, now)
            survey.status = SurveyStatus.SENT
            survey.resolved_at = survey.due_at = survey.sent_at = resolved
            survey.closes_at = resolved + timedelta(days=survey.changeable_days)
            survey.requester_id = ticket.requester_id
            survey.save()
            surveys += 1
            if rng.random() >= 0.6:
                continue
            good = rng.random() < 0.75
            comments = GOOD_COMMENTS if good else BAD_COMMENTS
            answered = min(resolved + timedelta(hours=rng.uniform(1, 30)), now)
            rating = Rating.objects.create(
                ticket=ticket,
                survey=survey,
                rating=RatingValue.GOOD if good else RatingValue.BAD,
                comment=rng.choice(comments) if rng.random() < 0.4 else "",
                agent_id=survey.agent_id,
                team_id=survey.team_id,
                created=answered,
                updated=answered,
            )
            events.rating_recorded(
                rating=rating, actor=ticket.requester, previous=None, comment_changed=False
            )
            rated += 1
    return surveys, rated
