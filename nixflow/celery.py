"""The Celery application ``nixflow`` (``celery -A nixflow worker`` / ``beat``)."""

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nixflow.settings")

app = Celery("nixflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _refuse_worker_on_drift(**kwargs: Any) -> None:
    # Celery's Django fixup runs the system checks and ignores their result, so the
    # worker would happily start and crash on the first task that touches a missing
    # table (the original incident). The guard raises SystemExit, the one exception
    # Celery's signal dispatch does not swallow.
    _refuse_on_drift("Celery worker")


@signals.beat_init.connect
def _refuse_beat_on_drift(**kwargs: Any) -> None:
    # Also guarded by nixflow.platform.beat.GuardedDatabaseScheduler, which runs earlier; this
    # catches beat started with another scheduler (-S).
    _refuse_on_drift("Celery beat")


def _refuse_on_drift(component: str) -> None:
    import django

    django.setup()
    from nixflow.platform import schema_guard

    schema_guard.exit_if_drifted(component)
