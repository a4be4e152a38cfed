"""`manage.py api_legacy_tokens`: who still has a legacy DRF token, and when they last
used it, so that an admin can move them to integration tokens before switching legacy
tokens off (``API_LEGACY_TOKENS = False``). ``--delete USERNAME`` deletes one user's.

Last use is recorded since this desk had integration tokens; DRF itself records none,
so "-" means "not used since then" (or never).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api_tokens import selectors, services
from nixflow.models import User


class Command(BaseCommand):
    help = "List legacy DRF tokens with their last use, or delete one user's."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--delete", metavar="USERNAME", help="Delete this user's token.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["delete"]:
            user = User.objects.filter(username=options["delete"]).first()
            if user is None:
                raise CommandError(f"No user {options['delete']!r}.")
            if not services.legacy_token_delete(actor=None, user=user):
                raise CommandError(f"{user.username} has no legacy token.")
            self.stdout.write(f"Deleted the legacy token of {user.username}.")
            return
        rows = list(selectors.legacy_tokens())
        if not rows:
            self.stdout.write("No legacy tokens.")
            return
        self.stdout.write(f"{'user':<24} {'role':<10} {'created':<17} {'last used':<17} replaced")
        for row in rows:
            last = row["last_used_at"]
            self.stdout.write(
                f"{row['user__username']:<24} {row['user__role']:<10} "
                f"{row['created']:%Y-%m-%d %H:%M} "
                f"{(f'{last:%Y-%m-%d %H:%M}' if last else '-'):<17} "
                f"{'yes' if row['replaced'] else 'no'}"
            )
