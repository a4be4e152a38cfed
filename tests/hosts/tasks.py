"""A periodic task for the single-beat test: each run is one row in ``hosts_beat_tick``,
a table the test creates in its scratch database (no model, no migration)."""

from celery import shared_task
from django.db import connection


@shared_task(name="tests.hosts.tasks.beat_tick")
def beat_tick() -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO hosts_beat_tick DEFAULT VALUES")
