"""Settings of the several-hosts tests' processes: NixFlow's own (their databases are
clones of the test database, migrated by pytest-django) plus a task that writes a row
each time it runs, so that a test counts how often beat sent it."""

import os

from nixflow.settings import *  # noqa: F403

CELERY_IMPORTS = ["tests.hosts.tasks"]

# The standby beat's retry, short so that the test sees a take-over within seconds.
NIXFLOW_BEAT_LOCK_RETRY_SECONDS = float(os.environ.get("NIXFLOW_BEAT_LOCK_RETRY_SECONDS", "5"))
