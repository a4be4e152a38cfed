"""manage.py erase_person EMAIL [--yes] [--staff]: erase a person's personal data."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.services import person_erase, person_lookup


class Command(BaseCommand):
    help = (
        "Remove or irreversibly anonymize everything the desk holds about a person (by "
        "e-mail address). Tickets keep their shape; the text the person wrote becomes "
        "[erased]. Cannot be undone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--staff",
            action="store_true",
            help="Allow erasing an agent's or admin's account (their work records are anonymized).",
        )

    def handle(self, *args: Any, email: str, yes: bool, staff: bool, **options: Any) -> None:
        try:
            person = person_lookup(email=email, erased_before_ok=True)
            if not yes:
                answer = input(
                    f"Erase everything about {person.email}? This cannot be undone. "
                    "Type the address again to confirm: "
                )
                if answer.strip().lower() != person.email:
                    raise CommandError("Not confirmed; nothing was erased.")
            result = person_erase(email=email, actor=None, include_staff=staff)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        request = result.request
        counts = ", ".join(f"{name} {count}" for name, count in request.counts.items() if count)
        self.stdout.write(
            f"Erased request {request.request_id}: {counts or 'nothing left to change'}; "
            f"{result.files_deleted} files deleted."
        )
        if request.legacy_events:
            self.stdout.write(
                self.style.WARNING(
                    f"{request.legacy_events} events recorded before per-person encryption "
                    "still name this person; the append-only log cannot be rewritten "
                    "(see docs/privacy.md)."
                )
            )
