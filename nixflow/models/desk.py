"""Desk-wide settings admins control at runtime (not deploy-time settings): one row."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

DESK_SETTINGS_ID = 1


class DeskSettings(models.Model):
    """The desk's settings, a single row (id 1, held by a check constraint). Read it with
    ``DeskSettings.load()``; change it only through ``services.desk_settings_update``,
    which records the change."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=DESK_SETTINGS_ID)
    tags_locked = models.BooleanField(
        default=False,
        help_text="Agents only pick existing tags; only admins add new ones (Tags in the admin).",
    )
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "desk settings"
        verbose_name_plural = "desk settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=DESK_SETTINGS_ID), name="nixflow_desksettings_single_row"
            )
        ]

    def __str__(self) -> str:
        return "Desk settings"

    @classmethod
    def load(cls) -> DeskSettings:
        """The settings as saved, or the defaults (unsaved) before anyone changed them:
        reading never writes."""
        return cls.objects.filter(pk=DESK_SETTINGS_ID).first() or cls(pk=DESK_SETTINGS_ID)
