"""``load_data --extras csat``: the surveys and ratings of the loaded tickets.

Every loaded ticket that was resolved (RESOLVED or CLOSED, ``resolved_at`` set) gets the
survey the core's resolution would have armed (``csat.receivers``), mailed at once (the
default policy: no delay) and so ``sent``, remembering the ticket's assignee and team as
the resolution found them, open for ``CHANGEABLE_DAYS``. About ``ANSWERED_SHARE`` of the
surveys are answered (a realistic response rate for one-click surveys), a few hours
after the mail and never after ``now``: ``GOOD_SHARE`` good, some with a comment (the
demo's texts). No events: the event log describes the core's loaded changes only, and a
rating's event would name a requester's click that never happened.

About 0.8 surveys and 0.2 ratings a loaded ticket (the share of tickets resolved).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from csat.demo import BAD_COMMENTS, GOOD_COMMENTS
from csat.models import RatingValue, SurveyStatus
from nixflow.toolkit.loading import LoadBatch, LoadedTicket, LoadRun, copy_rows, reserve_ids

CHANGEABLE_DAYS = 7
ANSWERED_SHARE = 0.25
GOOD_SHARE = 0.8
COMMENT_SHARE = 0.3
SURVEY_COLUMNS = (
    "id",
    "ticket_id",
    "status",
    "agent_id",
    "team_id",
    "resolved_at",
    "due_at",
    "changeable_days",
    "requester_id",
    "sent_at",
    "closes_at",
    "status_reason",
)
RATING_COLUMNS = (
    "ticket_id",
    "survey_id",
    "rating",
    "comment",
    "agent_id",
    "team_id",
    "created",
    "updated",
)


class SurveyLoader:
    tables = ("csat_survey", "csat_rating")

    def __init__(self, run: LoadRun) -> None:
        self.run = run

    def load(self, batch: LoadBatch) -> Mapping[str, int]:
        resolved = [t for t in batch.tickets if t.resolved_at is not None]
        if not resolved:
            return {"surveys": 0, "ratings": 0}
        teams = _teams([t.id for t in resolved])
        ids = reserve_ids("csat_survey", len(resolved))
        ratings: list[tuple[Any, ...]] = []
        surveys = copy_rows(
            "csat_survey",
            SURVEY_COLUMNS,
            self.surveys(resolved, ids, teams, ratings),
        )
        answered = copy_rows("csat_rating", RATING_COLUMNS, ratings)
        return {"surveys": surveys, "ratings": answered}

    def surveys(
        self,
        tickets: list[LoadedTicket],
        ids: list[int],
        teams: dict[int, int | None],
        ratings: list[tuple[Any, ...]],
    ) -> Iterator[tuple[Any, ...]]:
        """The survey rows; the ratings of the answered ones are appended to ``ratings``."""
        rng, now = self.run.rng, self.run.now
        for ticket, survey_id in zip(tickets, ids, strict=True):
            resolved = ticket.resolved_at or ticket.updated  # the caller keeps resolved ones
            team = teams.get(ticket.id)
            yield (
                survey_id,
                ticket.id,
                SurveyStatus.SENT,
                ticket.assignee_id,
                team,
                resolved,
                resolved,
                CHANGEABLE_DAYS,
                ticket.requester_id,
                resolved,
                resolved + timedelta(days=CHANGEABLE_DAYS),
                "",
            )
            if rng.random() >= ANSWERED_SHARE:
                continue
            answered: datetime = min(resolved + timedelta(hours=1 + rng.random() * 30), now)
            good = rng.random() < GOOD_SHARE
            texts = GOOD_COMMENTS if good else BAD_COMMENTS
            comment = rng.choice(texts) if rng.random() < COMMENT_SHARE else ""
            value = RatingValue.GOOD if good else RatingValue.BAD
            ratings.append(
                (ticket.id, survey_id, value, comment, ticket.assignee_id, team, answered, answered)
            )

    def finish(self) -> None:
        pass


def _teams(ticket_ids: list[int]) -> dict[int, int | None]:
    """The tickets' teams, as load_data wrote them (LoadedTicket does not carry them)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, team_id FROM nixflow_ticket WHERE id = ANY(%s)", [ticket_ids])
        return dict(cursor.fetchall())


def loader(run: LoadRun) -> SurveyLoader:
    return SurveyLoader(run)
