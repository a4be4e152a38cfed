"""System checks of NixFlow's own settings (the schema guard has its own module)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility, deploy=True)
def filesystem_broker_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy`` warns when Celery would use the filesystem broker: it works
    only while web, worker and beat run on one host and share ``NIXFLOW_VAR_DIR``. In
    separate containers each would queue into its own folder, and no task would ever
    run, silently (no mail sent, no SLA scan)."""
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return []
    return [
        checks.Warning(
            "CELERY_BROKER_URL is not set: tasks go through the filesystem broker in "
            f"{settings.VAR_DIR / 'broker'}, which only works while web, worker and beat "
            "share that folder on one host.",
            hint="Set CELERY_BROKER_URL (redis://... or amqp://...), or silence "
            "nixflow.W010 when all processes do share the folder.",
            id="nixflow.W010",
        )
    ]
