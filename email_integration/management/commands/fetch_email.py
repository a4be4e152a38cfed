"""`manage.py fetch_email [--account NAME]`: poll IMAP/POP3 accounts now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from email_integration import fetchers
from email_integration.models import EmailAccount


class Command(BaseCommand):
    help = "Fetch mail from the active IMAP/POP3 accounts (or one) and process it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="Name of one account to poll.")

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = EmailAccount.objects.filter(is_active=True).exclude(protocol="NONE")
        if options["account"]:
            accounts = accounts.filter(name=options["account"])
            if not accounts:
                raise CommandError(f"No active IMAP/POP3 account named {options['account']!r}.")
        failed = False
        for account in accounts:
            try:
                result = fetchers.poll_account(account)
            except Exception as error:  # one unreachable server must not stop the others
                failed = True
                self.stderr.write(f"{account.name}: {type(error).__name__}: {error}")
                continue
            if result is None:
                self.stdout.write(f"{account.name}: busy (another poll is running)")
            else:
                self.stdout.write(
                    f"{account.name}: {result.fetched} fetched, {result.stored} new, "
                    f"{result.failed} failed"
                )
        if failed:
            raise CommandError("Some accounts could not be polled; see above.")
