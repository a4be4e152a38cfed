"""Celery tasks of the automation app: thin, they call one function."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from automation.time_rules import time_rules_scan as scan


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def time_rules_scan() -> dict[str, int]:
    """One pass of the time rules (claiming the due tickets; the actions follow through
    the outbox, automation.time_rules.act_on_due); scheduled every minute by django-celery-beat
    (PeriodicTask "Automation time rules", created by migration automation 0002,
    editable in the admin)."""
    result = scan()
    return {"rules": len(result.rules), "due": result.due}
