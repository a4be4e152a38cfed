"""``manage.py webhooks_purge [--days N]``: delete finished webhook deliveries older than
the retention now, rather than waiting for the hourly purge of ``deliver_due``
(docs/webhooks.md, "Running it")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks import services


class Command(BaseCommand):
    help = (
        "Delete delivered and given-up webhook deliveries older than "
        "WEBHOOKS_DELIVERY_RETENTION_DAYS (or --days)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep this many days instead of WEBHOOKS_DELIVERY_RETENTION_DAYS (0: keep all).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = services.deliveries_purge(days=days)
        self.stdout.write(f"Deleted {deleted} webhook deliveries.")
