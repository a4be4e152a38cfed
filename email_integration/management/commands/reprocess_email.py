"""`manage.py reprocess_email [--id N ...]`: run failed messages through the pipeline."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from email_integration import services
from email_integration.models import EmailMessage, EmailMessageStatus, EmailMessageType


class Command(BaseCommand):
    help = "Reprocess failed inbound messages (all, or the given ids)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", type=int, action="append", dest="ids")

    def handle(self, *args: Any, **options: Any) -> None:
        # Outbound mail that failed is resent (admin action, API), never parsed as inbound.
        inbound = EmailMessage.objects.exclude(message_type=EmailMessageType.OUTBOUND)
        messages = inbound.filter(status=EmailMessageStatus.FAILED)
        if options["ids"]:
            messages = inbound.filter(pk__in=options["ids"])
        done = services.messages_reprocess(messages=list(messages.order_by("id")))
        for message in done:
            self.stdout.write(f"#{message.pk}: {message.status} {message.error_reason}".strip())
