"""``manage.py rotate_webhook_secrets``: re-encrypt every endpoint's secret under the
first of ``NIXFLOW_SECRET_KEYS``, the step between putting a new key first and removing
the old one (docs/webhooks.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webhooks import services


class Command(BaseCommand):
    help = "Re-encrypt every webhook endpoint's secret under the first NIXFLOW_SECRET_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        count = services.endpoint_secrets_reencrypt()
        self.stdout.write(f"Re-encrypted {count} webhook secret(s).")
