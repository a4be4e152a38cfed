"""The dashboard's daily tally (SLADailyTally, kept by triggers of migration sla 0004):
it always equals counting the clocks, whoever changes them, compacted or not, and the
figures read from it equal the figures counted from the clocks themselves."""

from __future__ import annotations

import random
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.db.models import Count, F
from django.db.models.functions import TruncDate

from nixflow import services
from nixflow.models import Stage, Ticket, User
from sla import services as sla_services
from sla.models import MetricType, SLADailyTally, SLAMetric, SLAPolicy, SLAStatus
from sla.selectors import WINDOWS, _completed_counts, sla_median_seconds
from tests.sla.conftest import T0, open_ticket
from tests.sla.factories import SLAMetricFactory, SLAPolicyFactory
from tests.support.processes import run

M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
COMPLETED = [SLAStatus.MET, SLAStatus.BREACHED]


def completed_clock(**fields: object) -> SLAMetric:
    """An unsaved clock completed at T0 (MET, next response), ``fields`` overriding;
    give it a ticket and a policy."""
    defaults: dict[str, object] = {
        "metric_type": MetricType.NEXT_RESPONSE,
        "target_seconds": 60,
        "started_at": T0,
        "completed_at": T0,
    }
    return SLAMetricFactory.build(completed=True, **{**defaults, **fields})


def tallied() -> Counter:
    """Net (day, policy id, metric type, status) counts according to the tally."""
    counts: Counter = Counter()
    for row in SLADailyTally.objects.all():
        counts[(row.day, row.policy_id, row.metric_type, SLAStatus.MET)] += row.met
        counts[(row.day, row.policy_id, row.metric_type, SLAStatus.BREACHED)] += row.breached
    return +counts  # drops the zeros


def counted() -> Counter:
    """The same, counted from the clocks."""
    rows = (
        SLAMetric.objects.filter(status__in=COMPLETED, completed_at__isnull=False)
        .values(day=TruncDate("completed_at", tzinfo=UTC))
        .annotate(n=Count("pk"))
        .values_list("day", "policy_id", "metric_type", "status", "n")
    )
    return Counter({tuple(key): n for *key, n in rows})


@pytest.fixture
def life(
    policy: SLAPolicy,
    requester: User,
    agent: User,
    stages: dict[str, Stage],
    clock: time_machine.Coordinates,
) -> list[Ticket]:
    """Tickets answered late and early, resolved, over several days."""
    tickets = []
    for n in range(6):
        clock.move_to(T0 + n * D)
        ticket = open_ticket(requester)
        clock.shift((30 + n * 20) * 60)  # first response met for n < 2, breached after
        services.comment_create(ticket=ticket, author=agent, body="On it.")
        clock.shift(3600)
        services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
        tickets.append(ticket)
    return tickets


@pytest.mark.django_db
def test_completing_clocks_through_the_services_tallies_them(life: list[Ticket]) -> None:
    assert counted()[(T0.date(), life[0].sla_metrics.first().policy_id, "resolution", "met")]
    assert tallied() == counted()
    assert sum(tallied().values()) == 12  # 6 tickets x (first response, resolution)


@pytest.mark.django_db
def test_reopening_a_ticket_takes_its_resolution_out_of_the_tally_and_resolving_puts_it_back(
    life: list[Ticket], agent: User, stages: dict[str, Stage], clock: time_machine.Coordinates
) -> None:
    clock.move_to(T0 + 10 * D)
    services.ticket_transition(ticket=life[2], to_stage=stages["Open"], actor=agent)
    assert tallied() == counted()
    assert sum(tallied().values()) == 11

    clock.shift(3600)  # resolved again, on another day: it moves there
    services.ticket_transition(ticket=life[2], to_stage=stages["Resolved"], actor=agent)
    assert tallied() == counted()
    assert sum(tallied().values()) == 12
    assert counted()[((T0 + 10 * D).date(), life[2].sla_metrics.first().policy_id,
                      "resolution", "met")] == 1  # fmt: skip


@pytest.mark.django_db
def test_changes_outside_the_services_are_tallied_too(life: list[Ticket]) -> None:
    """Cascades, bulk updates and bulk inserts: the triggers see every writer."""
    life[0].delete()  # the ORM's cascade deletes its clocks
    SLAMetric.objects.filter(ticket=life[1], metric_type=MetricType.RESOLUTION).update(
        status=SLAStatus.BREACHED, completed_at=F("completed_at") + 2 * D
    )
    SLAMetric.objects.filter(ticket=life[3], metric_type=MetricType.RESOLUTION).update(
        status=SLAStatus.CANCELLED
    )
    template = SLAMetric.objects.filter(ticket=life[4]).first()
    SLAMetric.objects.bulk_create(
        completed_clock(
            ticket_id=template.ticket_id,
            policy_id=template.policy_id,
            status=status,
            completed_at=T0 + n * H,
        )
        for n, status in enumerate([SLAStatus.MET, SLAStatus.BREACHED, SLAStatus.CANCELLED])
    )
    with connection.cursor() as cursor:  # and SQL typed by hand
        cursor.execute("DELETE FROM sla_slabreach WHERE ticket_id = %s", [life[5].pk])
        cursor.execute("DELETE FROM sla_slametric WHERE ticket_id = %s", [life[5].pk])

    assert tallied() == counted()
    assert sum(tallied().values()) == 12 - 2 - 1 - 2 + 2


@pytest.mark.django_db
def test_compaction_folds_rows_without_changing_a_figure(
    life: list[Ticket], agent: User, stages: dict[str, Stage], clock: time_machine.Coordinates
) -> None:
    for _ in range(3):  # reopen and resolve again, on the same day: -1 +1 each time
        services.ticket_transition(ticket=life[5], to_stage=stages["Open"], actor=agent)
        services.ticket_transition(ticket=life[5], to_stage=stages["Resolved"], actor=agent)
    SLAMetric.objects.filter(ticket=life[0]).delete()  # a group netting to zero
    before, rows = tallied(), SLADailyTally.objects.count()
    per_group = SLADailyTally.objects.values("day", "policy", "metric_type").annotate(n=Count("pk"))
    alone = sum(1 for group in per_group if group["n"] == 1)

    result = sla_services.tally_compact()

    assert tallied() == before == counted()
    assert result.folded == rows - alone  # every group of two rows or more is folded
    assert SLADailyTally.objects.count() == len({key[:3] for key in before})
    assert sla_services.tally_compact().folded == 0  # nothing left to fold


@pytest.mark.django_db(transaction=True)
def test_compactions_and_writers_at_once_lose_nothing_and_count_nothing_twice(
    policy: SLAPolicy, requester: User
) -> None:
    ticket = services.ticket_create(requester=requester, title="Busy", actor=requester)
    SLAMetric.objects.bulk_create(
        completed_clock(ticket=ticket, policy=policy, completed_at=T0 + (n % 5) * D)
        for n in range(200)
    )
    ids = list(
        SLAMetric.objects.filter(ticket=ticket, completed_at__isnull=False).values_list(
            "pk", flat=True
        )
    )
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 -- which clocks to flip, not a secret
        try:
            start.wait()
            for _ in range(60):
                with transaction.atomic():
                    SLAMetric.objects.filter(pk__in=rng.sample(ids, 5)).update(
                        status=rng.choice(COMPLETED), completed_at=T0 + rng.randrange(5) * D
                    )
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def compactor() -> None:
        try:
            start.wait()
            for _ in range(30):
                sla_services.tally_compact()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    threads += [threading.Thread(target=compactor) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert tallied() == counted()
    assert sum(tallied().values()) == len(ids)  # flipped between met and breached only
    sla_services.tally_compact()
    assert tallied() == counted()


def completed_counts_by_hand(now: datetime) -> dict:
    """``_completed_counts`` computed the slow way: every clock, every window."""
    counts: dict = {}
    for clock in SLAMetric.objects.filter(status__in=COMPLETED, completed_at__isnull=False):
        for name, days in WINDOWS.items():
            if now - timedelta(days=days) < clock.completed_at <= now:
                group = counts.setdefault((clock.policy_id, clock.metric_type), {})
                key = f"{name}_{clock.status}"
                group[key] = group.get(key, 0) + 1
    return counts


@pytest.fixture
def scattered(policy: SLAPolicy, requester: User) -> SLAPolicy:
    """Clocks completed at random moments around both windows' edges, a few tomorrow,
    under two policies, with random business times (ties included)."""
    other = SLAPolicyFactory(name="Other", order=20)
    ticket = services.ticket_create(requester=requester, title="Many", actor=requester)
    rng = random.Random(11)  # noqa: S311 -- test data
    around = [T0 - 30 * D, T0 - 7 * D, T0, T0 + D]
    SLAMetric.objects.bulk_create(
        completed_clock(
            ticket=ticket,
            policy=rng.choice([policy, other]),
            metric_type=rng.choice(MetricType.values),
            status=rng.choice([*COMPLETED, SLAStatus.CANCELLED]),
            started_at=T0 - 40 * D,
            completed_at=rng.choice(around) + rng.uniform(-1.5, 1.5) * D,
            elapsed_seconds=rng.choice([60, 120, 300, 301, 3600, 7200]) + rng.randrange(3),
        )
        for _ in range(600)
    )
    return other


@pytest.mark.django_db
@pytest.mark.parametrize("hour", [0, 5.5, 12, 23.99])
def test_window_counts_from_the_tally_equal_counting_every_clock(
    scattered: SLAPolicy, hour: float
) -> None:
    now = T0 + timedelta(hours=hour)
    by_hand = completed_counts_by_hand(now)
    assert by_hand  # the data reaches into every window
    from_tally = {
        group: {name: n for name, n in figures.items() if n}
        for group, figures in _completed_counts(now=now).items()
    }
    assert {group: figures for group, figures in from_tally.items() if figures} == by_hand


@pytest.mark.django_db
@pytest.mark.parametrize("hour", [0, 7, 12.5])
def test_medians_equal_postgresqls_percentile_cont(scattered: SLAPolicy, hour: float) -> None:
    now = T0 + timedelta(hours=hour)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT metric_type, percentile_cont(0.5) WITHIN GROUP (ORDER BY elapsed_seconds)
            FROM sla_slametric
            WHERE status IN ('met', 'breached') AND completed_at > %s AND completed_at <= %s
            GROUP BY metric_type
            """,
            [now - 30 * D, now],
        )
        expected = dict(cursor.fetchall())

    assert sla_median_seconds(now=now) == {
        "first_response": expected["first_response"],
        "resolution": expected["resolution"],
    }


@pytest.mark.django_db
def test_a_median_of_an_even_number_is_the_mean_of_the_middle_two(
    policy: SLAPolicy, requester: User
) -> None:
    ticket = services.ticket_create(requester=requester, title="Two", actor=requester)
    SLAMetric.objects.filter(ticket=ticket).delete()
    SLAMetric.objects.bulk_create(
        completed_clock(
            ticket=ticket,
            policy=policy,
            metric_type=MetricType.FIRST_RESPONSE,
            completed_at=T0 + H,
            elapsed_seconds=seconds,
        )
        for seconds in (100, 400, 200, 900)
    )
    assert sla_median_seconds(now=T0 + D) == {"first_response": 300.0, "resolution": None}


def test_migrating_backfills_the_tally_from_clocks_completed_before(scratch_db) -> None:
    """A deploy onto a desk with history: migration 0004 counts what is there."""
    env = scratch_db.env()
    back = run([sys.executable, "manage.py", "migrate", "sla", "0003", "--noinput"], env)
    assert back.returncode == 0, back.output
    scratch_db.sql(
        """
        INSERT INTO nixflow_user (password, is_superuser, username, first_name, last_name,
            email, is_staff, is_active, date_joined, role)
        VALUES ('!', false, 'r', '', '', 'r@example.com', false, true, now(), 'requester');
        INSERT INTO sla_slapolicy (name, "order", is_active, priorities, sources,
            warning_threshold, escalation_email, updated)
        VALUES ('Old', 1, true, '{}', '{}', 75, '', now());
        """
    )
    ticket_id = scratch_db.sql(
        """
        INSERT INTO nixflow_ticket (title, description, priority, source, requester_id,
            workflow_id, stage_id, created, updated)
        SELECT 'Old', '', 'NORMAL', 'WEB', u.id, s.workflow_id, s.id, now(), now()
        FROM nixflow_user u, nixflow_stage s WHERE u.username = 'r' LIMIT 1
        RETURNING id
        """
    )[0][0]
    scratch_db.sql(
        """
        INSERT INTO sla_slametric (ticket_id, policy_id, metric_type, status, target_seconds,
            started_at, paused_seconds, elapsed_seconds, completed_at, created)
        SELECT %s, p.id, 'resolution', s, 60, now(), 0, 0,
               timestamptz '2026-03-02 10:00+00' + n * interval '1 day', now()
        FROM sla_slapolicy p, generate_series(0, 5) n,
             unnest(ARRAY['met', 'breached', 'cancelled']) s
        """,
        [ticket_id],
    )

    forward = run([sys.executable, "manage.py", "migrate", "--noinput"], env)

    assert forward.returncode == 0, forward.output
    assert scratch_db.sql("SELECT count(*), sum(met), sum(breached) FROM sla_sladailytally") == [
        (6, 6, 6)
    ]
