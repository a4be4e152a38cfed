"""``manage.py reports_tally_rebuild``: recount the reports' daily tallies in the zone of
``NIXFLOW_REPORTS_TIME_ZONE`` and the deflections over ``PORTAL_DEFLECTION_WINDOW_MINUTES``,
after either setting changed (until then the reports count rows directly: exact, but
slower on a large desk)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from reports.filters import report_zone
from reports.services import deflection_minutes, tally_rebuild


class Command(BaseCommand):
    help = "Recount the reports' daily ticket tally in the reports' time zone."

    def handle(self, *args: Any, **options: Any) -> None:
        zone = report_zone()
        rows = tally_rebuild(zone=zone)
        self.stdout.write(
            f"Tallies recounted in {zone.key} (deflection window: "
            f"{deflection_minutes()} minutes): {rows} ticket tally rows."
        )
