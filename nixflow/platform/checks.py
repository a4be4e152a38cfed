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


# Cache backends that keep their entries in one host's memory or on its disk.
_PER_HOST_CACHES = (
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@checks.register(checks.Tags.caches, deploy=True)
def per_host_cache_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy`` warns when the default cache belongs to one host: the API's
    throttles and the sign-in rate count in it, so with several web hosts each counts
    alone and a client gets the limit once per host. A warning, not an error: one host
    (docker-compose.yml) is a sound deployment, and its file cache is shared by all of
    that host's processes."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend not in _PER_HOST_CACHES:
        return []
    return [
        checks.Warning(
            f"The default cache ({backend.rsplit('.', 1)[-1]}) is kept per host: with "
            "more than one web host, rate limits (API throttles, sign-in attempts per "
            "address) count separately on each.",
            hint="Set CACHE_URL to a cache every host shares (redis://...), or silence "
            "nixflow.W011 when NixFlow runs on one host.",
            id="nixflow.W011",
        )
    ]
