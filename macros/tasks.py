"""Celery tasks of the macros app: thin, they call one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from macros import services


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def apply_bulk_chunk(job_id: int, chunk: int, ticket_ids: list[int]) -> dict[str, int]:
    """One chunk of a bulk apply queued by ``services.macro_bulk_enqueue`` (published by
    the outbox relay). Several workers run a job's chunks at once; a chunk delivered
    twice is applied once."""
    outcomes = services.macro_bulk_apply_chunk(job_id=job_id, chunk=chunk, ticket_ids=ticket_ids)
    done = sum(outcome.ok for outcome in outcomes)
    return {"done": done, "failed": len(outcomes) - done}
