"""Every event the satisfaction app records, and what each payload holds.

The event log keeps payloads forever, so these shapes are a contract: keys may be added,
never renamed or dropped. They carry ids and the rating, never the requester's comment:
a comment is the requester's own words, which they may ask to have erased, and the
append-only log could not forget them. The comment lives on the ``Rating`` row only.

``csat.survey_sent`` (subject: the ``Survey``; actor: None, the system; ticket_key: the
ticket's key), when the mail has gone out::

    {"ticket_id": int, "requester_id": int, "closes_at": ISO time}

``csat.rated`` (subject: the ``Rating``; actor: the requester; ticket_key), the first
answer::

    {"ticket_id": int, "rating": "good"|"bad", "agent_id": int | None,
     "team_id": int | None, "has_comment": bool}

``csat.changed`` (same subject and actor), a later visit that changed the rating or
the comment (a visit that changes nothing records nothing)::

    {"ticket_id": int, "rating": "good"|"bad", "previous": "good"|"bad",
     "agent_id": int | None, "team_id": int | None, "has_comment": bool,
     "comment_changed": bool}
"""

from __future__ import annotations

from csat.models import Rating, Survey
from eventlog.services import event_record
from nixflow.models import Ticket, User

CSAT_SURVEY_SENT = "csat.survey_sent"
CSAT_RATED = "csat.rated"
CSAT_CHANGED = "csat.changed"


def survey_sent(*, survey: Survey) -> None:
    assert survey.closes_at is not None  # noqa: S101 -- set by the caller when sent
    event_record(
        type=CSAT_SURVEY_SENT,
        subject=survey,
        actor=None,
        ticket_key=Ticket.key_for(survey.ticket_id),
        payload={
            "ticket_id": survey.ticket_id,
            "requester_id": survey.requester_id,
            "closes_at": survey.closes_at.isoformat(),
        },
    )


def rating_recorded(
    *, rating: Rating, actor: User, previous: str | None, comment_changed: bool
) -> None:
    payload: dict[str, object] = {
        "ticket_id": rating.ticket_id,
        "rating": rating.rating,
        "agent_id": rating.agent_id,
        "team_id": rating.team_id,
        "has_comment": bool(rating.comment),
    }
    if previous is not None:
        payload |= {"previous": previous, "comment_changed": comment_changed}
    event_record(
        type=CSAT_RATED if previous is None else CSAT_CHANGED,
        subject=rating,
        actor=actor,
        ticket_key=Ticket.key_for(rating.ticket_id),
        occurred_at=rating.updated,
        payload=payload,
    )
