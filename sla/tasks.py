"""Celery tasks of the SLA app: thin, they call one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from sla import services


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def sla_scan() -> dict[str, int]:
    """One monitor pass, then folding the dashboard's tally; scheduled every minute by
    django-celery-beat (PeriodicTask "SLA monitor", created by migration sla 0002,
    editable in the admin)."""
    result = services.sla_scan()
    tally = services.tally_compact()
    return {"at_risk": result.at_risk, "breached": result.breached, "tally_folded": tally.folded}
