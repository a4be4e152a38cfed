"""``manage.py load_data --tickets N``: large, realistic data sets for benchmarks, fast.

    python manage.py load_data --tickets 1000000 [--comments-per-ticket 2]
        [--batch-size 50000] [--seed 0] [--days 730] [--no-history]
        [--extras none|all|sla,eventlog,email_integration,knowledge] [--no-progress]

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
Since ``--extras`` and the final VACUUM, measured with PostgreSQL 15 on the same kind of
VM while five other sessions ran tests (load average 7-14 on 2 CPUs), 100,000 tickets
with two comments each: 812 tickets/s with the core's rows only (123 s, VACUUM ANALYZE
included), 441 tickets/s with ``--extras all`` (227 s, adding 200,000 SLA clocks, 31,000
breaches, 395,000 events, 134,000 mail messages and 100,000 KB searches). A million
with ``--extras all`` (2,000,000 comments, history rows and SLA clocks, 315,000 breaches,
3,950,000 events, 1,340,000 mail messages, 1,000,000 KB searches) took 2,555 s, 391
tickets/s, at a load average of 7 to 13, VACUUM ANALYZE included (not profiled further:
on this shared machine the rate follows the neighbours).

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
- The tickets' full-text search documents (``nixflow.search.refresh_documents``, one
  statement a batch, as the services would write them; docs/search.md).
- ``stage_entered_at`` as the services would have set it: ``created`` for a ticket still
  in its first stage, else ``updated`` (when the history says it moved).
- Two history rows per ticket (created; the stage, summarised from the first stage to the
  current one) unless ``--no-history``. Watchers are not generated.
- ``--teams`` teams (5 by default; made, named with the run's prefix, when the desk has
  fewer), each agent a member of one: a ticket belongs to its assignee's team, an
  unassigned one to any. Routing and auto-assignment are not run (no services).
- None to three tags a ticket from a list of 25 (``--no-tags``: none).
- ``--extras``: other apps' rows for the loaded tickets, none by default (the API and
  load benchmarks need only the core's). Each app that has any keeps its loader in its
  own ``<app>/load.py``, found through the app registry (the core imports no feature
  app; the contract is ``nixflow.toolkit.loading``): ``sla`` (clocks in every state,
  breaches, ``Ticket.sla_due_at``), ``eventlog`` (the tickets' events: created, moved,
  commented; hashed by the database like any insert, marked ``"load_run"`` in their
  payload, so ``verify_eventlog`` accepts them), ``email_integration`` (the mail of the
  tickets that came by mail), ``knowledge`` (a KB search per ticket). Each module's
  docstring says what it writes and how much. ``all`` runs every one of them.

Ticket numbers come from the table's identity sequence (COPY leaves ``id`` out); the ids
of a batch are read back, in insertion order, for what hangs off them; comment ids are
drawn from their sequence first, so events and mail can name them. At the end every table
written is ``VACUUM (ANALYZE)``-ed, outside any transaction, so the tables are as a live
server holds them (a freshly COPYed table has no visibility map, which makes every
index-only scan visit the heap, and stale statistics) instead of minutes later when
autovacuum would get there; called inside a transaction (a test), ANALYZE only.
"""

from __future__ import annotations

import random
import secrets
import sys
import time
from bisect import bisect
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module
from types import ModuleType
from typing import Any, TextIO

from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.module_loading import module_has_submodule

from nixflow import demo, events
from nixflow.models import (
    DONE_CATEGORIES,
    Role,
    Source,
    StageCategory,
    Tag,
    Team,
    TeamMembership,
    Ticket,
    User,
    Workflow,
)
from nixflow.search import refresh_documents
from nixflow.toolkit.loading import (
    LoadBatch,
    LoadedComment,
    LoadedEvent,
    LoadedTicket,
    Loader,
    LoadRun,
    reserve_ids,
)

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
    "source, created, updated, first_response_at, resolved_at, closed_at, team_id, "
    "stage_entered_at"
)
# Tags a desk's agents would use; a ticket gets none to three of them.
TAG_NAMES = [
    "vpn", "e-mail", "printer", "hardware", "access", "password", "onboarding", "billing",
    "network", "laptop", "mfa", "calendar", "vip", "outage", "sharepoint", "teams", "erp",
    "crm", "license", "phone", "wifi", "backup", "security", "payroll", "monitor",
]  # fmt: skip
TAGS_PER_TICKET = [0, 0, 1, 1, 1, 2, 3]
COMMENT_COLUMNS = "id, ticket_id, author_id, body, is_internal, created"
HISTORY_COLUMNS = "ticket_id, actor_id, field, old_value, new_value, created"
CORE_TABLES = (
    "nixflow_ticket",
    "nixflow_comment",
    "nixflow_historylog",
    "nixflow_user",
    "nixflow_ticket_tags",
    "nixflow_teammembership",
)

AGENT_BODIES = [*demo.ACKNOWLEDGEMENTS, *(i.fix for i in demo.ISSUES)]
NOTE_BODIES = [i.note for i in demo.ISSUES]
REQUESTER_BODIES = [*demo.FOLLOW_UPS, *demo.REQUESTER_ANSWERS, *demo.THANKS]


@dataclass(frozen=True)
class StageOption:
    """Where a generated ticket can be: one stage of one workflow, with its share."""

    workflow_id: int
    stage_id: int
    category: str
    first_stage: str  # the workflow's initial stage, for the history summary and events
    first_stage_id: int
    first_category: str
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
        parser.add_argument(
            "--teams",
            type=int,
            default=5,
            help="Teams the tickets are spread over (5), made with the agents as members "
            "when the desk has fewer; 0: no teams.",
        )
        parser.add_argument("--no-tags", action="store_true", help="Tag no ticket.")
        parser.add_argument(
            "--extras",
            default="none",
            help="Rows of other apps for the loaded tickets: 'all', 'none' (the default) or "
            f"app labels, comma-separated ({', '.join(sorted(extra_loaders())) or 'none'}).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress line.")

    def handle(self, *args: Any, **options: Any) -> None:
        total = options["tickets"]
        if total < 1 or options["batch_size"] < 1 or options["days"] < 1:
            raise CommandError("--tickets, --batch-size and --days must be positive.")
        if options["comments_per_ticket"] < 0:
            raise CommandError("--comments-per-ticket must be 0 or more.")
        extras = select_extras(options["extras"])
        started = time.monotonic()
        self.rng = random.Random(options["seed"])  # noqa: S311 -- test data, not secrets
        self.now = timezone.now()
        self.span = options["days"] * DAY
        self.comments_per_ticket = options["comments_per_ticket"]
        self.history = not options["no_history"]
        self.stage_options, self.stage_weights = self.load_stage_options()
        self.prefix = f"load-{secrets.token_hex(3)}"
        self.agents = self.ensure_agents(total)
        self.teams, self.team_of = self.ensure_teams(options["teams"])
        self.tags = [] if options["no_tags"] else self.ensure_tags()
        self.requesters = self.create_requesters(max(1, total // 50))
        # A long tail: a few requesters write most tickets, as in every real desk.
        self.requester_weights = list(
            _cumulative([1 / (rank + 1) ** 0.7 for rank in range(len(self.requesters))])
        )
        people = User.objects.filter(pk__in=[*self.agents, *self.requesters])
        self.run = LoadRun(
            rng=self.rng,
            now=self.now,
            span_seconds=self.span,
            prefix=self.prefix,
            agents=self.agents,
            requesters=self.requesters,
            usernames=dict(people.values_list("pk", "username")),
            emails=dict(people.values_list("pk", "email")),
        )
        loaders = {label: module.loader(self.run) for label, module in extras.items()}
        show = not options["no_progress"] and sys.stderr.isatty()
        progress = Progress(total, sys.stderr if show else None)

        counts: Counter[str] = Counter()
        while counts["tickets"] < total:
            size = min(options["batch_size"], total - counts["tickets"])
            with transaction.atomic():
                counts.update(self.load_batch(size, progress, counts["tickets"], loaders))
            progress.update(counts["tickets"], force=True)
        progress.finish()
        for loader in loaders.values():
            with transaction.atomic():
                loader.finish()
        vacuumed = self.vacuum_analyze([*CORE_TABLES, *_tables(loaders.values())])
        seconds = time.monotonic() - started
        extra_counts = ", ".join(
            f"{n:,} {kind}" for kind, n in counts.items() if kind not in CORE_COUNTS
        )
        self.stdout.write(
            f"Loaded {counts['tickets']:,} tickets, {counts['comments']:,} comments, "
            f"{counts['history']:,} history rows and {len(self.requesters):,} requesters "
            f"({self.prefix}-*)" + (f", with {extra_counts}" if extra_counts else "") + ", "
            f"{vacuumed}, in {seconds:.1f} s: {counts['tickets'] / seconds:,.0f} tickets/s."
        )

    def load_batch(
        self, size: int, progress: Progress, done: int, loaders: dict[str, Loader]
    ) -> Counter[str]:
        """One batch in the caller's transaction: tickets, then what hangs off them."""
        counts: Counter[str] = Counter(tickets=size)
        generated = self.copy_tickets(size, progress, done)
        ids = self.read_back_ids(generated)
        tickets = [_loaded(t, ticket_id) for t, ticket_id in zip(generated, ids, strict=True)]
        comments = self.copy_comments(generated, tickets)
        counts["comments"] += len(comments)
        counts["history"] += self.copy_history(generated, ids)
        # The search documents, as the services would have written them (nixflow.search).
        refresh_documents(ids)
        counts["ticket tags"] += self.copy_tags(ids)
        batch = LoadBatch(
            run=self.run,
            tickets=tickets,
            comments=comments,
            events=lambda: self.ticket_events(generated, tickets, comments),
        )
        for loader in loaders.values():
            counts.update(loader.load(batch))
        return counts

    def vacuum_analyze(self, tables: Sequence[str]) -> str:
        """Leave the tables as a live server would have them: a bulk COPY leaves the
        visibility map unset (every index-only scan would visit the heap) and the
        planner's statistics stale, both of which autovacuum fixes only minutes later.
        VACUUM can't run inside a transaction: a caller's transaction gets ANALYZE only."""
        listed = ", ".join(dict.fromkeys(tables))
        with connection.cursor() as cursor:
            if connection.in_atomic_block:
                cursor.execute(f"ANALYZE {listed}")
                return "analyzed (inside a transaction: no VACUUM)"
            cursor.execute(f"VACUUM (ANALYZE) {listed}")
        return "vacuumed and analyzed"

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
                        first_stage_id=stages[0].pk,
                        first_category=stages[0].category,
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

    def ensure_teams(self, wanted: int) -> tuple[list[int], dict[int, int]]:
        """The teams' ids (the desk's first ``wanted``, made up to that number) and
        {agent id: team id}, each agent a member of one, round the teams in turn; a
        ticket goes to its assignee's team, an unassigned one to any."""
        if wanted < 1:
            return [], {}
        teams = list(Team.objects.order_by("pk").values_list("pk", flat=True))
        for n in range(len(teams), wanted):
            teams.append(Team.objects.create(name=f"{self.prefix} team {n + 1}").pk)
        teams = teams[:wanted]
        team_of = dict(
            TeamMembership.objects.filter(user_id__in=self.agents, team_id__in=teams)
            .order_by("pk")
            .values_list("user_id", "team_id")
        )
        joining = [a for a in self.agents if a not in team_of]
        TeamMembership.objects.bulk_create(
            TeamMembership(user_id=agent, team_id=teams[n % len(teams)])
            for n, agent in enumerate(joining)
        )
        team_of.update({agent: teams[n % len(teams)] for n, agent in enumerate(joining)})
        return teams, team_of

    def ensure_tags(self) -> list[int]:
        existing = {name.lower() for name in Tag.objects.values_list("name", flat=True)}
        Tag.objects.bulk_create(Tag(name=n) for n in TAG_NAMES if n not in existing)
        return list(
            Tag.objects.annotate(lowered=Lower("name"))
            .filter(lowered__in=TAG_NAMES)
            .values_list("pk", flat=True)
        )

    def copy_tags(self, ids: list[int]) -> int:
        if not self.tags:
            return 0
        rng, written = self.rng, 0
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy("COPY nixflow_ticket_tags (ticket_id, tag_id) FROM STDIN") as copy,
        ):
            for ticket_id in ids:
                for tag_id in rng.sample(self.tags, rng.choice(TAGS_PER_TICKET)):
                    copy.write_row((ticket_id, tag_id))
                    written += 1
        return written

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
            self.team_for(assignee),
            # When it entered its stage (what time rules measure from): as the history
            # rows say, at creation in the first stage, else at the last change.
            created if option.stage_id == option.first_stage_id else updated,
        )
        return GeneratedTicket(
            row, option, requester, assignee, created, first_response_at, updated
        )

    def team_for(self, assignee: int | None) -> int | None:
        if not self.teams:
            return None
        if assignee is not None and assignee in self.team_of:
            return self.team_of[assignee]
        return self.teams[int(self.rng.random() * len(self.teams))]

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

    def copy_comments(
        self, batch: list[GeneratedTicket], tickets: list[LoadedTicket]
    ) -> list[LoadedComment]:
        if not self.comments_per_ticket:
            return []
        rng = self.rng
        # Ids drawn from the table's sequence up front, so the batch knows them (COPY
        # returns none) for the events that name them, without reading them back.
        ids = iter(reserve_ids("nixflow_comment", len(batch) * self.comments_per_ticket))
        comments = []
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY nixflow_comment ({COMMENT_COLUMNS}) FROM STDIN") as copy,
        ):
            for ticket, loaded in zip(batch, tickets, strict=True):
                agent = ticket.assignee_id or rng.choice(self.agents)
                start = ticket.first_response_at or ticket.created
                span = (ticket.updated - start).total_seconds()
                offsets = sorted(rng.random() * span for _ in range(self.comments_per_ticket))
                for n, offset in enumerate(offsets):
                    at = start + timedelta(seconds=offset)
                    author, body, internal, at = self.comment_row(ticket, n, at, agent)
                    comment = LoadedComment(
                        id=next(ids),
                        ticket=loaded,
                        author_id=author,
                        is_internal=internal,
                        by_agent=author != ticket.requester_id,
                        first_response=n == 0 and ticket.first_response_at is not None,
                        created=at,
                    )
                    copy.write_row((comment.id, loaded.id, author, body, internal, at))
                    comments.append(comment)
        return comments

    def comment_row(
        self, ticket: GeneratedTicket, n: int, at: datetime, agent: int
    ) -> tuple[int, str, bool, datetime]:
        """Author, body, internal and time of the ``n``-th comment."""
        rng = self.rng
        if n == 0 and ticket.first_response_at is not None:
            # The first public agent comment is the first response.
            return (agent, rng.choice(AGENT_BODIES), False, ticket.first_response_at)
        if n % 2 == 1 or rng.random() < 0.5:  # the requester writes
            return (ticket.requester_id, rng.choice(REQUESTER_BODIES), False, at)
        # Before the first response an agent writes only internal notes.
        internal = ticket.first_response_at is None or rng.random() < 0.4
        body = rng.choice(NOTE_BODIES if internal else AGENT_BODIES)
        return (agent, body, internal, at)

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

    def ticket_events(
        self,
        batch: list[GeneratedTicket],
        tickets: list[LoadedTicket],
        comments: list[LoadedComment],
    ) -> Iterator[LoadedEvent]:
        """The core's events of the batch, as its services would have recorded them
        (``nixflow.events``): created, moved to the current stage (as the history says),
        each comment. Each payload also says ``"load_run"``: generated, not lived."""

        def event(
            type: str, ticket: LoadedTicket, at: datetime, actor: int | None, **payload: Any
        ) -> LoadedEvent:
            return LoadedEvent(
                type=type,
                occurred_at=at,
                actor_id=actor,
                subject_app="nixflow",
                subject_model="ticket",
                subject_id=str(ticket.id),
                ticket_key=ticket.key,
                payload={**payload, "load_run": self.prefix},
            )

        for generated, ticket in zip(batch, tickets, strict=True):
            option = generated.option
            yield event(
                events.TICKET_CREATED,
                ticket,
                ticket.created,
                ticket.requester_id,
                stage_id=option.first_stage_id,
                category=option.first_category,
                priority=ticket.priority,
                source=ticket.source,
                changes={},
            )
            if option.stage != option.first_stage:
                yield event(
                    events.TICKET_TRANSITIONED,
                    ticket,
                    ticket.updated,
                    ticket.assignee_id,
                    from_stage_id=option.first_stage_id,
                    to_stage_id=option.stage_id,
                    from_category=option.first_category,
                    to_category=option.category,
                    changes={"stage": [option.first_stage, option.stage]},
                )
        for comment in comments:
            yield event(
                events.TICKET_COMMENTED,
                comment.ticket,
                comment.created,
                comment.author_id,
                comment_id=comment.id,
                is_internal=comment.is_internal,
                by_agent=comment.by_agent,
                first_response=comment.first_response,
                changes={},
            )


CORE_COUNTS = ("tickets", "comments", "history")


def extra_loaders() -> dict[str, ModuleType]:
    """App label -> its ``load`` module, for every installed app that has one with a
    ``loader`` (nixflow.toolkit.loading): found through the app registry, so the core
    names no feature app."""
    found = {}
    for config in apps.get_app_configs():
        if config.module is None or not module_has_submodule(config.module, "load"):
            continue
        module = import_module(f"{config.name}.load")
        if callable(getattr(module, "loader", None)):
            found[config.label] = module
    return found


def select_extras(value: str) -> dict[str, ModuleType]:
    available = extra_loaders()
    names = [name.strip() for name in value.split(",") if name.strip()]
    if names == ["all"]:
        return available
    if names in ([], ["none"]):
        return {}
    unknown = [name for name in names if name not in available]
    if unknown:
        raise CommandError(
            f"--extras: no loader for {', '.join(unknown)}; there are: "
            f"{', '.join(sorted(available)) or 'none'} (or 'all', 'none')."
        )
    return {name: available[name] for name in names}


def _tables(loaders: Iterable[Loader]) -> list[str]:
    return [table for loader in loaders for table in loader.tables]


def _loaded(ticket: GeneratedTicket, ticket_id: int) -> LoadedTicket:
    row, option = ticket.row, ticket.option
    return LoadedTicket(
        id=ticket_id,
        key=Ticket.key_for(ticket_id),
        title=row[0],
        priority=row[2],
        source=row[7],
        workflow_id=option.workflow_id,
        stage_id=option.stage_id,
        category=option.category,
        requester_id=ticket.requester_id,
        assignee_id=ticket.assignee_id,
        created=ticket.created,
        updated=ticket.updated,
        first_response_at=ticket.first_response_at,
        resolved_at=row[11],
        closed_at=row[12],
    )


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
