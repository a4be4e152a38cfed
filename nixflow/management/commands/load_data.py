"""``manage.py load_data --tickets N``: large, realistic data sets for benchmarks, fast.

    python manage.py load_data --tickets 1000000 [--comments-per-ticket 2]
        [--batch-size 50000] [--seed 0] [--days 730] [--no-history] [--no-progress]

It bypasses the services on purpose. They lock, validate and publish one event per
change, which is right for real work and takes tens of milliseconds a ticket: a million
tickets would take most of a day. Benchmarks need the *rows* (tables, indexes and
statistics of a production-sized desk), so this command writes them with PostgreSQL
``COPY ... FROM STDIN`` (psycopg 3's ``cursor.copy`` / ``write_row``), in batches of one
transaction each. Measured on a 2-vCPU VM with the embedded PostgreSQL 18, 50,000 tickets
into a table with all its indexes, without comments: COPY about 13,000 tickets/s,
``bulk_create(batch_size=5000)`` about 4,500 (and the two trigram indexes of the text
search cost COPY half its time: 27,000/s without them; they stay, a benchmark needs
them). With two comments and two history rows per ticket, about 9,000 tickets/s; a
million took 5 to 8 minutes while other test runs kept both CPUs busy (load average 7-10).

What is and isn't generated:

- ``N / 50`` requesters (names from a list, a run-specific ``load-<hex>-`` prefix on
  usernames and e-mails, so runs never collide with each other or with real users), and
  a few agents when the database has no active agent; existing agents are reused.
- Tickets spread over every active workflow (the default one gets three quarters) and
  their stages by category (70 % closed, 12 % resolved, 8 % open, 5 % waiting, 5 % new),
  with realistic priorities, sources, a long tail of busy requesters, and timestamps
  consistent with the stage: ``resolved_at`` iff RESOLVED or CLOSED, ``closed_at`` iff
  CLOSED, ``first_response_at`` for every ticket past NEW and never before ``created``,
  everything in the past, ``updated`` the last of them.
- ``--comments-per-ticket`` comments (default 2): the first public agent comment is at
  ``first_response_at``; the others are requester replies and agent notes, some internal.
- Two history rows per ticket (created; the stage, summarised from the first stage to the
  current one) unless ``--no-history``. Events, watchers and SLA clocks are not
  generated: the event log is append-only and describes real changes.

Ticket numbers come from the table's identity sequence (COPY leaves ``id`` out); the ids
of a batch are read back, in insertion order, for its comments and history. ``ANALYZE``
runs on the touched tables at the end, so the planner knows their new size at once.
"""

from __future__ import annotations

import random
import secrets
import sys
import time
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from nixflow import demo
from nixflow.models import DONE_CATEGORIES, Role, Source, StageCategory, User, Workflow

CATEGORY_SHARE = {
    StageCategory.CLOSED: 70,
    StageCategory.RESOLVED: 12,
    StageCategory.OPEN: 8,
    StageCategory.WAITING: 5,
    StageCategory.NEW: 5,
}
DEFAULT_WORKFLOW_SHARE = 0.75
PRIORITIES = list(demo.PRIORITY_WEIGHTS)
PRIORITY_WEIGHTS = list(demo.PRIORITY_WEIGHTS.values())
SOURCES = [Source.EMAIL, Source.WEB, Source.FORM, Source.API]
SOURCE_WEIGHTS = [45, 30, 15, 10]
HOUR = 3600.0
DAY = 24 * HOUR

TICKET_COLUMNS = (
    "title, description, priority, workflow_id, stage_id, requester_id, assignee_id, "
    "source, created, updated, first_response_at, resolved_at, closed_at"
)
COMMENT_COLUMNS = "ticket_id, author_id, body, is_internal, created"
HISTORY_COLUMNS = "ticket_id, actor_id, field, old_value, new_value, created"
ANALYZED_TABLES = "nixflow_ticket, nixflow_comment, nixflow_historylog, nixflow_user"

AGENT_BODIES = [*demo.ACKNOWLEDGEMENTS, *(i.fix for i in demo.ISSUES)]
NOTE_BODIES = [i.note for i in demo.ISSUES]
REQUESTER_BODIES = [*demo.FOLLOW_UPS, *demo.REQUESTER_ANSWERS, *demo.THANKS]


@dataclass(frozen=True)
class StageOption:
    """Where a generated ticket can be: one stage of one workflow, with its share."""

    workflow_id: int
    stage_id: int
    category: str
    first_stage: str  # the workflow's initial stage, for the history summary
    stage: str
    texts: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class GeneratedTicket:
    row: tuple[Any, ...]
    option: StageOption
    requester_id: int
    assignee_id: int | None
    created: datetime
    first_response_at: datetime | None
    updated: datetime


class Progress:
    """``\\r``-updated line on stderr: count, rate and time left."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.stream = total, stream
        self.started = time.monotonic()
        self.shown = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.stream is None or (not force and now - self.shown < 0.25):
            return
        self.shown = now
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        left = (self.total - done) / rate if rate else 0
        self.stream.write(
            f"\r  {done:>12,} / {self.total:,} tickets  {100 * done / self.total:5.1f} %  "
            f"{rate:,.0f}/s  ETA {left:4.0f} s "
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.stream is not None:
            self.update(self.total, force=True)
            self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = "Bulk-load generated tickets (with comments and history) for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, required=True, help="How many tickets.")
        parser.add_argument(
            "--comments-per-ticket", type=int, default=2, help="Comments per ticket (2)."
        )
        parser.add_argument(
            "--batch-size", type=int, default=50_000, help="Tickets per transaction (50000)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed (0).")
        parser.add_argument(
            "--days", type=int, default=730, help="Tickets were created over this many days."
        )
        parser.add_argument("--no-history", action="store_true", help="Skip history rows.")
        parser.add_argument("--no-progress", action="store_true", help="No progress line.")

    def handle(self, *args: Any, **options: Any) -> None:
        total = options["tickets"]
        if total < 1 or options["batch_size"] < 1 or options["days"] < 1:
            raise CommandError("--tickets, --batch-size and --days must be positive.")
        if options["comments_per_ticket"] < 0:
            raise CommandError("--comments-per-ticket must be 0 or more.")
        started = time.monotonic()
        self.rng = random.Random(options["seed"])  # noqa: S311 -- test data, not secrets
        self.now = timezone.now()
        self.span = options["days"] * DAY
        self.comments_per_ticket = options["comments_per_ticket"]
        self.history = not options["no_history"]
        self.stage_options, self.stage_weights = self.load_stage_options()
        self.prefix = f"load-{secrets.token_hex(3)}"
        self.agents = self.ensure_agents(total)
        self.requesters = self.create_requesters(max(1, total // 50))
        # A long tail: a few requesters write most tickets, as in every real desk.
        self.requester_weights = list(
            _cumulative([1 / (rank + 1) ** 0.7 for rank in range(len(self.requesters))])
        )
        show = not options["no_progress"] and sys.stderr.isatty()
        progress = Progress(total, sys.stderr if show else None)

        counts = {"tickets": 0, "comments": 0, "history": 0}
        while counts["tickets"] < total:
            size = min(options["batch_size"], total - counts["tickets"])
            with transaction.atomic():
                batch = self.copy_tickets(size, progress, counts["tickets"])
                if self.comments_per_ticket or self.history:
                    ids = self.read_back_ids(batch)
                    counts["comments"] += self.copy_comments(batch, ids)
                    counts["history"] += self.copy_history(batch, ids)
            counts["tickets"] += size
            progress.update(counts["tickets"], force=True)
        progress.finish()

        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {ANALYZED_TABLES}")
        seconds = time.monotonic() - started
        self.stdout.write(
            f"Loaded {counts['tickets']:,} tickets, {counts['comments']:,} comments, "
            f"{counts['history']:,} history rows and {len(self.requesters):,} requesters "
            f"({self.prefix}-*) in {seconds:.1f} s: {counts['tickets'] / seconds:,.0f} "
            "tickets/s."
        )

    # --- setup --------------------------------------------------------------------------
    def load_stage_options(self) -> tuple[list[StageOption], list[float]]:
        workflows = list(Workflow.objects.filter(is_active=True).prefetch_related("stages"))
        workflows = [w for w in workflows if w.stages.all()]
        if not workflows:
            raise CommandError("No active workflow with stages; run `manage.py migrate`.")
        default = next((w for w in workflows if w.is_default), workflows[0])
        others = [w for w in workflows if w != default]
        options, weights = [], []
        for workflow in workflows:
            if not others:
                share = 1.0
            elif workflow == default:
                share = DEFAULT_WORKFLOW_SHARE
            else:
                share = (1 - DEFAULT_WORKFLOW_SHARE) / len(others)
            stages = sorted(workflow.stages.all(), key=lambda s: s.position)
            texts = demo.ticket_texts(access=workflow.name == demo.ACCESS_REQUESTS)
            by_category: dict[str, int] = {}
            for stage in stages:
                by_category[stage.category] = by_category.get(stage.category, 0) + 1
            present = sum(CATEGORY_SHARE[StageCategory(c)] for c in by_category)
            for stage in stages:
                category_share = CATEGORY_SHARE[StageCategory(stage.category)] / present
                options.append(
                    StageOption(
                        workflow_id=workflow.pk,
                        stage_id=stage.pk,
                        category=stage.category,
                        first_stage=stages[0].name,
                        stage=stage.name,
                        texts=texts,
                    )
                )
                weights.append(share * category_share / by_category[stage.category])
        return options, list(_cumulative(weights))

    def ensure_agents(self, total: int) -> list[int]:
        agents = list(
            User.objects.filter(role__in=[Role.AGENT, Role.ADMIN], is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if agents:
            return agents
        count = max(5, min(200, total // 5000))
        self.bulk_create_users(count, Role.AGENT)
        return list(
            User.objects.filter(username__startswith=f"{self.prefix}-agent-")
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def create_requesters(self, count: int) -> list[int]:
        self.bulk_create_users(count, Role.REQUESTER)
        return list(
            User.objects.filter(username__startswith=f"{self.prefix}-requester-")
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def bulk_create_users(self, count: int, role: Role) -> None:
        """Users without a usable password (nobody logs in as generated people).

        Usernames and e-mails carry the run's random prefix: unique (the e-mail
        case-insensitively) against every earlier run and every real user.
        """
        kind = "agent" if role == Role.AGENT else "requester"
        joined = self.now - timedelta(seconds=self.span + 30 * DAY)
        unusable = make_password(None)
        users = (
            User(
                username=f"{self.prefix}-{kind}-{n:07d}",
                email=f"{self.prefix}-{kind}-{n:07d}@load.example",
                first_name=self.rng.choice(demo.FIRST_NAMES),
                last_name=self.rng.choice(demo.LAST_NAMES),
                role=role,
                is_staff=role == Role.AGENT,
                password=unusable,
                date_joined=joined,
            )
            for n in range(count)
        )
        User.objects.bulk_create(users, batch_size=5000)

    # --- tickets ------------------------------------------------------------------------
    def generate(self) -> GeneratedTicket:
        rng = self.rng
        option = self.stage_options[_index(rng, self.stage_weights)]
        requester = self.requesters[_index(rng, self.requester_weights)]
        category = option.category
        if category in DONE_CATEGORIES:
            age = rng.random() * self.span
        else:  # what is still in progress is mostly recent
            age = min(rng.expovariate(1 / (7 * DAY)), self.span)
        created = self.now - timedelta(seconds=age)
        response = rng.lognormvariate(0, 1.0) * 2 * HOUR
        work = rng.lognormvariate(0, 1.2) * 20 * HOUR
        closing = (1 + rng.random() * 4) * DAY
        first_response_at = resolved_at = closed_at = None
        assignee: int | None = rng.choice(self.agents)
        if category == StageCategory.NEW:
            if rng.random() < 0.8:
                assignee = None
            updated = created + timedelta(seconds=age * rng.random() * 0.5)
        elif category in {StageCategory.OPEN, StageCategory.WAITING}:
            response = min(response, age * 0.5)
            first_response_at = created + timedelta(seconds=response)
            updated = first_response_at + timedelta(seconds=(age - response) * rng.random())
        else:
            needed = response + work + (closing if category == StageCategory.CLOSED else 0)
            scale = min(1.0, age * 0.95 / needed)
            first_response_at = created + timedelta(seconds=response * scale)
            resolved_at = first_response_at + timedelta(seconds=work * scale)
            updated = resolved_at
            if category == StageCategory.CLOSED:
                closed_at = updated = resolved_at + timedelta(seconds=closing * scale)
        title, description = option.texts[int(rng.random() * len(option.texts))]
        row = (
            title,
            description,
            PRIORITIES[_index(rng, _PRIORITY_CUMULATIVE)],
            option.workflow_id,
            option.stage_id,
            requester,
            assignee,
            SOURCES[_index(rng, _SOURCE_CUMULATIVE)],
            created,
            updated,
            first_response_at,
            resolved_at,
            closed_at,
        )
        return GeneratedTicket(
            row, option, requester, assignee, created, first_response_at, updated
        )

    def copy_tickets(self, size: int, progress: Progress, done: int) -> list[GeneratedTicket]:
        batch = []
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY nixflow_ticket ({TICKET_COLUMNS}) FROM STDIN") as copy,
        ):
            for n in range(size):
                ticket = self.generate()
                copy.write_row(ticket.row)
                batch.append(ticket)
                if n % 5000 == 0:
                    progress.update(done + n)
        return batch

    def read_back_ids(self, batch: list[GeneratedTicket]) -> list[int]:
        """The batch's ticket ids, in the order COPY inserted them.

        The identity sequence numbers rows in the order COPY reads them, so our rows are
        the newest with our (run-specific) requesters; other writers at the same time
        can't interleave into this list.
        """
        requesters = sorted({t.requester_id for t in batch})
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM nixflow_ticket WHERE requester_id = ANY(%s) "
                "ORDER BY id DESC LIMIT %s",
                [requesters, len(batch)],
            )
            ids = [row[0] for row in cursor.fetchall()]
        ids.reverse()
        if len(ids) != len(batch):
            raise CommandError(f"Read back {len(ids)} ticket ids for a batch of {len(batch)}.")
        return ids

    def copy_comments(self, batch: list[GeneratedTicket], ids: list[int]) -> int:
        if not self.comments_per_ticket:
            return 0
        rng, count = self.rng, 0
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY nixflow_comment ({COMMENT_COLUMNS}) FROM STDIN") as copy,
        ):
            for ticket, ticket_id in zip(batch, ids, strict=True):
                agent = ticket.assignee_id or rng.choice(self.agents)
                start = ticket.first_response_at or ticket.created
                span = (ticket.updated - start).total_seconds()
                offsets = sorted(rng.random() * span for _ in range(self.comments_per_ticket))
                for n, offset in enumerate(offsets):
                    at = start + timedelta(seconds=offset)
                    copy.write_row(self.comment_row(ticket, ticket_id, n, at, agent))
                    count += 1
        return count

    def comment_row(
        self, ticket: GeneratedTicket, ticket_id: int, n: int, at: datetime, agent: int
    ) -> tuple[Any, ...]:
        rng = self.rng
        if n == 0 and ticket.first_response_at is not None:
            # The first public agent comment is the first response.
            body = rng.choice(AGENT_BODIES)
            return (ticket_id, agent, body, False, ticket.first_response_at)
        if n % 2 == 1 or rng.random() < 0.5:  # the requester writes
            return (ticket_id, ticket.requester_id, rng.choice(REQUESTER_BODIES), False, at)
        # Before the first response an agent writes only internal notes.
        internal = ticket.first_response_at is None or rng.random() < 0.4
        body = rng.choice(NOTE_BODIES if internal else AGENT_BODIES)
        return (ticket_id, agent, body, internal, at)

    def copy_history(self, batch: list[GeneratedTicket], ids: list[int]) -> int:
        if not self.history:
            return 0
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY nixflow_historylog ({HISTORY_COLUMNS}) FROM STDIN") as copy,
        ):
            for ticket, ticket_id in zip(batch, ids, strict=True):
                option = ticket.option
                copy.write_row((ticket_id, None, "ticket", "", "created", ticket.created))
                if option.stage == option.first_stage:
                    copy.write_row((ticket_id, None, "stage", "", option.stage, ticket.created))
                else:
                    moved = (option.first_stage, option.stage, ticket.updated)
                    copy.write_row((ticket_id, ticket.assignee_id, "stage", *moved))
        return 2 * len(batch)


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _index(rng: random.Random, cumulative: Sequence[float]) -> int:
    """An index drawn with the given cumulative weights (random.choices, minus overhead)."""
    return min(bisect(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


_PRIORITY_CUMULATIVE = _cumulative(PRIORITY_WEIGHTS)
_SOURCE_CUMULATIVE = _cumulative(SOURCE_WEIGHTS)
