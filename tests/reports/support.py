"""What the reports' tests share: the desk zone, filters as a client asks for them,
tickets at given instants, and counting rows the plain way to compare with."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from typing import Any, cast

from nixflow.models import HistoryLog, Ticket
from reports.filters import ReportFilterForm, ReportFilters
from tests.factories import HistoryLogFactory, TicketFactory

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
# Summer time starts in Berlin on Sunday 29 March 2026 at 02:00 (the day is 23 hours
# long) and ends on Sunday 25 October 2026 at 03:00 (25 hours).
SPRING = date(2026, 3, 29)
AUTUMN = date(2026, 10, 25)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """Wall-clock time in Berlin, as an aware datetime."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def report_filters(**params: Any) -> ReportFilters:
    form = ReportFilterForm(data={k: str(v) for k, v in params.items()})
    assert form.is_valid(), form.errors
    return form.filters()


def ticket_at(created: datetime, resolved: datetime | None = None, **fields: Any) -> Ticket:
    return cast(Ticket, TicketFactory(created=created, resolved_at=resolved, **fields))


def reopen(ticket: Ticket, when: datetime) -> HistoryLog:
    """What ticket_transition writes when a resolved ticket goes back to an open stage."""
    return cast(
        HistoryLog,
        HistoryLogFactory(
            ticket=ticket,
            field="resolved_at",
            old_value="2026-01-01 10:00",
            new_value="",
            created=when,
        ),
    )


def desk_day(value: datetime) -> date:
    return value.astimezone(BERLIN).date()


def rating_for(ticket: Ticket, *, rating: str, when: datetime, comment: str = "") -> Any:
    """The requester's answer to the ticket's survey, credited to its assignee and team."""
    from csat.models import Rating, Survey, SurveyStatus

    survey = Survey.objects.create(
        ticket=ticket,
        status=SurveyStatus.SENT,
        agent_id=ticket.assignee_id,
        team_id=ticket.team_id,
        resolved_at=when,
        due_at=when,
        sent_at=when,
        closes_at=when,
        requester=ticket.requester,
    )
    return Rating.objects.create(
        ticket=ticket,
        survey=survey,
        rating=rating,
        comment=comment,
        agent_id=ticket.assignee_id,
        team_id=ticket.team_id,
        created=when,
        updated=when,
    )
