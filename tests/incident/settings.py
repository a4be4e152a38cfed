"""Settings for replaying the original incident (models without a migration) in a subprocess.

The `incident` app's models hold a Ticket and the SLA models that were added later.
``INCIDENT_MIGRATIONS=v1`` is the release that shipped those models without their
migration; ``v2`` is the fixed release whose 0002 creates the SLA tables.
"""

import os

from nixflow.settings import *  # noqa: F403
from nixflow.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.incident"]
MIGRATION_MODULES = {
    "incident": f"tests.incident.migrations_{os.environ.get('INCIDENT_MIGRATIONS', 'v2')}"
}
