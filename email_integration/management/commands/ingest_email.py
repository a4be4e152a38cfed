"""`manage.py ingest_email --account NAME [--workers N] PATH...`: raw messages from files,
Maildir folders or mbox files, through the same pipeline as fetched mail.

With more than one worker (``--workers``, default: the number of CPUs) the messages go
through three steps:

1. **Store.** The messages are cut into one contiguous slice per worker process and
   each worker stores its slice (``messages_store``, one INSERT per batch). Everything
   is stored before anything is processed, as with fetched mail.
2. **Partition.** Messages that belong together stay together, in one worker: those
   of one conversation (linked by Message-ID, In-Reply-To or References, also through
   other messages), those of one sender, and those naming one ``[NF-n]`` ticket in
   their subject. Keeping a sender in one worker means that their user is created
   once, that their hourly count is taken in order, and that no worker waits on a
   counter row another worker holds. The groups are dealt out largest first, each to
   the least loaded worker.
3. **Process.** Each worker runs its messages through ``messages_process`` in the
   order they were read, one transaction per batch. A reply is processed after the
   message it answers, by the same worker, so it joins that message's ticket.

Workers are forked after the parent closed its database connections, and each opens
its own. A reply naming a ticket only by its ``[NF-n]`` token, from someone other than
the sender who opened it, may be processed by another worker: it joins the ticket if
that was committed before, and opens a ticket of its own otherwise, as it would have
if it had arrived first. With one worker, or when called inside a transaction (whose
rows other processes cannot see: tests, say), everything runs in this process, in the
same order.

A Maildir is read in delivery order (the time in its file names), not in the order
of its directory listing.
"""

from __future__ import annotations

import gc
import mailbox
import multiprocessing
import multiprocessing.util
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections

from email_integration import services
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus
from email_integration.parsing import conversation_keys

MAILDIR_KEY = re.compile(r"(\d+)\.(?:M(\d+))?")


@dataclass(frozen=True)
class Source:
    """Where one message is: a file, or a key in a Maildir or mbox."""

    label: str
    path: str
    kind: str  # "file", "maildir" or "mbox"
    key: str = ""


def _delivery_order(key: str) -> tuple[int, int, int, str]:
    # Maildir names start with the delivery time: "<seconds>.M<microseconds>P<pid>...".
    match = MAILDIR_KEY.match(key)
    if match is None:
        return (1, 0, 0, key)
    return (0, int(match[1]), int(match[2] or 0), key)


def sources(path: Path) -> list[Source]:
    """The messages at ``path``: a Maildir, a directory of files, an mbox or one file."""
    if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
        maildir = mailbox.Maildir(path, factory=None, create=False)
        keys = sorted(maildir.iterkeys(), key=_delivery_order)
        return [Source(f"{path}:{key}", str(path), "maildir", key) for key in keys]
    if path.is_dir():
        return [
            Source(str(child), str(child), "file")
            for child in sorted(p for p in path.iterdir() if p.is_file())
        ]
    with path.open("rb") as file:
        is_mbox = file.read(5) == b"From "
    if is_mbox:
        mbox = mailbox.mbox(path, factory=None, create=False)
        return [Source(f"{path}:{key}", str(path), "mbox", str(key)) for key in mbox.iterkeys()]
    return [Source(str(path), str(path), "file")]


class _Reader:
    """Reads sources, opening each Maildir or mbox once."""

    def __init__(self) -> None:
        self.boxes: dict[str, mailbox.Maildir | mailbox.mbox] = {}

    def read(self, source: Source) -> bytes:
        if source.kind == "file":
            return Path(source.path).read_bytes()
        box = self.boxes.get(source.path)
        if box is None:
            cls = mailbox.Maildir if source.kind == "maildir" else mailbox.mbox
            box = self.boxes[source.path] = cls(source.path, factory=None, create=False)
        key: Any = source.key if source.kind == "maildir" else int(source.key)
        return box.get_bytes(key)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class Stored:
    """What the partition needs to know of a stored message."""

    index: int  # position in the input
    pk: int
    status: str
    reason: str
    keys: frozenset[str]


def store(account_id: int, items: list[tuple[int, Source]], batch_size: int) -> list[Stored]:
    """Step 1, for one slice of the input."""
    account = EmailAccount.objects.get(pk=account_id)
    reader, stored = _Reader(), []
    for batch in chunks(items, batch_size):
        raws = [reader.read(source) for _, source in batch]
        messages = services.messages_store(account=account, raws=raws)
        for (index, _), raw, message in zip(batch, raws, messages, strict=True):
            keys = conversation_keys(raw, subject_token=services.SUBJECT_TOKEN)
            stored.append(
                Stored(index, message.pk, message.status, message.error_reason, frozenset(keys))
            )
    return stored


def process(pks: list[int], batch_size: int) -> tuple[list[tuple[int, str, str]], float]:
    """Step 3, for one worker's share: (pk, status, error reason) of each message, and
    the seconds it took."""
    started, done = time.monotonic(), []
    for batch in chunks(pks, batch_size):
        messages = services.messages_process(messages=[EmailMessage(pk=pk) for pk in batch])
        done += [(m.pk, m.status, m.error_reason) for m in messages]
    return done, time.monotonic() - started


def partition(stored: Sequence[Stored], workers: int) -> list[list[int]]:
    """Step 2: the pks each worker processes, in input order (see the module docstring)."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]  # path halving
            key = parent[key]
        return key

    for message in stored:
        own = f"pk:{message.pk}"
        for key in message.keys:
            parent[root(key)] = root(own)
    groups: dict[str, list[Stored]] = {}
    for message in stored:
        groups.setdefault(root(f"pk:{message.pk}"), []).append(message)
    shares: list[list[Stored]] = [[] for _ in range(workers)]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(shares, key=len).extend(group)
    return [[m.pk for m in sorted(share, key=lambda m: m.index)] for share in shares if share]


def _worker_started() -> None:
    """Runs first in each forked worker."""
    multiprocessing.util.Finalize(None, connections.close_all, exitpriority=10)
    # The ORM allocates containers by the thousand per message, so the default
    # threshold (700) runs a collection every few queries, and each full one walks
    # everything the parent had loaded. Freezing that and collecting less often took
    # about a tenth off a worker's CPU time; reference counting still frees almost
    # everything at once (garbage cycles are rare), so memory stays flat.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _run(pool: Any, function: Any, jobs: list[tuple[Any, ...]]) -> list[Any]:
    if pool is None:
        return [function(*job) for job in jobs]
    return pool.starmap(function, jobs)


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
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="Processes storing and processing in parallel (default: the CPU count).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = EmailAccount.objects.filter(name=options["account"]).first()
        if account is None:
            raise CommandError(f"No account named {options['account']!r}.")
        self.verbose = options["verbosity"] >= 2
        batch_size = max(options["batch_size"], 1)
        started = time.monotonic()
        found: list[Source] = []
        for path in options["paths"]:
            if not path.exists():
                raise CommandError(f"{path} does not exist.")
            found += sources(path)
        workers = max(1, min(options["workers"], -(-len(found) // batch_size)))
        if connection.in_atomic_block:
            workers = 1  # other processes would not see this transaction's rows
        pool = None
        if workers > 1:
            connections.close_all()  # the workers open their own: a connection can't be shared
            pool = multiprocessing.get_context("fork").Pool(workers, _worker_started)
        try:
            stored, done = self._ingest(
                # Keyword arguments one a line: alike in shape to other calls, different fields.
                pool=pool,
                workers=workers,
                account=account,
                found=found,
                batch_size=batch_size,
                started=started,
            )
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        counts: dict[str, int] = {}
        for message in sorted(stored, key=lambda m: m.index):
            status, reason = done.get(message.pk, (message.status, message.reason))
            counts[status] = counts.get(status, 0) + 1
            if status == EmailMessageStatus.FAILED:
                self.stderr.write(f"{found[message.index].label}: failed: {reason}")
        total = sum(counts.values())
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        rate = total / elapsed if elapsed else 0
        self.stdout.write(f"{total} messages ({summary}) in {elapsed:.1f} s, {rate:.0f}/s")
        if not total:
            sys.exit(0)

    def _ingest(
        self,
        *,
        pool: Any,
        workers: int,
        account: EmailAccount,
        found: list[Source],
        batch_size: int,
        started: float,
    ) -> tuple[list[Stored], dict[int, tuple[str, str]]]:
        """Store, partition, process (see the module docstring)."""
        items = list(enumerate(found))
        slices = chunks(items, -(-len(items) // workers) if items else 1)
        jobs = [(account.pk, list(part), batch_size) for part in slices]
        stored = [message for part in _run(pool, store, jobs) for message in part]
        self._say(f"stored in {time.monotonic() - started:.1f} s")
        # Each stored message once (the same message may be in the input twice).
        due = list({m.pk: m for m in stored if m.status == EmailMessageStatus.RECEIVED}.values())
        shares = partition(due, workers) if pool else [[m.pk for m in due]]
        sizes = ", ".join(str(len(share)) for share in shares)
        self._say(f"processing {len(due)} messages in {len(shares)} shares: {sizes}")
        parts = _run(pool, process, [(share, batch_size) for share in shares])
        self._say(f"processed; the shares took {', '.join(f'{s:.1f} s' for _, s in parts)}")
        return stored, {pk: (status, reason) for part, _ in parts for pk, status, reason in part}

    def _say(self, text: str) -> None:
        if self.verbose:
            self.stdout.write(text)
