"""Demo and benchmark data: ``seed_demo``, ``load_data`` and the bench harness's verdict."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone
from pytest_django.fixtures import Settings

from bench.tickets_api import percentile, verdict
from nixflow import demo, events, selectors, services
from nixflow.models import (
    DONE_CATEGORIES,
    Comment,
    HistoryLog,
    Role,
    Stage,
    StageCategory,
    Team,
    Ticket,
    TicketWatcher,
    User,
    Workflow,
)
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

AGENT_ROLES = [Role.AGENT, Role.ADMIN]


@pytest.fixture(autouse=True)
def var_dir(settings: Settings, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def published() -> Iterator[Counter[str]]:
    """How many events of each type the services published while the test ran."""
    seen: Counter[str] = Counter()

    def receiver(sender: object, event: events.TicketEvent, **kwargs: object) -> None:
        seen[event.type] += 1

    events.ticket_event.connect(receiver, dispatch_uid="tests.demo_data")
    yield seen
    events.ticket_event.disconnect(dispatch_uid="tests.demo_data")


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# The tests look only at the rows the commands made (the demo's people, a load's run
# prefix), so that rows other tests left in a reused database don't count.
def demo_tickets() -> QuerySet[Ticket]:
    """The core's demo tickets (the forms app's demo adds tickets from submissions)."""
    return Ticket.objects.filter(
        requester__username__in=demo.demo_requester_usernames(), form_submission__isnull=True
    )


def remove_demo_desk() -> None:
    """Everything seed_demo made that keeps its tickets from being deleted."""
    from forms_builder.models import FormSubmission

    FormSubmission.objects.all().delete()
    Ticket.objects.filter(requester__username__in=demo.demo_requester_usernames()).delete()
    # Its teams too: a rebuilt desk with round-robin teams in place would be auto-assigned.
    Team.objects.all().delete()


def demo_users() -> QuerySet[User]:
    return User.objects.filter(username__in=[u[0] for u in demo.DEMO_USERS])


def loaded_tickets(output: str) -> QuerySet[Ticket]:
    """The tickets of the load_data run that printed ``output``."""
    match = re.search(r"\((load-[0-9a-f]+)-\*\)", output)
    assert match, output
    return Ticket.objects.filter(requester__username__startswith=match[1] + "-")


def with_first_agent_reply(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    public_by_agent = Q(comments__is_internal=False, comments__author__role__in=AGENT_ROLES)
    return tickets.annotate(first_agent_reply=Min("comments__created", filter=public_by_agent))


def assert_consistent(tickets: QuerySet[Ticket]) -> None:
    """Timestamps agree with each ticket's stage and with its comments."""
    now = timezone.now()
    for t in with_first_agent_reply(tickets.select_related("stage")):
        category = t.stage.category
        assert (t.resolved_at is not None) == (category in DONE_CATEGORIES), t
        assert (t.closed_at is not None) == (category == StageCategory.CLOSED), t
        stamps = [t.created, t.first_response_at, t.resolved_at, t.closed_at]
        known = [s for s in stamps if s is not None]
        assert known == sorted(known), t
        assert t.created <= t.updated <= now, t
        assert max(known) <= t.updated, t
        # The first public agent comment is the first response, in both directions.
        assert t.first_agent_reply == t.first_response_at, t
        if category == StageCategory.NEW:
            assert t.first_response_at is None, t
    before_created = Q(comments__created__lt=F("created")) | Q(history__created__lt=F("created"))
    assert not tickets.filter(before_created).exists()


# --- seed_demo ----------------------------------------------------------------------------
def test_seed_demo_builds_a_desk_with_tickets_in_every_stage_of_both_workflows(
    published: Counter[str],
) -> None:
    output = command("seed_demo", "--core-only", "--tickets", "40")

    assert "Demo tickets created: 40" in output
    tickets = demo_tickets()
    assert tickets.count() == 40
    assert set(tickets.values_list("stage__category", flat=True)) == set(StageCategory.values)
    every_stage = Stage.objects.filter(workflow__name__in=[demo.SERVICE_DESK, demo.ACCESS_REQUESTS])
    assert set(tickets.values_list("stage", flat=True)) == set(
        every_stage.values_list("pk", flat=True)
    )
    access = Workflow.objects.get(name=demo.ACCESS_REQUESTS)
    assert access.stages.filter(category=StageCategory.WAITING).exists()
    assert demo_users().filter(role=Role.AGENT).count() == 6
    assert demo_users().filter(role=Role.REQUESTER).count() == 20


def test_seed_demo_goes_through_the_services_so_history_events_and_comments_exist(
    published: Counter[str],
) -> None:
    command("seed_demo", "--core-only", "--tickets", "40")

    tickets = demo_tickets()
    comments = Comment.objects.filter(ticket__in=tickets)
    assert comments.filter(is_internal=True).exists()
    assert comments.filter(is_internal=False, author__role=Role.AGENT).exists()
    assert comments.filter(is_internal=False, author__role=Role.REQUESTER).exists()
    assert TicketWatcher.objects.filter(ticket__in=tickets).exists()
    assert not tickets.annotate(n=Count("history")).filter(n=0).exists()
    assert published[events.TICKET_CREATED] == 40
    for kind in (events.TICKET_ASSIGNED, events.TICKET_COMMENTED, events.TICKET_WATCHED):
        assert published[kind] > 0
    # Every stage change is in the history: one row per transition event.
    history = HistoryLog.objects.filter(ticket__in=tickets)
    stage_changes = history.filter(field="stage").exclude(old_value="").count()
    assert stage_changes == published[events.TICKET_TRANSITIONED]
    assert set(tickets.values_list("priority", flat=True)) >= {"LOW", "NORMAL", "HIGH"}
    assert len(set(tickets.values_list("source", flat=True))) >= 3
    assert tickets.exclude(assignee=None).values("assignee").distinct().count() >= 3


def test_seed_demo_dates_tickets_over_the_last_90_days_consistently() -> None:
    command("seed_demo", "--core-only", "--tickets", "40")

    tickets = demo_tickets()
    now = timezone.now()
    oldest = tickets.order_by("created").first()
    assert oldest is not None
    assert now - timedelta(days=91) < oldest.created < now - timedelta(days=7)
    assert_consistent(tickets)
    # Watching is not an update of the ticket (ticket_watch leaves `updated` alone).
    rows = [
        *Comment.objects.filter(ticket__in=tickets).select_related("ticket"),
        *HistoryLog.objects.filter(ticket__in=tickets)
        .exclude(field="watcher")
        .select_related("ticket"),
    ]
    assert all(r.ticket.created <= r.created <= r.ticket.updated for r in rows)
    watches = [*TicketWatcher.objects.filter(ticket__in=tickets).select_related("ticket")]
    assert all(w.ticket.created <= w.created <= now for w in watches)
    # Ticket numbers grow with creation time.
    assert list(tickets.order_by("pk")) == list(tickets.order_by("created", "pk"))


def test_seed_demo_run_twice_creates_nothing_new() -> None:
    def counts() -> dict[str, int]:
        tickets = demo_tickets()
        return {
            "users": demo_users().count(),
            "workflows": Workflow.objects.filter(name=demo.ACCESS_REQUESTS).count(),
            "stages": Stage.objects.filter(workflow__name=demo.ACCESS_REQUESTS).count(),
            "tickets": tickets.count(),
            "comments": Comment.objects.filter(ticket__in=tickets).count(),
            "history": HistoryLog.objects.filter(ticket__in=tickets).count(),
            "watchers": TicketWatcher.objects.filter(ticket__in=tickets).count(),
        }

    command("seed_demo", "--core-only", "--tickets", "20")
    first = counts()

    second = command("seed_demo", "--core-only", "--tickets", "20")

    assert counts() == first
    assert first["tickets"] == 20
    assert "Demo tickets created: none (already there)" in second
    assert "Demo users created: none (already there)" in second


def test_seed_demo_builds_the_same_desk_for_the_same_seed() -> None:
    def desk() -> list[tuple[str, ...]]:
        fields = ("title", "priority", "source", "stage__name", "requester__username")
        return list(demo_tickets().order_by("pk").values_list(*fields, "assignee__username"))

    command("seed_demo", "--core-only", "--tickets", "15", "--seed", "5")
    first = desk()
    remove_demo_desk()
    command("seed_demo", "--core-only", "--tickets", "15", "--seed", "5")
    second = desk()
    remove_demo_desk()
    command("seed_demo", "--core-only", "--tickets", "15", "--seed", "6")

    assert second == first
    assert desk() != first


# --- load_data ----------------------------------------------------------------------------
def test_load_data_creates_exactly_the_tickets_asked_for_consistent_with_their_stages(
    agent: User,
) -> None:
    before = TicketFactory()  # ticket ids of a batch are read back among others

    output = command("load_data", "--tickets", "2000", "--batch-size", "700", "--no-progress")

    assert "Loaded 2,000 tickets, 4,000 comments, 4,000 history rows and 40 requesters" in output
    loaded = loaded_tickets(output)
    assert loaded.count() == 2000
    assert not loaded.filter(pk=before.pk).exists()
    assert set(loaded.values_list("stage__category", flat=True)) == set(StageCategory.values)
    done = loaded.filter(stage__category__in=DONE_CATEGORIES).count()
    assert 0.7 < done / 2000 < 0.9
    assert len(set(loaded.values_list("priority", flat=True))) == 4
    assert len(set(loaded.values_list("requester", flat=True))) > 20
    assert_consistent(loaded)
    assert not loaded.annotate(n=Count("comments")).exclude(n=2).exists()
    assert not loaded.annotate(n=Count("history")).exclude(n=2).exists()
    # Only agents write internal comments.
    internal = Comment.objects.filter(ticket__in=loaded, is_internal=True)
    assert not internal.filter(author__role=Role.REQUESTER).exists()


def test_load_data_tickets_are_valid_models_that_services_and_selectors_work_with(
    agent: User, stages: dict[str, Stage]
) -> None:
    loaded = loaded_tickets(command("load_data", "--tickets", "200", "--no-progress"))

    for ticket in loaded:
        ticket.full_clean()
    open_ticket = loaded.filter(stage=stages["Open"]).first()
    assert open_ticket is not None
    resolved = services.ticket_transition(
        ticket=open_ticket, to_stage=stages["Resolved"], actor=agent
    )
    assert resolved.resolved_at is not None
    ticket = loaded.order_by("-created").first()
    assert ticket is not None
    assert selectors.ticket_get(user=agent, key=ticket.key) == ticket
    requester = ticket.requester
    assert requester.role == Role.REQUESTER
    assert not requester.has_usable_password()
    assert set(selectors.ticket_list(user=requester)) == set(requester.requested_tickets.all())
    assert not selectors.comment_list(user=requester, ticket=ticket).filter(is_internal=True)


def test_load_data_runs_again_without_colliding_with_earlier_runs() -> None:
    first = loaded_tickets(command("load_data", "--tickets", "100", "--no-progress"))
    second = loaded_tickets(command("load_data", "--tickets", "100", "--no-progress"))

    assert first.count() == second.count() == 100
    assert not first.filter(pk__in=second).exists()
    assignees = User.objects.filter(pk__in=(first | second).values("assignee"))
    assert assignees.exists()
    assert set(assignees.values_list("role", flat=True)) <= set(AGENT_ROLES)


def test_load_data_without_comments_and_history_writes_only_tickets() -> None:
    output = command(
        "load_data",
        "--tickets",
        "50",
        "--comments-per-ticket",
        "0",
        "--no-history",
        "--no-progress",
    )

    loaded = loaded_tickets(output)
    assert loaded.count() == 50
    assert not Comment.objects.filter(ticket__in=loaded).exists()
    assert not HistoryLog.objects.filter(ticket__in=loaded).exists()


# --- the bench harness --------------------------------------------------------------------
def test_percentile_is_the_nearest_rank() -> None:
    samples = [float(n) for n in range(100, 0, -1)]  # 1..100, unsorted

    assert percentile(samples, 50) == 50
    assert percentile(samples, 95) == 95
    assert percentile(samples, 100) == 100
    assert percentile([3.0], 95) == 3.0


def test_verdict_passes_when_the_large_median_is_close_and_fast() -> None:
    medians = {10_000: {"list": 10.0, "detail": 4.0}, 1_000_000: {"list": 14.9, "detail": 5.9}}

    assert verdict(medians) == []


def test_verdict_fails_when_the_large_median_is_over_one_and_a_half_times_the_small() -> None:
    medians = {10_000: {"list": 10.0, "detail": 4.0}, 1_000_000: {"list": 15.1, "detail": 4.0}}

    problems = verdict(medians)

    assert len(problems) == 1
    assert "list" in problems[0]
    assert "1.51x" in problems[0]


def test_verdict_fails_when_the_large_median_is_over_50_ms_even_in_proportion() -> None:
    medians = {10_000: {"list": 45.0}, 1_000_000: {"list": 51.0}}

    problems = verdict(medians)

    assert problems == ["list: median 51.0 ms at 1,000,000 tickets is above 50 ms"]


def test_verdict_with_one_size_checks_only_the_absolute_target() -> None:
    assert verdict({1000: {"list": 49.0}}) == []
    assert len(verdict({1000: {"list": 60.0}})) == 1


def test_seed_demo_with_the_apps_shows_sla_clocks_in_every_state_and_forms() -> None:
    from forms_builder.models import CustomForm
    from sla.models import SLABreach, SLAMetric

    output = command("seed_demo", "--tickets", "60")

    statuses = set(SLAMetric.objects.values_list("status", flat=True))
    assert {"running", "at_risk", "met", "breached"} <= statuses
    assert SLABreach.objects.filter(acknowledged_at__isnull=False).exists()
    assert SLABreach.objects.filter(acknowledged_at__isnull=True).exists()
    assert "SLA clocks created:" in output
    assert CustomForm.objects.filter(status="published").count() >= 2
    again = command("seed_demo", "--tickets", "60")
    assert "SLA policies created: none (already there)" in again


def test_seed_demo_history_values_agree_with_the_backdated_times() -> None:
    """The times inside history rows (first response, resolved, closed) are the
    backdated ones the ticket shows, not the moment seed_demo ran."""
    command("seed_demo", "--core-only", "--tickets", "40")

    tickets = demo_tickets()
    started = timezone.now() - timedelta(minutes=5)
    checked = 0
    for ticket in tickets:
        for name in ("first_response_at", "resolved_at", "closed_at"):
            rows = HistoryLog.objects.filter(ticket=ticket, field=name).order_by("created", "pk")
            values = [(row.old_value, row.new_value, row.created) for row in rows]
            for _old, new, created in values:
                if new:
                    assert new == created.isoformat(), (ticket, name)
                    assert datetime.fromisoformat(new) < started, (ticket, name)
            for (_, earlier, _), (later_old, _, _) in itertools.pairwise(values):
                if later_old:
                    assert later_old == earlier, (ticket, name)
            current = getattr(ticket, name)
            if current is not None:
                assert values, (ticket, name)
                assert values[-1][1] == current.isoformat(), (ticket, name)
                checked += 1
    assert checked > 20
