"""The beat scheduler: django-celery-beat's DatabaseScheduler behind the schema guard and
a database lock, so that one beat fires the periodic tasks however many are started.

Schema guard. The scheduler reads its tables while beat starts, before Celery's
``beat_init`` signal fires, so the guard runs here, ahead of the first query; on a
drifted schema beat exits with the guard's message instead of a "relation does not
exist" traceback.

One beat. Two beats on one schedule send every task twice. Instead of trusting the
deployment to start exactly one, the scheduler holds a PostgreSQL *session* advisory
lock (``pg_try_advisory_lock``) on a connection of its own, opened before it reads or
writes any schedule row. A second beat does not get the lock: it logs "another beat
holds the lock" and tries again every ``NIXFLOW_BEAT_LOCK_RETRY_SECONDS`` as a hot
standby, without sending anything. PostgreSQL releases a session lock when its
connection ends, so when the first beat dies (killed, host lost: the server notices the
dead connection through the TCP keepalives set below) the standby gets the lock and
takes over from the schedule rows in the database.

Before each tick the holder checks its lock connection; if that connection broke (the
database restarted, the network dropped), the lock is gone and another beat may already
hold it, so it stops sending and waits for the lock like a standby. The schedule's
``last_run_at`` is written after every task sent (``sync_every = 0``; django-celery-beat
writes it every three minutes by default), so a beat that takes over does not run again
what the previous one just ran.
"""

from __future__ import annotations

import contextlib
import logging
import time
import zlib
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django_celery_beat.schedulers import DatabaseScheduler

from nixflow.platform import schema_guard

logger = logging.getLogger(__name__)

# The advisory lock's key: one per database, so two desks on one PostgreSQL server each
# have their own beat. A fixed number (crc32 of a name), never changed between releases:
# an old and a new release's beat must contend for the same lock during a rolling deploy.
LOCK_KEY = zlib.crc32(b"nixflow.platform.beat")

# TCP keepalives on the lock connection, both ends: the server drops a lock whose holder
# vanished (host lost, cable pulled) within about a minute, and the holder notices too.
_KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 20,
    "keepalives_interval": 5,
    "keepalives_count": 4,
}
_SERVER_KEEPALIVES = (
    "-c tcp_keepalives_idle=20 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=4"
)


class BeatLock:
    """PostgreSQL's session advisory lock ``LOCK_KEY`` on a connection of its own."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self.connection: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        params = dict(connections[self.using].get_connection_params())
        params.pop("cursor_factory", None)
        params.pop("context", None)
        options = " ".join(filter(None, [params.pop("options", ""), _SERVER_KEEPALIVES]))
        return psycopg.connect(
            **params,
            **_KEEPALIVES,
            options=options,
            application_name="nixflow beat lock",
            autocommit=True,
        )

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False when another session does."""
        self.release()
        try:
            connection = self._connect()
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
        except psycopg.Error as error:
            logger.warning("Celery beat cannot reach the database for its lock: %s", error)
            return False
        if row and row[0]:
            self.connection = connection
            return True
        connection.close()
        return False

    def held(self) -> bool:
        """Whether the lock's connection is alive, which is whether the lock is held: a
        session lock lasts as long as its session, and this connection never unlocks."""
        if self.connection is None or self.connection.closed:
            return False
        try:
            self.connection.execute("SELECT 1")
        except psycopg.Error:
            self.release()
            return False
        return True

    def wait(self, retry_seconds: float) -> None:
        """Block until the lock is ours, trying every ``retry_seconds``."""
        if self.try_acquire():
            logger.info("Celery beat holds the beat lock; it sends the periodic tasks.")
            return
        logger.warning(
            "Celery beat waits: another beat holds the lock (advisory lock %s). This one "
            "stands by and takes over when that one stops; trying every %s s.",
            LOCK_KEY,
            retry_seconds,
        )
        while not self.try_acquire():
            time.sleep(retry_seconds)
        logger.warning("Celery beat took over the beat lock; it sends the periodic tasks now.")

    def release(self) -> None:
        if self.connection is not None:
            # Already broken or not: either way the server lets go of the lock.
            with contextlib.suppress(psycopg.Error):
                self.connection.close()
            self.connection = None


def _retry_seconds() -> float:
    return float(getattr(settings, "NIXFLOW_BEAT_LOCK_RETRY_SECONDS", 5.0))


class GuardedDatabaseScheduler(DatabaseScheduler):
    # Write each entry's last_run_at right after sending it (see the module docstring).
    sync_every = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        schema_guard.exit_if_drifted("Celery beat")
        self.beat_lock = BeatLock()
        # Celery builds a lazy scheduler only to print the start-up banner; the one that
        # ticks is built next. Before DatabaseScheduler.__init__, which writes the
        # settings' schedule into the table: a standby changes nothing until it holds
        # the lock.
        if not kwargs.get("lazy"):
            self.beat_lock.wait(_retry_seconds())
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.beat_lock.held():
            logger.error(
                "Celery beat lost its lock (its database connection broke); it sends "
                "nothing until it holds the lock again."
            )
            # What this beat still meant to write is older than what a beat holding the
            # lock meanwhile wrote: forget it, and read the schedule afresh once ours.
            self._dirty.clear()
            self.beat_lock.wait(_retry_seconds())
            self._initial_read = True
            self._heap = None
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        super().close()
        self.beat_lock.release()
