"""Celery tasks of the reports: thin, they call one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from reports import services


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def reports_tally_compact() -> dict[str, int]:
    """Fold the tally's appended rows; scheduled every five minutes by
    django-celery-beat (PeriodicTask "Reports tally", created by migration reports
    0004, editable in the admin)."""
    result = services.tally_compact()
    return {"folded": result.folded, "kept": result.kept}
