"""Does mail intake keep up with a busy desk? Messages per second through `ingest_email`.

    python -m bench.email_ingest [--messages 10000] [--seed 1] [--keep-database]

Writes a Maildir of generated messages (mixed sizes: short notes to long threads with
quoted history; a fifth carry one or two attachments of 5-200 KB; a tenth are replies
to earlier messages, a twentieth auto-replies), migrates a scratch database (on the
server of ``DATABASE_URL``, else the embedded PostgreSQL) and times
``manage.py ingest_email`` over it: store, parse, thread, open tickets or add comments,
store attachments, record events, all as in production. The figure is messages per
second of the whole command (wall clock, Django's start-up included). Beside it, the
CPU time the command used (its worker processes included; PostgreSQL's not) and the
load average before and after: on a shared machine those tell a busy run from a slow
pipeline.

Writes ``bench/results/email_ingest.json`` and ``.md``; exits 1 below 100 messages per
second (the issue's target), 2 when the run failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mailbox
import os
import random
import re
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from bench.tickets_api import bench_main, child_env, machine, manage, say

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MIN_RATE = 100.0
WORDS = [
    "printer",
    "network",
    "vpn",
    "password",
    "reset",
    "laptop",
    "screen",
    "slow",
    "crash",
    "error",
    "login",
    "mail",
    "calendar",
    "invoice",
    "access",
    "account",
    "license",
    "update",
    "install",
    "broken",
    "urgent",
    "please",
    "help",
    "server",
    "disk",
    "backup",
    "monitor",
    "keyboard",
    "office",
    "meeting",
    "room",
    "phone",
    "badge",
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def generate(count: int, rng: random.Random) -> list[bytes]:
    """The messages, deterministic for a seed."""
    senders = [f"person{n}@customer{n % 40}.example" for n in range(count // 10 + 1)]
    sent: list[tuple[str, str, str]] = []  # (message id, sender, subject)
    messages = []
    for n in range(count):
        message = EmailMessage()
        roll = rng.random()
        if roll < 0.1 and sent:
            parent_id, sender, subject = rng.choice(sent)
            message["In-Reply-To"] = parent_id
            message["References"] = parent_id
            subject = f"Re: {subject}"
        else:
            sender, subject = rng.choice(senders), sentence(rng, rng.randint(3, 8))[:-1]
        if 0.1 <= roll < 0.15:
            message["Auto-Submitted"] = "auto-replied"
        message_id = make_msgid(idstring=f"b{n}", domain="bench.example")
        message["From"] = sender
        message["To"] = "help@desk.bench"
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime(2026, 3, 2, tzinfo=UTC))
        message["Message-ID"] = message_id
        paragraphs = [sentence(rng, rng.randint(8, 40)) for _ in range(rng.choice([1, 2, 5, 20]))]
        quoted = "\n".join(f"> {sentence(rng, 12)}" for _ in range(rng.choice([0, 0, 10, 60])))
        message.set_content("\n\n".join(paragraphs) + ("\n\nOn Monday you wrote:\n" + quoted))
        if rng.random() < 0.2:
            for k in range(rng.choice([1, 2])):
                payload = rng.randbytes(rng.randint(5_000, 200_000))
                message.add_attachment(
                    payload, maintype="application", subtype="octet-stream", filename=f"f{k}.bin"
                )
        sent.append((message_id, sender, subject))
        messages.append(message.as_bytes())
    return messages


CREATE_ACCOUNT = """
from email_integration.models import EmailAccount
EmailAccount.objects.create(name="Bench", address="help@desk.bench", protocol="NONE")
"""


def _children_cpu() -> float:
    """User and system CPU seconds of the waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace) -> int:
    from tests.support.processes import create_database, database_url, drop_database, scratch_name

    rng = random.Random(args.seed)  # noqa: S311 -- test data, not secrets
    with contextlib.ExitStack() as cleanup:
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nf-mail-")))
        say(f"== generating {args.messages:,} messages")
        box = mailbox.Maildir(work / "Maildir", create=True)
        raw = generate(args.messages, rng)
        for message in raw:
            box.add(message)
        megabytes = sum(len(m) for m in raw) / 1e6
        database = scratch_name("nixflow_bench_mail")
        create_database(database)
        if not args.keep_database:
            cleanup.callback(drop_database, database)
        env = child_env(database_url(database), work / "var")
        env["EMAIL_SENDER_LIMIT_PER_HOUR"] = str(10 * args.messages)  # a bench, not a loop
        env["MEDIA_ROOT"] = str(work / "media")
        say(f"== migrating {database}")
        manage(["migrate", "--noinput"], env)
        manage(["shell", "-c", CREATE_ACCOUNT], env)
        say("== ingest_email")
        load_before = os.getloadavg()[0]
        cpu_before = _children_cpu()
        started = time.monotonic()
        output = manage(
            ["ingest_email", "--account", "Bench", str(work / "Maildir")], env, timeout=3600
        )
        seconds = time.monotonic() - started
        cpu = _children_cpu() - cpu_before
        load_after = os.getloadavg()[0]
    rate = args.messages / seconds
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "messages": args.messages,
        "megabytes": round(megabytes, 1),
        "seconds": round(seconds, 1),
        "messages_per_second": round(rate, 1),
        "command_cpu_seconds": round(cpu, 1),
        "command_cpu_ms_per_message": round(1000 * cpu / args.messages, 2),
        "load_average_before_after": [round(load_before, 2), round(load_after, 2)],
        "command_output": output.strip().splitlines()[-1],
        "target_messages_per_second": MIN_RATE,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "email_ingest.json").write_text(json.dumps(results, indent=2) + "\n")
    md = (
        "# Mail intake\n\n"
        f"{results['date']}, commit {results['machine'].get('commit', '?')}, "
        f"{results['machine'].get('cpus')} CPUs\n\n"
        "| messages | MB | seconds | messages/s | target |\n|---|---|---|---|---|\n"
        f"| {args.messages:,} | {results['megabytes']} | {results['seconds']} | "
        f"**{results['messages_per_second']}** | >= {MIN_RATE:.0f} |\n\n"
        f"`ingest_email`: {results['command_output']}\n\n"
        f"CPU time of the command (workers included, PostgreSQL not): {cpu:.1f} s, "
        f"{results['command_cpu_ms_per_message']} ms a message; load average "
        f"{load_before:.2f} before, {load_after:.2f} after.\n"
    )
    (args.output / "email_ingest.md").write_text(md)
    say(md)
    match = re.search(r"(\d+) failed", results["command_output"])
    if match and int(match.group(1)):
        say("FAILED: some messages failed to process")
        return 1
    if rate < MIN_RATE:
        say(f"FAILED: {rate:.1f} messages/s is below the target of {MIN_RATE:.0f}")
        return 1
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.email_ingest", description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
