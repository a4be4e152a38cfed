"""The transactional outbox: work that must leave the process, written with the change.

Anything a write needs done elsewhere (a subscriber's delivery, an outbound mail, later
a webhook) is a Celery task. Publishing it from the request, after commit, made the
request depend on the broker: with the broker down, ``.delay()`` retried for 2-3 s and
then raised, so a committed ticket answered 500 and clients retried into duplicates.
Instead, ``outbox_enqueue`` inserts an ``OutboxMessage`` row in the caller's
transaction. The row commits with the change or rolls back with it; nothing in the
request talks to the broker. A relay publishes the rows afterwards.

**The relay** (``manage.py relay_outbox``, its own process next to the worker; in
``Procfile.dev`` and ``docker-compose.yml``) loops:

1. claim up to ``EVENTLOG_OUTBOX_BATCH_SIZE`` due rows with ``SELECT ... FOR UPDATE SKIP
   LOCKED`` through the partial index of unpublished rows, so several relays share the
   work without waiting for each other;
2. publish each with ``send_task`` under the correlation id of the transaction that
   wrote it (without retries: a dead broker raises at once instead of blocking);
3. mark the published ones and commit. A broker error stops the batch: the failed row
   records the attempt and error and becomes due again after a backoff (doubling, up
   to ``EVENTLOG_OUTBOX_MAX_BACKOFF_SECONDS``), and the relay sleeps as long, so an
   outage costs one failed publish per backoff, not a storm. When the broker returns,
   the next attempt succeeds and the backlog drains by itself.

A crash between publishing and the commit that marks the rows leaves them unpublished,
so they are published again: delivery is at least once, and the consumers are
idempotent (a ``Delivery`` row per (event, subscriber), a mail's status), which makes the
repeat harmless. Nothing is lost and nothing runs twice to any visible effect.

**Waking up.** Each insert into the outbox fires a statement-level trigger that sends
``NOTIFY eventlog_outbox`` (migration 0005). PostgreSQL delivers it at commit, and only
for committed rows; the relay waits in ``LISTEN`` between batches, so a commit is
published within milliseconds, and polls every ``EVENTLOG_OUTBOX_POLL_SECONDS`` anyway
(a notification sent while the relay was reconnecting, rows whose backoff has passed).

**Why its own process** rather than beat or the worker: beat would publish a relay task
through the very broker the relay is there to survive, and add up to its interval of
latency (seconds) to every mail; a thread inside the worker dies with it and needs the
worker's broker connection to start at all. A separate loop costs one process and one
database connection, keeps working while the broker is down and reconnects to both by
itself.

**Measured** (``python -m bench.outbox``, this 2-core machine at a load average of 8,
so upper bounds): commit to publish 48 ms median when woken by the NOTIFY, against
1.8 s when only the 2 s poll finds the rows; the trigger adds 0.15 ms to the writing
transaction (4.95 against 4.80 ms for a transaction enqueuing one message); one relay
publishes 405 rows/s to Redis, above the desk's fastest writer (mail intake, 150
messages/s at about two rows each), and more relays share the rows should that ever be
short. A publish to a broker that is down fails after the Redis client's own
few reconnects (about 6 s), in the relay only.

**The write cost** is one more INSERT per transaction that has subscribed events (one
row per (event, subscriber), all in one statement) and the NOTIFY at commit, instead of
the broker round trip the request used to pay after commit (``bench/eventlog.py``).

Published rows are kept ``EVENTLOG_OUTBOX_RETENTION_SECONDS`` (for the admin and the
redelivery safety net, see ``eventlog.tasks.redeliver_missed``), then deleted by the
relay.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from celery import current_app
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from eventlog import context
from eventlog.models import OutboxMessage

logger = logging.getLogger(__name__)

CHANNEL = "eventlog_outbox"


@dataclass(frozen=True)
class Message:
    """What to enqueue: a Celery task by name, its keyword arguments (JSON), an optional
    key that makes the message unique (a second enqueue is ignored), and the correlation
    id the task runs under (by default the current one)."""

    task: str
    kwargs: dict[str, Any]
    key: str | None = None
    correlation_id: uuid.UUID | None = None


def outbox_enqueue(*, task: str, kwargs: dict[str, Any], key: str | None = None) -> None:
    """Queue ``task(**kwargs)`` to run in a worker once the current transaction commits.

    Call it inside the transaction of the change that needs the task: it rolls back
    with it. Outside one, the row commits at once (there is nothing to wait for). With
    a ``key``, at most one message with that key is ever queued (until purged).
    """
    outbox_enqueue_many(messages=[Message(task=task, kwargs=kwargs, key=key)])


def outbox_enqueue_many(*, messages: Sequence[Message]) -> None:
    """``outbox_enqueue`` for several messages, in one INSERT."""
    if not messages:
        return
    current = context.current()
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                task=m.task,
                kwargs=m.kwargs,
                key=m.key,
                correlation_id=m.correlation_id or current,
            )
            for m in messages
        ],
        ignore_conflicts=any(m.key is not None for m in messages),
    )


REARM = """
INSERT INTO eventlog_outboxmessage
    (task, kwargs, key, correlation_id, created_at, available_at, attempts, last_error)
SELECT %(task)s, item.kwargs, item.key, NULL, now(), now(), 0, ''
FROM jsonb_to_recordset(%(items)s::jsonb) AS item(key text, kwargs jsonb)
ON CONFLICT (key) DO UPDATE
    SET published_at = NULL, available_at = now(), attempts = 0,
        last_error = 'queued again by the redelivery safety net'
    WHERE eventlog_outboxmessage.published_at < now() - make_interval(secs => %(settled)s)
RETURNING id
"""


def outbox_rearm(
    *, task: str, items: Sequence[tuple[str, dict[str, Any]]], settled: timedelta
) -> int:
    """Queue ``task`` again for each (key, kwargs) whose message was published longer
    than ``settled`` ago (or never queued): for work that evidently got lost after
    publishing. A message still waiting to be published is left alone. The count queued.
    """
    if not items:
        return 0
    payload = DjangoJSONEncoder().encode([{"key": k, "kwargs": kw} for k, kw in items])
    with connection.cursor() as cursor:
        cursor.execute(REARM, {"task": task, "items": payload, "settled": settled.total_seconds()})
        return len(cursor.fetchall())


# --- the relay ---------------------------------------------------------------------------

CLAIM = """
SELECT id, task, kwargs, correlation_id, attempts
FROM eventlog_outboxmessage
WHERE published_at IS NULL AND available_at <= clock_timestamp()
ORDER BY available_at, id
LIMIT %s
FOR UPDATE SKIP LOCKED
"""

Publisher = Callable[[str, dict[str, Any], uuid.UUID | None], None]


def publish_to_celery(task: str, kwargs: dict[str, Any], correlation_id: uuid.UUID | None) -> None:
    """Send one task message, once: a broker that is down raises instead of blocking."""
    with context.correlated(correlation_id):
        current_app.send_task(task, kwargs=kwargs, retry=False)


@dataclass
class RelayPass:
    published: int = 0
    failed: bool = False
    error: str = ""
    more: bool = False  # a full batch: there may be more due rows right now


def relay_once(
    *, batch_size: int | None = None, publish: Publisher = publish_to_celery
) -> RelayPass:
    """Claim one batch of due rows, publish them, mark them published; one transaction.

    Stops at the first row the broker refuses: that row records the attempt and waits
    out its backoff; the rest of the batch stays due, untouched.
    """
    size = batch_size or settings.EVENTLOG_OUTBOX_BATCH_SIZE
    result = RelayPass()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(CLAIM, [size])
            rows = cursor.fetchall()
        result.more = len(rows) == size
        published: list[int] = []
        for pk, task, kwargs, correlation_id, attempts in rows:
            try:
                publish(task, _as_dict(kwargs), correlation_id)
            except Exception as error:  # any broker or transport error: retry later
                result.failed, result.error = True, f"{type(error).__name__}: {error}"[:2000]
                _record_failure(pk, attempts + 1, result.error)
                result.more = False
                break
            published.append(pk)
        if published:
            OutboxMessage.objects.filter(pk__in=published).update(published_at=timezone.now())
        result.published = len(published)
    return result


def _as_dict(kwargs: Any) -> dict[str, Any]:
    if isinstance(kwargs, str):  # a jsonb column read through a plain cursor
        import json

        return dict(json.loads(kwargs))
    return dict(kwargs or {})


def backoff(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed publish: 1, 2, 4, ... capped."""
    return float(min(2 ** max(attempts - 1, 0), settings.EVENTLOG_OUTBOX_MAX_BACKOFF_SECONDS))


def _record_failure(pk: int, attempts: int, error: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE eventlog_outboxmessage SET attempts = %s, last_error = %s,"
            " available_at = clock_timestamp() + make_interval(secs => %s) WHERE id = %s",
            [attempts, error, backoff(attempts), pk],
        )
    logger.warning("Outbox message %s not published (attempt %s): %s", pk, attempts, error)


def purge_published(*, older_than: timedelta | None = None) -> int:
    """Delete rows published longer ago than the retention; the number deleted."""
    keep = older_than or timedelta(seconds=settings.EVENTLOG_OUTBOX_RETENTION_SECONDS)
    deleted, _ = OutboxMessage.objects.filter(published_at__lt=timezone.now() - keep).delete()
    return deleted


def pending_count() -> int:
    return OutboxMessage.objects.filter(published_at__isnull=True).count()


def run_inline(*, limit: int = 1000) -> int:
    """Run every due message in this process, as the relay and a worker would together
    (``Task.apply``, after the claiming transaction), until none is left; the number
    run. For tests and one-off scripts: production publishes through the broker."""
    ran = 0
    while ran < limit:
        batch: list[tuple[str, dict[str, Any], uuid.UUID | None]] = []

        def collect(task: str, kwargs: dict[str, Any], correlation_id: uuid.UUID | None) -> None:
            batch.append((task, kwargs, correlation_id))  # noqa: B023 -- used in this pass only

        relay_once(publish=collect)
        if not batch:
            break
        for task, kwargs, correlation_id in batch:
            with context.correlated(correlation_id):
                _registered(task).apply(kwargs=kwargs)
            ran += 1
    return ran


def _registered(name: str) -> Any:
    """The task called ``name``; tasks modules are imported by the worker at start, so
    in any other process load them first (Celery's autodiscovery)."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def relay_forever(
    *, stop: Callable[[], bool], poll: float | None = None, publish: Publisher = publish_to_celery
) -> None:
    """The relay's loop (``manage.py relay_outbox``) until ``stop()`` is true: publish
    what is due, then wait for a NOTIFY or ``poll`` seconds. Survives the broker and the
    database going away and coming back (see the module docstring)."""
    interval = poll if poll is not None else settings.EVENTLOG_OUTBOX_POLL_SECONDS
    failures, listening, last_purge = 0, False, 0.0
    while not stop():
        try:
            if not listening:
                _listen()
                listening = True
            result = relay_once(publish=publish)
            failures = failures + 1 if result.failed else 0
            if time.monotonic() - last_purge > PURGE_EVERY_SECONDS:
                purge_published()
                last_purge = time.monotonic()
            if result.failed:
                _wait(backoff(failures))
            elif not result.more:
                _wait(interval)
        except DatabaseError as error:  # the database went away: reconnect, then resume
            failures += 1
            logger.warning("Outbox relay lost the database (%s); reconnecting", error)
            connection.close()
            listening = False
            time.sleep(backoff(failures))


PURGE_EVERY_SECONDS = 300


def _listen() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {CHANNEL}")


def _wait(seconds: float) -> None:
    """Sleep up to ``seconds``, waking early on a NOTIFY of committed outbox rows."""
    raw = connection.connection
    if raw is None:
        time.sleep(seconds)
        return
    try:
        for _ in raw.notifies(timeout=seconds, stop_after=1):
            pass
        for _ in raw.notifies(timeout=0):  # drain: one pass serves them all
            pass
    except psycopg.Error as error:
        raise OperationalError(str(error)) from error
