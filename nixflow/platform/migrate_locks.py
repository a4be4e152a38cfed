"""``migrate`` that never queues behind a long transaction for long.

PostgreSQL grants locks in order: once ``ALTER TABLE`` waits for its ACCESS EXCLUSIVE
lock behind a long transaction (a report, an idle-in-transaction session), every later
reader and writer of that table waits behind the ``ALTER TABLE`` -- the desk stalls for
as long as the long transaction lasts, though the migration itself would take a
millisecond. So ``migrate`` sets ``lock_timeout`` (``NIXFLOW_MIGRATE_LOCK_TIMEOUT``,
default ``5s``): when the lock does not come in time the statement fails, its migration
rolls back, the queue behind it drains, and ``migrate`` tries again after a pause
(``NIXFLOW_MIGRATE_LOCK_RETRIES`` more times, the pause doubling from one second).
A watcher on a second connection notes who holds the lock while ``migrate`` waits
(``pg_blocking_pids``), so the final error names the blocking session, its lock, its
state and its last query.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections

_BLOCKERS_SQL = """
SELECT held.pid, held.mode, waiting.relation::regclass::text, b.state,
       coalesce(extract(epoch FROM now() - b.xact_start)::int, 0),
       left(regexp_replace(b.query, '\\s+', ' ', 'g'), 160)
FROM pg_locks waiting
JOIN pg_locks held
  ON held.locktype = waiting.locktype
 AND held.database IS NOT DISTINCT FROM waiting.database
 AND held.relation IS NOT DISTINCT FROM waiting.relation
 AND held.granted AND held.pid <> waiting.pid
JOIN pg_stat_activity b ON b.pid = held.pid
WHERE waiting.pid = %s AND NOT waiting.granted AND held.pid = ANY(pg_blocking_pids(%s))
ORDER BY held.pid
"""


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is PostgreSQL's lock_timeout (55P03)."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlstate", None) == "55P03":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def lock_timeout(connection: Any, timeout: str) -> Iterator[None]:
    """``SET lock_timeout`` for the session of ``connection`` (every migration's
    transaction, and the statements of non-atomic ones), reset afterwards."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [timeout])
    try:
        yield
    finally:
        if connection.connection is not None and not connection.needs_rollback:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")


class BlockerWatcher:
    """Notes, every 0.2 s, which sessions block ``connection``'s lock requests."""

    def __init__(self, connection: Any, interval: float = 0.2) -> None:
        self.connection = connection
        self.interval = interval
        self.blockers: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BlockerWatcher:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self._pid = cursor.fetchone()[0]
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _watch(self) -> None:
        watcher = connections.create_connection(self.connection.alias)
        try:
            while not self._stop.wait(self.interval):
                with watcher.cursor() as cursor:
                    cursor.execute(_BLOCKERS_SQL, [self._pid, self._pid])
                    rows = cursor.fetchall()
                if rows:
                    self.blockers = [describe_blocker(row) for row in rows]
        finally:
            watcher.close()


def describe_blocker(row: tuple[Any, ...]) -> str:
    pid, mode, relation, state, seconds, query = row
    return (
        f"pid {pid} holds {mode} on {relation} ({state or 'unknown state'}, transaction open "
        f"{seconds}s; last query: {query!r})"
    )
