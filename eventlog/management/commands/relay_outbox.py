"""`manage.py relay_outbox`: publish committed outbox rows to Celery (see eventlog.outbox).

Runs until SIGTERM or SIGINT, next to the Celery worker; any number may run at once.
``--once`` publishes what is due now and exits (with status 1 when the broker refused).
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventlog import outbox


class Command(BaseCommand):
    help = "Publish the outbox's committed messages to the Celery broker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Publish what is due, exit.")
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="Seconds between passes without a NOTIFY (EVENTLOG_OUTBOX_POLL_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from nixflow.platform.schema_guard import exit_if_drifted

        exit_if_drifted("outbox relay")
        if options["once"]:
            self._once()
            return
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("Outbox relay ready.")
        self.stdout.flush()
        outbox.relay_forever(stop=lambda: stopping, poll=options["poll"])
        self.stdout.write("Outbox relay stopped.")

    def _once(self) -> None:
        total = 0
        while True:
            result = outbox.relay_once()
            total += result.published
            if result.failed:
                raise CommandError(f"Published {total}; the broker refused: {result.error}")
            if not result.more:
                break
        self.stdout.write(f"Published {total} message(s).")
