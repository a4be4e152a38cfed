"""Two ``celery beat`` processes started by mistake still send each periodic task once:
the scheduler holds a PostgreSQL advisory lock (nixflow/platform/beat.py); the second
beat stands by and takes over when the first dies."""

from __future__ import annotations

import datetime
import itertools
import sys
from pathlib import Path

import pytest

from tests.faults.stack import Redis, wait_until
from tests.hosts.conftest import host_env
from tests.support.processes import (
    ScratchDatabase,
    celery_beat_cmd,
    celery_worker_cmd,
    free_port,
    run,
    running,
)

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(900),
]

INTERVAL = 3  # seconds between two runs of the test's periodic task
BOOT = 240  # seconds a process may take to start on a loaded machine

SCHEDULE = f"""
from django_celery_beat.models import IntervalSchedule, PeriodicTask
every = IntervalSchedule.objects.create(every={INTERVAL}, period=IntervalSchedule.SECONDS)
PeriodicTask.objects.create(name="hosts-tick", task="tests.hosts.tasks.beat_tick", interval=every)
"""

HOLDS = "holds the beat lock"
STANDS_BY = "another beat holds the lock"
TOOK_OVER = "took over the beat lock"


def _now(db: ScratchDatabase) -> datetime.datetime:
    return db.sql("SELECT clock_timestamp()")[0][0]


def _ticks(db: ScratchDatabase, since: datetime.datetime | None = None) -> list[datetime.datetime]:
    """When the task ran (the database's clock), oldest first."""
    rows = db.sql(
        "SELECT at FROM hosts_beat_tick WHERE at > coalesce(%s, '-infinity') ORDER BY at", [since]
    )
    return [row[0] for row in rows]


def _gaps(ticks: list[datetime.datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)]


def test_two_beats_send_each_periodic_task_once_and_the_standby_takes_over(
    host_db: ScratchDatabase, tmp_path: Path
) -> None:
    host_db.sql(
        "CREATE TABLE hosts_beat_tick"
        " (id serial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())"
    )
    redis = Redis(free_port(), tmp_path)
    redis.start()
    try:
        extra = {"CELERY_BROKER_URL": redis.url, "NIXFLOW_BEAT_LOCK_RETRY_SECONDS": "1"}
        env = host_env(host_db, **extra)
        done = run([sys.executable, "manage.py", "shell", "-c", SCHEDULE], env)
        assert done.returncode == 0, done.output
        # Each beat on a host of its own: its own var dir (pid file, logs).
        host_a, host_b = tmp_path / "a", tmp_path / "b"
        env_a = host_env(host_db, host_a, **extra)
        env_b = host_env(host_db, host_b, **extra)
        with (
            running(celery_worker_cmd(), env, " ready.", timeout=BOOT),
            running(celery_beat_cmd(host_a), env_a, HOLDS, timeout=BOOT) as beat_a,
            running(celery_beat_cmd(host_b), env_b, STANDS_BY, timeout=BOOT) as beat_b,
        ):
            both_up = _now(host_db)
            wait_until("four runs", lambda: len(_ticks(host_db, both_up)) >= 4, timeout=60)
            # Two beats would each send the task once an interval, out of step: gaps
            # well under the interval. One beat: every gap is about the interval.
            assert min(_gaps(_ticks(host_db, both_up))) > INTERVAL - 1, _ticks(host_db)
            assert beat_b.poll() is None  # standing by, not exited

            beat_a.kill()  # no clean shutdown: the lock goes with the dead connection
            beat_a.wait(10)
            killed = _now(host_db)
            wait_until("three runs after", lambda: len(_ticks(host_db, killed)) >= 3, timeout=90)
            ticks = _ticks(host_db, both_up)
            assert min(_gaps(ticks)) > INTERVAL - 1, ticks
            # The take-over costs the retry and the standby's first read of the schedule
            # (seconds on a loaded machine), not a missed hour.
            assert max(_gaps(ticks)) < INTERVAL + 30, ticks
        logs = {p.parent.name: p.read_text() for p in tmp_path.glob("[ab]/*.log")}
        assert HOLDS in logs["a"], logs["a"]
        assert STANDS_BY not in logs["a"], logs["a"]
        assert TOOK_OVER in logs["b"], logs["b"]
    finally:
        redis.stop()
