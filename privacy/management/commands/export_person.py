"""manage.py export_person EMAIL [--output PATH]: everything the desk holds about a person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.services import person_export


class Command(BaseCommand):
    help = (
        "Export everything the desk holds about a person (by e-mail address) as a zip of "
        "JSON documents and files, stored under privacy/exports/ in the file storage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--output", help="Also write the archive to this local path ('-' for stdout)."
        )

    def handle(self, *args: Any, email: str, output: str | None, **options: Any) -> None:
        try:
            result = person_export(email=email, actor=None)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        if output == "-":
            self.stdout.buffer.write(result.content)  # type: ignore[attr-defined]
            return
        if output:
            Path(output).write_bytes(result.content)
        request = result.request
        self.stdout.write(
            f"Exported request {request.request_id}: {sum(request.counts.values())} records, "
            f"{request.files} files; stored as {request.archive}"
            + (f" and written to {output}" if output else "")
        )
