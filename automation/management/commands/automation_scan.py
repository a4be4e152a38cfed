"""`manage.py automation_scan`: one pass of the time rules, as beat runs it every minute."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from automation.time_rules import time_rules_scan


class Command(BaseCommand):
    help = "Act on the tickets whose time rules have come due (one pass); safe to run any time."

    def handle(self, *args: Any, **options: Any) -> None:
        result = time_rules_scan()
        for scan in result.rules:
            cutoff = scan.cutoff.isoformat() if scan.cutoff else "none (no working time)"
            self.stdout.write(
                f"rule {scan.rule_id}: cutoff {cutoff}, {scan.due} due, "
                f"{scan.not_matched} did not match."
            )
        self.stdout.write(
            f"{len(result.rules)} time rules, {result.due} tickets due: their actions are "
            "queued (the outbox's relay and a worker run them)."
        )
