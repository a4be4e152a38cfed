"""``manage.py backfill_search``: write the search documents of tickets that have none.

    python manage.py backfill_search [--batch-size 2000] [--all] [--sleep 0]

Migration 0015 adds the documents as empty (nullable) columns, so that the deploy does
not rewrite a million-row table under a lock; the running release's writes fill them
for the tickets they touch. This command fills the rest, in short transactions of
``--batch-size`` tickets each (one statement per batch, walking the primary key), so
that it can run during the day, be interrupted and resumed: it only picks tickets
without a document, unless ``--all`` (rewrite every document, after the way documents
are built changed), which walks the ids once from the first. ``--sleep`` pauses
between batches to leave the database room.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from nixflow.search import refresh_documents


class Command(BaseCommand):
    help = "Write the full-text search documents of tickets that have none (batched)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=2000, help="Tickets a batch.")
        parser.add_argument(
            "--all", action="store_true", help="Rewrite every document, not only missing ones."
        )
        parser.add_argument(
            "--sleep", type=float, default=0.0, help="Seconds to pause between batches."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        size = options["batch_size"]
        if size < 1 or options["sleep"] < 0:
            raise CommandError("--batch-size must be positive and --sleep not negative.")
        started = time.monotonic()
        written, after = 0, 0
        while True:
            ids = self.next_batch(after, size, everything=options["all"])
            if not ids:
                break
            with transaction.atomic():
                written += refresh_documents(ids)
            after = ids[-1]
            if options["sleep"]:
                time.sleep(options["sleep"])
        seconds = time.monotonic() - started
        self.stdout.write(f"Wrote the search documents of {written:,} tickets in {seconds:.1f} s.")

    @staticmethod
    def next_batch(after: int, size: int, *, everything: bool) -> list[int]:
        """The next ``size`` ticket ids after ``after`` (missing a document, unless
        ``everything``), along the primary key."""
        missing = "" if everything else "AND search_agent IS NULL"
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM nixflow_ticket WHERE id > %s {missing} "  # noqa: S608 -- constant
                "ORDER BY id LIMIT %s",
                [after, size],
            )
            return [row[0] for row in cursor.fetchall()]
