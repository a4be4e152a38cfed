"""`manage.py ingest_email --account NAME PATH...`: raw messages from files, Maildir
folders or mbox files, through the same pipeline as fetched mail."""

from __future__ import annotations

import itertools
import mailbox
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from email_integration import services
from email_integration.models import EmailAccount, EmailMessageStatus


def raw_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) of each message at ``path``: a Maildir, an mbox or one file."""
    if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in box.iterkeys():
            yield f"{path}:{key}", box.get_bytes(key)
    elif path.is_dir():
        for child in sorted(p for p in path.iterdir() if p.is_file()):
            yield str(child), child.read_bytes()
    elif path.read_bytes()[:5] == b"From ":
        box = mailbox.mbox(path, factory=None, create=False)
        for key in box.iterkeys():
            yield f"{path}:{key}", box.get_bytes(key)
    else:
        yield str(path), path.read_bytes()


def batched(items: Iterable[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class Command(BaseCommand):
    help = "Ingest raw messages from files, Maildir folders or mbox files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--account", required=True, help="Name of the receiving account.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=100,
            help="Messages stored and processed per transaction (default 100).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = EmailAccount.objects.filter(name=options["account"]).first()
        if account is None:
            raise CommandError(f"No account named {options['account']!r}.")
        counts: dict[str, int] = {}
        started = time.monotonic()
        for path in options["paths"]:
            if not path.exists():
                raise CommandError(f"{path} does not exist.")
            for batch in batched(raw_messages(path), max(options["batch_size"], 1)):
                labels, raws = zip(*batch, strict=True)
                done = services.messages_ingest_batch(account=account, raws=list(raws))
                for label, message in zip(labels, done, strict=True):
                    counts[message.status] = counts.get(message.status, 0) + 1
                    if message.status == EmailMessageStatus.FAILED:
                        self.stderr.write(f"{label}: failed: {message.error_reason}")
        total = sum(counts.values())
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        rate = total / elapsed if elapsed else 0
        self.stdout.write(f"{total} messages ({summary}) in {elapsed:.1f} s, {rate:.0f}/s")
        if not total:
            sys.exit(0)
