"""``load_data --extras``: every app's rows for the loaded tickets, consistent with them,
and the tables vacuumed and analyzed as a live server would have them.

(The core's own rows, tickets, comments and history, are tested in test_demo_data.py.)
"""

from __future__ import annotations

import re
from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from email_integration.models import EmailMessage, EmailMessageType
from eventlog import sealing
from eventlog.models import EventLog
from knowledge.models import KnowledgeSearchHistory
from knowledge.query import parse
from nixflow.management.commands.load_data import extra_loaders
from nixflow.models import (
    DONE_CATEGORIES,
    Comment,
    HistoryLog,
    Role,
    Source,
    StageCategory,
    Tag,
    Team,
    TeamMembership,
    Ticket,
)
from sla.models import OPEN_STATUSES, SLABreach, SLAMetric, SLAStatus

pytestmark = pytest.mark.django_db

TICKETS = 500
LOADED_TABLES = [
    "nixflow_ticket",
    "nixflow_comment",
    "nixflow_historylog",
    "sla_slametric",
    "sla_slabreach",
    "eventlog_eventlog",
    "email_integration_emailmessage",
    "knowledge_knowledgesearchhistory",
]


def load(*args: str) -> tuple[str, QuerySet[Ticket]]:
    out = StringIO()
    call_command("load_data", *args, "--no-progress", stdout=out, stderr=StringIO())
    output = out.getvalue()
    match = re.search(r"\((load-[0-9a-f]+)-\*\)", output)
    assert match, output
    return output, Ticket.objects.filter(requester__username__startswith=match[1] + "-")


@pytest.fixture
def loaded() -> tuple[str, QuerySet[Ticket]]:
    return load("--tickets", str(TICKETS), "--batch-size", "200", "--extras", "all")


def test_every_app_with_a_load_module_is_found_through_the_app_registry() -> None:
    assert set(extra_loaders()) == {
        "sla",
        "eventlog",
        "email_integration",
        "knowledge",
        "csat",
        "reports",
    }


def test_an_unknown_extra_is_refused_naming_the_ones_there_are() -> None:
    with pytest.raises(CommandError, match="no loader for forms_builder; there are: "):
        load("--tickets", "10", "--extras", "sla,forms_builder")


def test_without_extras_no_app_gets_rows(agent: object) -> None:
    _, tickets = load("--tickets", "50")

    assert not SLAMetric.objects.filter(ticket__in=tickets).exists()
    assert not EventLog.objects.filter(payload__has_key="load_run").exists()
    assert not EmailMessage.objects.filter(ticket__in=tickets).exists()
    assert not tickets.exclude(sla_due_at=None).exists()


def test_sla_clocks_follow_each_tickets_stage_and_times(
    loaded: tuple[str, QuerySet[Ticket]],
) -> None:
    output, tickets = loaded
    clocks = SLAMetric.objects.filter(ticket__in=tickets)

    assert f"{2 * TICKETS:,} SLA clocks" in output
    assert not tickets.annotate(n=Count("sla_metrics")).exclude(n=2).exists()
    # Done tickets have nothing open; open ones an open resolution clock, and a first
    # response clock open exactly while nobody answered.
    still_open = Q(status__in=OPEN_STATUSES) | Q(status=SLAStatus.BREACHED, completed_at=None)
    done = tickets.filter(stage__category__in=DONE_CATEGORIES)
    assert not clocks.filter(still_open, ticket__in=done).exists()
    for ticket in tickets.exclude(stage__category__in=DONE_CATEGORIES).prefetch_related(
        "sla_metrics"
    ):
        by_type = {m.metric_type: m for m in ticket.sla_metrics.all()}
        assert by_type["resolution"].completed_at is None, ticket
        assert (by_type["first_response"].completed_at is None) == (
            ticket.first_response_at is None
        ), ticket
        if ticket.stage.category == StageCategory.WAITING:
            assert by_type["resolution"].status in (SLAStatus.PAUSED, SLAStatus.BREACHED)
    # Completed clocks stop at the ticket's own times and are judged by them.
    for metric in clocks.exclude(completed_at=None).select_related("ticket"):
        ticket = metric.ticket
        stop = ticket.first_response_at if metric.metric_type == "first_response" else None
        assert metric.completed_at == (stop or ticket.resolved_at), metric
        late = metric.elapsed_seconds > metric.target_seconds
        assert metric.status == (SLAStatus.BREACHED if late else SLAStatus.MET), metric
    # Every state the desk shows occurs.
    assert {SLAStatus.RUNNING, SLAStatus.PAUSED, SLAStatus.MET, SLAStatus.BREACHED} <= set(
        clocks.values_list("status", flat=True)
    )


def test_each_breached_clock_has_one_breach_at_its_deadline(
    loaded: tuple[str, QuerySet[Ticket]],
) -> None:
    _, tickets = loaded
    breached = SLAMetric.objects.filter(ticket__in=tickets, status=SLAStatus.BREACHED)

    assert breached.exists()
    assert SLABreach.objects.filter(ticket__in=tickets).count() == breached.count()
    for metric in breached.select_related("breach"):
        assert metric.breach.breached_at == metric.deadline
        assert metric.breach.breach_type == metric.metric_type
        assert metric.breach.ticket_id == metric.ticket_id
    acknowledged = SLABreach.objects.filter(ticket__in=tickets).exclude(acknowledged_at=None)
    assert acknowledged.exists()
    assert not acknowledged.filter(acknowledged_at__gt=timezone.now()).exists()


def test_sla_due_at_is_the_earliest_deadline_of_the_tickets_open_clocks(
    loaded: tuple[str, QuerySet[Ticket]],
) -> None:
    _, tickets = loaded
    # Ticking, or breached and still counting (the clocks the SLA app calls due).
    ticking = Q(sla_metrics__status__in=[SLAStatus.RUNNING, SLAStatus.AT_RISK]) | Q(
        sla_metrics__status=SLAStatus.BREACHED,
        sla_metrics__completed_at=None,
        sla_metrics__running_since__isnull=False,
    )
    expected = tickets.annotate(due=Min("sla_metrics__deadline", filter=ticking))

    assert expected.exclude(due=None).exists()
    assert expected.filter(due=None).exists()  # done and paused tickets
    for ticket in expected:
        assert ticket.sla_due_at == ticket.due, ticket


def test_events_describe_each_ticket_and_comment_and_pass_verification(
    loaded: tuple[str, QuerySet[Ticket]],
) -> None:
    output, tickets = loaded
    prefix = re.search(r"\((load-[0-9a-f]+)-\*\)", output)[1]  # type: ignore[index]
    events = EventLog.objects.filter(payload__load_run=prefix)
    moves = HistoryLog.objects.filter(ticket__in=tickets, field="stage").exclude(old_value="")
    comments = Comment.objects.filter(ticket__in=tickets).count()

    assert Counter(events.values_list("type", flat=True)) == {
        "ticket.created": TICKETS,
        "ticket.transitioned": moves.count(),
        "ticket.commented": comments,
    }
    first = events.filter(type="ticket.commented", payload__first_response=True)
    assert first.count() == tickets.exclude(first_response_at=None).count()
    ticket = tickets.exclude(first_response_at=None).first()
    assert ticket is not None
    created = events.get(type="ticket.created", ticket_key=ticket.key)
    assert (created.occurred_at, created.actor_id) == (ticket.created, ticket.requester_id)
    assert created.actor_label == ticket.requester.username
    # Hashed by the database as inserted: the log verifies, before and after sealing.
    assert sealing.verify()[0] == []
    assert sealing.seal_pending()
    problems, checked, _ = sealing.verify()
    assert problems == []
    assert checked >= events.count()


def test_mail_is_stored_for_tickets_that_came_by_mail_and_their_public_comments(
    loaded: tuple[str, QuerySet[Ticket]],
) -> None:
    _, tickets = loaded
    by_mail = tickets.filter(source=Source.EMAIL)
    mail = EmailMessage.objects.filter(ticket__in=tickets)

    assert by_mail.exists()
    assert not mail.exclude(ticket__source=Source.EMAIL).exists()
    opening = mail.filter(comment=None)
    assert opening.count() == by_mail.count()
    assert not opening.exclude(message_type=EmailMessageType.INBOUND).exists()
    public = Comment.objects.filter(ticket__in=by_mail, is_internal=False)
    assert mail.exclude(comment=None).count() == public.count()
    assert not mail.filter(comment__is_internal=True).exists()
    outbound = mail.filter(message_type=EmailMessageType.OUTBOUND)
    assert outbound.exists()
    assert not outbound.filter(comment__author__role=Role.REQUESTER).exists()
    assert not outbound.filter(sent_at=None).exists()


def test_kb_search_history_has_one_search_per_ticket_normalized_as_the_search_does(
    loaded: tuple[str, QuerySet[Ticket]],
) -> None:
    output, _ = loaded
    searches = KnowledgeSearchHistory.objects.order_by("-id")[:TICKETS]

    assert f"{TICKETS:,} KB searches" in output
    assert len({s.token for s in searches}) == TICKETS
    for search in searches:
        assert search.normalized_query == parse(search.query).normalized()
        assert search.created < timezone.now()
    assert any(s.results_count == 0 for s in searches)
    assert any(s.corrected_query for s in searches)


def test_inside_a_transaction_the_tables_are_analyzed_only(
    loaded: tuple[str, QuerySet[Ticket]],
) -> None:
    output, _ = loaded

    assert "analyzed (inside a transaction: no VACUUM)" in output


@pytest.mark.django_db(transaction=True)
def test_every_table_written_is_vacuumed_and_analyzed_at_the_end() -> None:
    started = timezone.now()

    output, _ = load("--tickets", "60", "--extras", "all")

    assert ", vacuumed and analyzed, in " in output
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT relname, last_vacuum, last_analyze FROM pg_stat_user_tables "
            "WHERE relname = ANY(%s)",
            [LOADED_TABLES],
        )
        stats = {name: (vacuum, analyze) for name, vacuum, analyze in cursor.fetchall()}
    assert set(stats) == set(LOADED_TABLES)
    for name, (vacuum, analyze) in stats.items():
        assert vacuum is not None, name
        assert vacuum >= started, name
        assert analyze is not None, name
        assert analyze >= started, name


def test_tickets_are_spread_over_teams_and_tagged(agent: object) -> None:
    _, tickets = load("--tickets", "300", "--teams", "3")

    teams = Team.objects.all()
    assert teams.count() == 3
    # Every agent is a member of one team, and an assigned ticket is in its assignee's.
    members = dict(TeamMembership.objects.values_list("user_id", "team_id"))
    assigned = tickets.exclude(assignee=None)
    assert assigned.exists()
    assert all(members[a] == t for a, t in assigned.values_list("assignee_id", "team_id"))
    assert not tickets.filter(team=None).exists()
    assert set(tickets.values_list("team", flat=True)) == set(teams.values_list("pk", flat=True))
    per_ticket = Counter(Ticket.tags.through.objects.values_list("ticket_id", flat=True))
    assert 0 < len(per_ticket) < 300  # some tickets have none
    assert max(per_ticket.values()) <= 3
    assert Tag.objects.filter(name="vpn").exists()


def test_no_teams_and_no_tags_when_asked(agent: object) -> None:
    _, tickets = load("--tickets", "40", "--teams", "0", "--no-tags")

    assert not tickets.exclude(team=None).exists()
    assert not Ticket.tags.through.objects.exists()
