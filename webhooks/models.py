"""Webhook endpoints and their deliveries.

An ``Endpoint`` is a URL that wants some event types (``event_types``), optionally only
those whose payload matches a filter (``filters``), signed with its own secret. A
``Delivery`` is one event owed to one endpoint: written in the transaction that recorded
the event (``webhooks.receivers``), sent by a worker (``webhooks.delivery``) until the
endpoint answers 2xx or the retry schedule runs out. Its ``webhook_id`` is what the
receiver deduplicates on: it never changes, whatever the number of attempts or manual
redeliveries.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from eventlog.models import EventLog

# Every event type: an endpoint whose event_types hold this wants them all.
ALL_EVENTS = "*"
EXCERPT_CHARS = 1024


def new_webhook_id() -> str:
    """``msg_`` and 32 hex digits: the Standard Webhooks shape of a message id."""
    return f"msg_{uuid.uuid4().hex}"


class Endpoint(models.Model):
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(
        default=list,
        blank=True,
        help_text='Event types it receives: exact ("ticket.created"), a family '
        '("ticket.*") or "*" for all. Empty: only what automation rules send it.',
    )
    filters = models.JSONField(
        default=dict,
        blank=True,
        help_text="Equality filters over the event: {field: value or [values]}; fields are "
        'the payload\'s keys, or "ticket_key" and "actor". Empty: every event of its types.',
    )
    # Fernet token of the "whsec_..." secret (webhooks.crypto); shown once, on creation
    # and on rotation.
    secret_encrypted = models.TextField(editable=False)
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Failed attempts in a row and since when: a success resets both (auto-disable).
    failure_streak = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed, will retry"
    GAVE_UP = "gave_up", "Gave up"


OPEN = (Status.PENDING, Status.FAILED)


class Delivery(models.Model):
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    # No database constraint, as everywhere the append-only log is referenced.
    event = models.ForeignKey(
        EventLog, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    event_type = models.CharField(max_length=100)
    webhook_id = models.CharField(max_length=40, unique=True, default=new_webhook_id)
    # Deliveries of one key reach the endpoint in the order they were written: the
    # ticket's key, or the subject ("app.model:id") of an event about no ticket.
    ordering_key = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker holds the delivery while it sends it; an expired lease (a dead worker) is
    # taken over.
    leased_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # One delivery per (endpoint, event): a repeated signal or a redelivery reuses
            # the row, and so its webhook id.
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhooks_delivery_once"),
        ]
        indexes = [
            # The claim's probe for an older open delivery of the same key; open rows
            # only (delivered ones pile up and are never read by it).
            models.Index(
                fields=["endpoint", "ordering_key", "id"],
                name="webhooks_delivery_open",
                condition=models.Q(status__in=["pending", "failed"]),
            ),
            # The claim's scan: an endpoint's open deliveries, oldest first.
            models.Index(
                fields=["endpoint", "id"],
                name="webhooks_delivery_open_id",
                condition=models.Q(status__in=["pending", "failed"]),
            ),
            # The endpoint's delivery log, newest first.
            models.Index(fields=["endpoint", "-id"], name="webhooks_delivery_log"),
            # The retention's purge: finished deliveries by when they finished (the last
            # attempt, or the creation of one never attempted), oldest first; without it
            # every batch of the purge read the whole table.
            models.Index(
                Coalesce("last_attempt_at", "created"),
                name="webhooks_delivery_finished",
                condition=models.Q(status__in=["delivered", "gave_up"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} {self.event_type} → {self.endpoint_id}"
