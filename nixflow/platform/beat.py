"""The beat scheduler: django-celery-beat's DatabaseScheduler behind the schema guard.

The scheduler reads its tables while beat starts, before Celery's ``beat_init`` signal
fires, so the guard runs here, ahead of the first query; on a drifted schema beat exits
with the guard's message instead of a "relation does not exist" traceback.
"""

from typing import Any

from django_celery_beat.schedulers import DatabaseScheduler

from nixflow.platform import schema_guard


class GuardedDatabaseScheduler(DatabaseScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        schema_guard.exit_if_drifted("Celery beat")
        super().__init__(*args, **kwargs)
