"""`manage.py sla_scan`: one pass of the SLA monitor (scan, then folding the dashboard's
tally), as beat runs it every minute."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sla import services


class Command(BaseCommand):
    help = "Mark SLA clocks at risk and breached (one monitor pass); safe to run any time."

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.sla_scan()
        tally = services.tally_compact()
        self.stdout.write(
            f"{result.at_risk} at risk, {result.breached} breached; "
            f"{tally.folded} tally rows folded into {tally.kept}."
        )
