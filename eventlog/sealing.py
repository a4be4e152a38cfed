"""Tamper evidence: seal ranges of committed events; verify the seals and row hashes.

Writers never wait for this. They only INSERT; PostgreSQL stamps each row with
``recorded_at = clock_timestamp()`` and its ``row_hash`` (migration 0002). A sealer,
alone under an advisory lock, seals the next range of ids ``(last sealed, b]`` with
``digest = SHA-256(previous digest || row hashes in id order)``.

Choosing ``b`` safely is the subtle part: ids come from a sequence at INSERT time, so a
transaction still in progress may hold an id below ids that are already committed, and
would commit into a range already sealed. Let ``T`` be the start time of the oldest
transaction of this database that has written anything and is still open (or now, if
none). A transaction open now either started at or after ``T``, so every id it drew was
drawn after ``T``, and its rows will carry ``recorded_at >= T``. (This needs a writer to
show as open, with a transaction id, before it draws an event id: the id column's
default, ``eventlog_next_id()`` of migration 0003, takes the transaction id first.
Without that, a writer caught between drawing an id and its first row write would be
invisible here, and would land behind the seal.) Hence every id up to
``b = max(id) where recorded_at < T`` belongs to a transaction that has finished: ids
below ``b`` that are not visible were rolled back and are recorded as ``gaps``. The log
therefore never changes below ``b`` again, unless someone tampers with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from eventlog.models import HASH_BYTES, EventLog, Seal

GENESIS = bytes(HASH_BYTES)
# Any constant: the key of the advisory lock that admits one sealer at a time.
SEALER_LOCK = 0x6E6978666C6F77


def _safe_upper_bound(after_id: int, limit: int) -> int | None:
    """The highest id that can be sealed now (see the module docstring), at most
    ``limit`` events past ``after_id``; None when nothing can be sealed."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(min(xact_start), clock_timestamp())
            FROM pg_stat_activity
            WHERE datname = current_database()
              AND backend_type = 'client backend'  -- not autovacuum's ANALYZE
              AND backend_xid IS NOT NULL
              AND pid <> pg_backend_pid()
            """
        )
        (oldest_open,) = cursor.fetchone()
        cursor.execute(
            """
            SELECT max(id) FROM (
                SELECT id FROM eventlog_eventlog
                WHERE id > %s AND recorded_at < %s
                ORDER BY id LIMIT %s
            ) AS sealable
            """,
            [after_id, oldest_open, limit],
        )
        (upper,) = cursor.fetchone()
    return upper


@dataclass(frozen=True)
class RangeDigest:
    ids: list[int]
    digest: bytes


def range_digest(first_id: int, last_id: int, previous: bytes) -> RangeDigest:
    """The ids present in ``[first_id, last_id]`` and the chained digest over them."""
    digest = hashlib.sha256(previous)
    ids = []
    rows = (
        EventLog.objects.filter(id__gte=first_id, id__lte=last_id)
        .order_by("id")
        .values_list("id", "row_hash")
    )
    for event_id, row_hash in rows.iterator(chunk_size=5000):
        ids.append(event_id)
        digest.update(bytes(row_hash))
    return RangeDigest(ids=ids, digest=digest.digest())


def seal_pending(max_events: int | None = None) -> list[Seal]:
    """Seal what can be sealed now, in seals of at most ``max_events`` events.

    Returns the new seals; an empty list when another sealer holds the lock or nothing
    is ready. Idempotent: the unique range bounds stop a second seal of the same range.
    """
    max_events = max_events or settings.EVENTLOG_SEAL_MAX_EVENTS
    sealed: list[Seal] = []
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEALER_LOCK])
                (locked,) = cursor.fetchone()
            if not locked:
                return sealed
            last = Seal.objects.order_by("-last_event_id").first()
            after = last.last_event_id if last else 0
            previous = bytes(last.digest) if last else GENESIS
            upper = _safe_upper_bound(after, max_events)
            if upper is None:
                return sealed
            computed = range_digest(after + 1, upper, previous)
            present = set(computed.ids)
            seal = Seal.objects.create(
                first_event_id=after + 1,
                last_event_id=upper,
                event_count=len(computed.ids),
                gaps=[i for i in range(after + 1, upper + 1) if i not in present],
                previous_digest=previous,
                digest=computed.digest,
            )
            sealed.append(seal)


@dataclass(frozen=True)
class Problem:
    event_id: int | None
    seal_id: int | None
    message: str
    # Where in the log it is, for reporting in log order: the event's id, or for a seal
    # whose events all look right on their own, the end of its range.
    position: int = 0


def verify() -> tuple[list[Problem], int, int]:
    """Check every row hash and every seal; (problems, events checked, seals checked).

    Problems come in log order; the first one names the first bad event or seal.
    """
    problems: list[Problem] = []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.id FROM eventlog_eventlog AS e
            WHERE e.row_hash IS DISTINCT FROM eventlog_row_hash(e)
            ORDER BY e.id
            """
        )
        edited = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT count(*) FROM eventlog_eventlog")
        (event_count,) = cursor.fetchone()
    problems.extend(
        Problem(
            event_id=event_id,
            seal_id=None,
            position=event_id,
            message=f"Event #{event_id} was altered: its content no longer matches the hash "
            "PostgreSQL recorded when it was inserted.",
        )
        for event_id in edited
    )

    previous_digest, expected_first = GENESIS, 1
    seals = list(Seal.objects.order_by("first_event_id"))
    for seal in seals:
        problems.extend(_verify_seal(seal, previous_digest, expected_first))
        previous_digest, expected_first = bytes(seal.digest), seal.last_event_id + 1
    problems.sort(key=lambda p: p.position)
    return problems, event_count, len(seals)


def _verify_seal(seal: Seal, previous_digest: bytes, expected_first: int) -> list[Problem]:
    where = f"Seal #{seal.pk} (events {seal.first_event_id}-{seal.last_event_id})"
    problems = []

    def problem(position: int, message: str, event_id: int | None = None) -> None:
        problems.append(Problem(event_id, seal.pk, message, position))

    if seal.first_event_id != expected_first:
        problem(
            expected_first,
            f"{where} does not follow the previous seal, which ends at event "
            f"{expected_first - 1}: a seal was removed.",
        )
    if bytes(seal.previous_digest) != previous_digest:
        problem(
            seal.first_event_id,
            f"{where} is not chained to the seal before it: the seal chain was altered.",
        )
    computed = range_digest(seal.first_event_id, seal.last_event_id, bytes(seal.previous_digest))
    expected_ids = set(range(seal.first_event_id, seal.last_event_id + 1)) - set(seal.gaps)
    present = set(computed.ids)
    for i in sorted(expected_ids - present):
        problem(i, f"Event #{i} is missing: it was sealed by {where} and deleted since.", i)
    for i in sorted(present - expected_ids):
        problem(i, f"Event #{i} was inserted into the range of {where} after it was sealed.", i)
    if not problems and computed.digest != bytes(seal.digest):
        problem(
            seal.last_event_id,
            f"{where} does not match its events: events were reordered or re-hashed.",
        )
    return problems
