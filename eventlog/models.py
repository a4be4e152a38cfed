"""The audit trail: events appended in the transaction of the change they describe.

``eventlog`` knows no domain. Other apps describe their changes to it (a type, a subject,
a payload) through ``eventlog.services.event_record``; it stores them, seals them and
hands them to subscribers after commit.

Append-only is enforced by PostgreSQL: triggers (migration 0002) refuse UPDATE, DELETE
and TRUNCATE on ``EventLog`` and ``Seal``. Tamper evidence (``Seal``) catches what a
database owner can still do by disabling the triggers; ``manage.py verify_eventlog``
checks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Now
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    ValuesIterable,
    ValuesListIterable,
)
from django.utils import timezone

from eventlog.personal import ERASED, PersonalJSONField, reveal, reveal_payloads

HASH_BYTES = 32  # SHA-256
# The actor label of an actor who is not staff: their name is personal data, so the log
# holds "person:<user id>" and shows their current name (``EventLog.actor_name``).
PERSON_LABEL_PREFIX = "person:"


class EventLogQuerySet(models.QuerySet["EventLog"]):
    """Rows come back with their personal values decrypted (``eventlog.personal``): the
    keys of everything fetched are loaded in one query, not one per row."""

    def _fetch_all(self) -> None:
        fresh = self._result_cache is None
        super()._fetch_all()
        if fresh and self._result_cache:
            self._reveal(self._result_cache)

    def iterator(self, chunk_size: int | None = None) -> Iterator[Any]:
        batch: list[Any] = []
        size = chunk_size or 2000
        for row in super().iterator(chunk_size=chunk_size):
            batch.append(row)
            if len(batch) >= size:
                self._reveal(batch)
                yield from batch
                batch = []
        self._reveal(batch)
        yield from batch

    def _reveal(self, rows: list[Any]) -> None:
        if not rows:
            return
        iterable = self._iterable_class
        fields: tuple[str, ...] = getattr(self, "_fields", None) or ()
        if issubclass(iterable, ModelIterable):
            reveal(row for row in rows if isinstance(row, EventLog))
        elif issubclass(iterable, ValuesIterable):
            if "payload" in rows[0]:
                payloads = reveal_payloads([row["payload"] for row in rows])
                for row, payload in zip(rows, payloads, strict=True):
                    row["payload"] = payload
        elif issubclass(iterable, FlatValuesListIterable):
            if fields == ("payload",):
                rows[:] = reveal_payloads(rows)
        elif issubclass(iterable, ValuesListIterable) and "payload" in fields:
            at = fields.index("payload")
            payloads = reveal_payloads([row[at] for row in rows])
            rows[:] = [
                (*row[:at], payload, *row[at + 1 :])
                for row, payload in zip(rows, payloads, strict=True)
            ]


class EventLog(models.Model):
    """One domain event: what happened (type), when, by whom, to what, with which details.

    The actor is stored twice: as a key without a database constraint (deleting a user
    must not need to UPDATE the append-only log) and as the label it had at the time.
    PostgreSQL fills two columns itself, in a BEFORE INSERT trigger (migration 0002), so
    no writer can supply them: ``recorded_at`` (the clock when the row was inserted,
    which the sealer relies on, see ``eventlog.sealing``) and ``row_hash``, SHA-256 over
    the row's content as computed by the SQL function ``eventlog_row_hash``. Seals chain
    the row hashes.
    """

    type = models.CharField(max_length=100, help_text="Dotted name, e.g. ticket.created.")
    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, help_text='Username, or "system".')
    subject_app = models.CharField(max_length=100)
    subject_model = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=64)
    ticket_key = models.CharField(max_length=32, blank=True)
    # Personal values inside are stored encrypted under their person's key
    # (eventlog.personal): the row hash covers the ciphertext, which erasure never edits.
    payload = PersonalJSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    correlation_id = models.UUIDField()
    # Both set by the database on insert (see above); the defaults only satisfy NOT NULL.
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    row_hash = models.BinaryField(max_length=HASH_BYTES, default=b"", editable=False)

    objects = EventLogQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = "event"
        # Related access (a delivery's event) and refresh_from_db decrypt too.
        base_manager_name = "objects"
        # Every filter of the API and admin pairs with the id order of cursor pagination.
        indexes = [
            models.Index(fields=["type", "-id"], name="eventlog_type_id"),
            models.Index(
                fields=["subject_app", "subject_model", "subject_id", "-id"],
                name="eventlog_subject_id",
            ),
            models.Index(
                fields=["ticket_key", "-id"],
                name="eventlog_ticket_id",
                condition=~models.Q(ticket_key=""),
            ),
            models.Index(fields=["actor", "-id"], name="eventlog_actor_id"),
            models.Index(fields=["correlation_id"], name="eventlog_correlation"),
            models.Index(fields=["-occurred_at"], name="eventlog_occurred"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(type__regex=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"),
                name="eventlog_type_dotted",
                violation_error_message="Event types are dotted names like ticket.created.",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} {self.subject_model}:{self.subject_id}"

    @property
    def actor_name(self) -> str:
        """Who acted, for people to read: the label, or for a ``person:`` label the
        actor's current username (``ERASED`` once the account is gone). Lists
        ``select_related("actor")`` so that this costs no query per row."""
        if not self.actor_label.startswith(PERSON_LABEL_PREFIX):
            return self.actor_label
        try:
            actor = self.actor
        except ObjectDoesNotExist:  # the account was deleted (no constraint, see above)
            actor = None
        return actor.get_username() if actor is not None else ERASED


class PersonKey(models.Model):
    """One person's key for their personal values in the log (``eventlog.personal``).

    Deleting the row erases every such value for good, without touching an event. Neither
    column names the person: ``person_ref`` is an HMAC of their address, ``key`` the
    random AES-256 key encrypted with ``NIXFLOW_SECRET_KEYS`` (a Fernet token).
    """

    person_ref = models.CharField(max_length=64, unique=True)
    key = models.TextField()
    # Read by rotate_secrets (email_integration), which re-encrypts every such column.
    key.fernet_encrypted = True  # type: ignore[attr-defined]
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name = "person key"

    def __str__(self) -> str:
        return f"Person key #{self.pk}"


class Seal(models.Model):
    """A digest over a range of committed events, chained to the previous seal.

    ``digest = SHA-256(previous digest || row_hash of each event in id order)``. Ids that
    were missing when the range was sealed (sequence values of rolled-back transactions)
    are listed in ``gaps``, so that verification can tell a deleted event from one that
    never existed. Seals are written by one sealer at a time (an advisory lock) and never
    hold writers back: writers only insert events.
    """

    first_event_id = models.BigIntegerField(unique=True)
    last_event_id = models.BigIntegerField(unique=True)
    event_count = models.PositiveIntegerField()
    gaps = models.JSONField(default=list, help_text="Ids in the range that held no event.")
    previous_digest = models.BinaryField(max_length=HASH_BYTES)
    digest = models.BinaryField(max_length=HASH_BYTES)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_event_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(last_event_id__gte=models.F("first_event_id")),
                name="eventlog_seal_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"Seal of events {self.first_event_id}-{self.last_event_id}"


class Delivery(models.Model):
    """An event handed to one subscriber: the record that makes delivery idempotent.

    Written in the transaction of the handler's own writes, so a handler's effects and
    the record that it ran commit together; a redelivered event finds the row and skips.
    """

    event = models.ForeignKey(EventLog, on_delete=models.DO_NOTHING, related_name="deliveries")
    subscriber = models.CharField(max_length=200)
    delivered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="eventlog_delivery_once"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscriber}"


class OutboxMessage(models.Model):
    """A Celery task to publish, written in the transaction that makes it necessary.

    Committed with the change or rolled back with it, so no commit is ever followed by a
    lost message, and no request waits on the broker: ``eventlog.outbox`` explains the
    relay that publishes these rows and why it runs as its own process.
    """

    task = models.CharField(max_length=200, help_text="Registered Celery task name.")
    kwargs = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    # At most one row per key (NULL: no deduplication): "deliver event 7 to subscriber
    # x" is enqueued once however often something asks for it.
    # NULL, not "": the unique constraint lets any number of unkeyed rows be.
    key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    correlation_id = models.UUIDField(null=True, blank=True)
    # The database's clock, like the relay's claim: an application server whose clock
    # runs ahead cannot make a row wait.
    created_at = models.DateTimeField(db_default=Now())
    available_at = models.DateTimeField(db_default=Now())
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "outbox message"
        indexes = [
            # The relay's claim reads this index only, however many published rows wait
            # for their purge.
            models.Index(
                fields=["available_at", "id"],
                name="eventlog_outbox_pending",
                condition=models.Q(published_at__isnull=True),
            ),
            models.Index(
                fields=["published_at"],
                name="eventlog_outbox_published",
                condition=models.Q(published_at__isnull=False),
            ),
        ]
        # A constraint rather than unique=True: no second (LIKE pattern) index to write.
        constraints = [models.UniqueConstraint(fields=["key"], name="eventlog_outbox_key_once")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.task} {self.key or ''}".rstrip()
