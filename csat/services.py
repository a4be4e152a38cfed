"""Writes of the satisfaction app: scheduling surveys, sending them, recording ratings.

The flow, end to end:

1. A ticket enters a RESOLVED stage. The core publishes ``ticket.transitioned`` inside
   the transition's transaction, and ``csat.receivers`` calls ``survey_schedule`` right
   there, so the survey row commits with the resolution or not at all. It is due after
   the workflow's delay. A survey due at once is queued in the same transaction; later
   ones are queued by ``surveys_queue_due`` (a beat task every minute, migration 0002).
2. Queuing marks the survey ``queued`` and puts ``csat.send_survey_mail`` in the
   outbox (``eventlog.outbox``). The task builds the mail and its signed link from ids
   (``csat.tasks``): the link is a credential, so neither the outbox nor the event log
   holds it. After the mail has gone out the survey is ``sent`` and the window for
   answering opens: ``changeable_days`` from then (``closes_at``).
3. Reopened before the mail went out: the survey is ``cancelled``; resolved again, it is
   armed again with the new assignee and team. Once mailed, never again: one mail and
   one rating per ticket, however often the ticket is reopened and resolved.
4. The requester opens a link (no sign-in: the token is the key), confirms with a
   button (a POST: mail scanners fetch links, and a GET must not vote) and may add a
   comment. ``rating_record`` writes the one ``Rating`` row or changes it while the
   survey is open, and records ``csat.rated`` or ``csat.changed``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signing import BadSignature, SignatureExpired, TimestampSigner
from django.db import transaction
from django.utils import timezone

from csat import events
from csat.models import (
    MAX_CHANGEABLE_DAYS,
    REARMABLE,
    Rating,
    RatingValue,
    Survey,
    SurveyPolicy,
    SurveyStatus,
)
from eventlog.outbox import outbox_enqueue
from nixflow.models import DONE_CATEGORIES, Ticket, User

SEND_TASK = "csat.send_survey_mail"
# The link's signature is salted for this purpose only: no other signed value of the
# desk (a sign-in link, a form confirmation) can be replayed as a survey link.
SALT = "csat.survey_link"
COMMENT_MAX_LENGTH = 2000


# --- Policy ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    enabled: bool
    delay: timedelta
    changeable_days: int


def default_policy() -> Policy:
    """For workflows without a policy row: the settings' defaults (on, at once, 7 days)."""
    return Policy(
        enabled=bool(getattr(settings, "CSAT_DEFAULT_ENABLED", True)),
        delay=timedelta(minutes=int(getattr(settings, "CSAT_DEFAULT_DELAY_MINUTES", 0))),
        changeable_days=int(getattr(settings, "CSAT_DEFAULT_CHANGEABLE_DAYS", 7)),
    )


def policy_for(*, workflow_id: int) -> Policy:
    row = SurveyPolicy.objects.filter(workflow_id=workflow_id).first()
    if row is None:
        return default_policy()
    return Policy(
        enabled=row.enabled,
        delay=timedelta(minutes=row.delay_minutes),
        changeable_days=row.changeable_days,
    )


# --- Scheduling ------------------------------------------------------------------------
def survey_schedule(*, ticket: Ticket, resolved_at: datetime) -> Survey | None:
    """Arm the ticket's survey on its resolution; called in the transition's transaction
    (which holds the ticket's row lock, so two resolutions of one ticket are in turn).

    Nothing when the workflow's policy is off, or when the ticket's survey has already
    been queued or mailed: one mail per ticket.
    """
    policy = policy_for(workflow_id=ticket.workflow_id)
    if not policy.enabled:
        return None
    fields: dict[str, Any] = {
        "status": SurveyStatus.SCHEDULED,
        "status_reason": "",
        "agent_id": ticket.assignee_id,
        "team_id": ticket.team_id,
        "resolved_at": resolved_at,
        "due_at": resolved_at + policy.delay,
        "changeable_days": policy.changeable_days,
    }
    survey = Survey.objects.select_for_update().filter(ticket=ticket).first()
    if survey is None:
        survey = Survey.objects.create(ticket=ticket, **fields)
    elif survey.status in REARMABLE:
        for name, value in fields.items():
            setattr(survey, name, value)
        survey.save(update_fields=[*fields])
    else:
        return survey  # waiting, queued or mailed: this resolution adds nothing
    if survey.due_at <= timezone.now():
        _queue(survey)
    return survey


def survey_cancel(*, ticket: Ticket, reason: str = "The ticket was reopened.") -> bool:
    """The ticket left its resolved state before the survey was mailed: don't mail it
    (a later resolution arms it again). Called in the reopening transaction."""
    return bool(
        Survey.objects.filter(
            ticket=ticket, status__in=[SurveyStatus.SCHEDULED, SurveyStatus.QUEUED]
        ).update(status=SurveyStatus.CANCELLED, status_reason=reason)
    )


def _queue(survey: Survey) -> None:
    survey.status = SurveyStatus.QUEUED
    survey.save(update_fields=["status"])
    # Keyed by the survey and its due time: a survey armed again after a cancel is a new
    # message, a repeat of the same one is not.
    outbox_enqueue(
        task=SEND_TASK,
        kwargs={"survey_id": survey.pk},
        key=f"csat.survey:{survey.pk}:{survey.due_at.timestamp():.0f}",
    )


def surveys_queue_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue the mail of every scheduled survey that is due; the number queued.

    Claimed with ``SKIP LOCKED`` through the partial index of scheduled surveys, so two
    overlapping runs share the rows instead of queuing a survey twice.
    """
    moment = now or timezone.now()
    with transaction.atomic():
        due = list(
            Survey.objects.select_for_update(skip_locked=True)
            .filter(status=SurveyStatus.SCHEDULED, due_at__lte=moment)
            .order_by("due_at")[:limit]
        )
        for survey in due:
            _queue(survey)
    return len(due)


# --- Sending ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Mailing:
    survey: Survey
    ticket: Ticket
    requester: User


def survey_mailing(*, survey_id: int) -> Mailing | None:
    """What to mail for a queued survey, or None when it should not go out any more
    (the survey's status then says why)."""
    with transaction.atomic():
        survey = (
            Survey.objects.select_for_update(of=("self",))
            .select_related("ticket__stage", "ticket__requester")
            .filter(pk=survey_id)
            .first()
        )
        if survey is None or survey.status != SurveyStatus.QUEUED:
            return None
        ticket = survey.ticket
        if ticket.stage.category not in DONE_CATEGORIES:
            _set_status(survey, SurveyStatus.CANCELLED, "The ticket was reopened.")
            return None
        if not policy_for(workflow_id=ticket.workflow_id).enabled:
            _set_status(survey, SurveyStatus.CANCELLED, "Surveys were turned off.")
            return None
        requester = ticket.requester
        if not requester.email or not requester.is_active:
            _set_status(
                survey, SurveyStatus.SKIPPED, "The requester has no address or is deactivated."
            )
            return None
        return Mailing(survey=survey, ticket=ticket, requester=requester)


def survey_mark_sent(*, survey_id: int, requester_id: int) -> Survey | None:
    """The mail went out: the answering window opens now."""
    with transaction.atomic():
        survey = Survey.objects.select_for_update().filter(pk=survey_id).first()
        if survey is None or survey.status != SurveyStatus.QUEUED:
            return None
        survey.status = SurveyStatus.SENT
        survey.requester_id = requester_id
        survey.sent_at = timezone.now()
        survey.closes_at = survey.sent_at + timedelta(days=survey.changeable_days)
        survey.save(update_fields=["status", "requester", "sent_at", "closes_at"])
        events.survey_sent(survey=survey)
        return survey


def survey_mark_failed(*, survey_id: int, reason: str) -> None:
    Survey.objects.filter(pk=survey_id, status=SurveyStatus.QUEUED).update(
        status=SurveyStatus.FAILED, status_reason=reason[:300]
    )


def _set_status(survey: Survey, status: SurveyStatus, reason: str) -> None:
    survey.status, survey.status_reason = status, reason
    survey.save(update_fields=["status", "status_reason"])


# --- Links -----------------------------------------------------------------------------
def survey_token(*, ticket_id: int, requester_id: int) -> str:
    """The signed key of a survey's links: the ticket and the person asked, and when."""
    return TimestampSigner(salt=SALT).sign_object({"t": ticket_id, "u": requester_id})


class LinkState(enum.Enum):
    READY = "ready"
    INVALID = "invalid"  # altered, cut short, or not a survey link at all
    CLOSED = "closed"  # valid, but the time to answer has passed


@dataclass(frozen=True)
class Link:
    state: LinkState
    survey: Survey | None = None


def survey_link(*, token: str, now: datetime | None = None) -> Link:
    """The survey a link opens, and whether it can still be answered."""
    try:
        # Older than the longest window: no need to read a row to refuse it.
        value = TimestampSigner(salt=SALT).unsign_object(
            token, max_age=timedelta(days=MAX_CHANGEABLE_DAYS + 1)
        )
    except SignatureExpired:
        return Link(LinkState.CLOSED)
    except (BadSignature, ValueError):
        return Link(LinkState.INVALID)
    ticket_id, requester_id = (
        (value.get("t"), value.get("u")) if isinstance(value, dict) else (None, None)
    )
    if not (isinstance(ticket_id, int) and isinstance(requester_id, int)):
        return Link(LinkState.INVALID)
    survey = (
        Survey.objects.select_related("ticket", "requester", "rating")
        .filter(ticket_id=ticket_id)
        .first()
    )
    if survey is None or survey.status != SurveyStatus.SENT or survey.requester_id != requester_id:
        return Link(LinkState.INVALID)
    assert survey.closes_at is not None  # noqa: S101 -- set when sent
    if (now or timezone.now()) >= survey.closes_at:
        return Link(LinkState.CLOSED, survey)
    return Link(LinkState.READY, survey)


# --- Ratings ---------------------------------------------------------------------------
class SurveyClosed(Exception):  # noqa: N818 -- an outcome, like PermissionDenied
    """The time to answer has passed, or the survey was never mailed to this person."""


@dataclass(frozen=True)
class Recorded:
    rating: Rating
    created: bool
    changed: bool


def rating_record(
    *,
    survey: Survey,
    requester: User,
    rating: str,
    comment: str = "",
    now: datetime | None = None,
) -> Recorded:
    """Record the requester's answer, or change it while the survey is open.

    The survey's row lock puts concurrent answers in turn: the second reads the first
    one's row and changes it (or finds nothing to change), instead of failing on the
    unique ticket. A visit that changes nothing writes and records nothing.
    """
    if rating not in RatingValue.values:
        raise ValidationError({"rating": "Choose good or bad."})
    comment = comment.strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        raise ValidationError({"comment": f"At most {COMMENT_MAX_LENGTH} characters."})
    moment = now or timezone.now()
    with transaction.atomic():
        locked = Survey.objects.select_for_update().get(pk=survey.pk)
        if (
            locked.status != SurveyStatus.SENT
            or locked.requester_id != requester.pk
            or locked.closes_at is None
            or moment >= locked.closes_at
        ):
            raise SurveyClosed
        existing = Rating.objects.filter(survey=locked).first()
        if existing is None:
            row = Rating.objects.create(
                ticket_id=locked.ticket_id,
                survey=locked,
                rating=rating,
                comment=comment,
                agent_id=locked.agent_id,
                team_id=locked.team_id,
                created=moment,
                updated=moment,
            )
            events.rating_recorded(
                rating=row, actor=requester, previous=None, comment_changed=False
            )
            return Recorded(rating=row, created=True, changed=True)
        previous, comment_changed = existing.rating, existing.comment != comment
        if previous == rating and not comment_changed:
            return Recorded(rating=existing, created=False, changed=False)
        existing.rating, existing.comment, existing.updated = rating, comment, moment
        existing.save(update_fields=["rating", "comment", "updated"])
        events.rating_recorded(
            rating=existing, actor=requester, previous=previous, comment_changed=comment_changed
        )
        return Recorded(rating=existing, created=False, changed=True)
