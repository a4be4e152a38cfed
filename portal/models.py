"""What the portal keeps of its own: the requester's attempts to find an answer before
filing a request (deflection). Tickets, comments and watchers are the core's."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class DeflectionAttempt(models.Model):
    """One visit of "New request" where suggested articles were shown.

    The page names the attempt with a random ``token`` (a hidden field) before anything
    is stored; the first suggestions shown create the row, later ones add to ``shown``.
    Opening a suggestion from the page sets ``first_opened_at`` and adds to ``opened``;
    filing the request from the same page sets ``ticket``. An attempt whose requester
    opened a suggestion and filed no request within ``PORTAL_DEFLECTION_WINDOW_MINUTES``
    counts as deflected (``portal.selectors.deflection_counts``).

    Articles are kept as ids, not foreign keys: the portal reads the knowledge base but
    an article deleted later must not take the desk's figures with it.
    """

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deflection_attempts"
    )
    subject = models.CharField(max_length=200)
    shown = ArrayField(models.BigIntegerField(), default=list, blank=True)
    opened = ArrayField(models.BigIntegerField(), default=list, blank=True)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    ticket = models.ForeignKey(
        "nixflow.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # only ever read from the attempt's side
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        # Counting deflections over a period walks the attempts in which a suggestion
        # was opened, by the time it was opened; the others never count.
        indexes = [
            models.Index(
                fields=["first_opened_at"],
                condition=models.Q(first_opened_at__isnull=False),
                name="portal_deflection_opened",
            )
        ]

    def __str__(self) -> str:
        return f"{self.requester} looked for {self.subject!r}"
