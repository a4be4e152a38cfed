"""`manage.py verify_eventlog`: recompute every row hash and seal; exit 1 naming the first
problem (and listing the others), 0 when the log is intact."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventlog import sealing


class Command(BaseCommand):
    help = "Verify the event log's row hashes and seal chain; exit 1 on any tampering."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seal",
            action="store_true",
            help="Seal the committed events first, so that they are covered too.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["seal"]:
            sealed = sealing.seal_pending()
            self.stdout.write(f"Sealed {len(sealed)} new range(s).")
        problems, events, seals = sealing.verify()
        if problems:
            for problem in problems:
                self.stderr.write(problem.message)
            raise CommandError(
                f"The event log failed verification: {len(problems)} problem(s); "
                f"the first: {problems[0].message}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"Event log intact: {events} events, {seals} seals verified.")
        )
