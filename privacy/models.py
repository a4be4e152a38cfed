"""The record of data-subject requests: what was done, when, by whom, how much.

It holds no personal data of the subject by design (the erasure would have to erase its
own record): a request id, the kind, the actor (staff) and counts per source.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class RequestKind(models.TextChoices):
    EXPORT = "export", "Export"
    ERASURE = "erasure", "Erasure"


class PrivacyRequest(models.Model):
    request_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=RequestKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who asked; empty when run from the command line.",
    )
    created = models.DateTimeField(default=timezone.now)
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per source.")
    files = models.PositiveIntegerField(default=0, help_text="Files copied or deleted.")
    legacy_events = models.PositiveIntegerField(
        default=0,
        help_text="Events recorded before per-person encryption that still name the person.",
    )
    # HMAC-SHA256 of the address under SECRET_KEY (privacy.services.person_ref): says
    # "erased before" to a repeated request without keeping the address.
    person_ref = models.CharField(max_length=64, blank=True, db_index=True)
    archive = models.CharField(
        max_length=400, blank=True, help_text="Where the export was stored (storage name)."
    )

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=RequestKind.values), name="privacy_request_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.request_id}"
