"""``manage.py seed_demo``: a believable desk to click through on first run.

Creates the demo team (an admin, six agents) and twenty requesters at five customer
companies, a second workflow ("Access requests", with a WAITING stage for the manager's
approval) next to the default "Service desk", and a few hundred tickets spread over the
last 90 days and every stage: most closed, some new, open, waiting or resolved, with
public and internal comments, watchers, history and events. Tickets go through the
services, then get their timestamps moved into the past (see ``nixflow/demo.py``).

Idempotent: users that exist are left alone (their passwords too); the workflow and the
tickets are created only while no demo requester has a ticket, so a second run creates
nothing. Deterministic for a given ``--seed``. All demo users share one generated
password, kept in ``var/demo-password`` so that ``make run`` can print it again on every
start. Refuses to run in production.
"""

from __future__ import annotations

import random
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from nixflow import demo
from nixflow.models import HistoryLog, Role, Ticket, User
from nixflow.services import user_create

DEMO_USERS = demo.DEMO_USERS
ORIGINAL_USERS = 5  # admin, alice, bob, carol, dave: the logins the output names


def demo_password(var_dir: Path) -> str:
    path = var_dir / "demo-password"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return password


class Command(BaseCommand):
    help = "Load demo data: users, a second workflow, and tickets with their history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the web server listens, for the printed links.",
        )
        parser.add_argument(
            "--tickets",
            type=int,
            default=300,
            help="How many demo tickets to create on the first run (default 300; 0: none).",
        )
        parser.add_argument(
            "--seed", type=int, default=1042, help="Random seed; the same seed, the same desk."
        )
        parser.add_argument(
            "--core-only",
            action="store_true",
            help="Only the core's users, workflows and tickets; skip the apps' demo data.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates users with a shared password; not in production.")
        if options["tickets"] < 0:
            raise CommandError("--tickets must be 0 or more.")
        password = demo_password(settings.VAR_DIR)
        created = self.create_users(password)
        admin_token, _ = Token.objects.get_or_create(user=User.objects.get(username="admin"))
        tickets = self.create_tickets(options["tickets"], options["seed"])
        features = [] if options["core_only"] else self.seed_feature_apps(options["seed"])
        # After the tickets and the apps' data: the demo's history is not auto-assigned.
        teams = demo.ensure_demo_teams()

        base = options["base_url"].rstrip("/")
        originals = [u[0] for u in DEMO_USERS[1:ORIGINAL_USERS]]
        more = len(DEMO_USERS) - ORIGINAL_USERS
        self.stdout.write(f"Demo users created: {', '.join(created) or 'none (already there)'}")
        if tickets:
            self.stdout.write(tickets)
        for line in features:
            self.stdout.write(line)
        self.stdout.write(teams)
        self.stdout.write(self.style.SUCCESS(f"Admin:    {base}/admin/"))
        self.stdout.write(self.style.SUCCESS(f"Login:    admin / {password}"))
        self.stdout.write(
            f"Also:     {', '.join(originals)} and {more} more agents and requesters "
            "(same password)"
        )
        self.stdout.write(f"API docs: {base}/api/docs/  (Authorization: Token {admin_token.key})")

    def create_users(self, password: str) -> list[str]:
        existing = set(User.objects.values_list("username", flat=True))
        missing = [u for u in DEMO_USERS if u[0] not in existing]
        if not missing:
            return []
        # One hash for the shared password: PBKDF2 costs a few hundred milliseconds a
        # user by design, and the first `make run` would wait for 27 of them.
        hashed = make_password(password)
        with transaction.atomic():
            for username, email, role, first, last in missing:
                user_create(
                    username=username, email=email, role=role, first_name=first, last_name=last
                )
            names = [u[0] for u in missing]
            # Joined before the oldest demo ticket, which is up to DEMO_DAYS old.
            joined = timezone.now() - timedelta(days=demo.DEMO_DAYS + 30)
            User.objects.filter(username__in=names).update(password=hashed, date_joined=joined)
        return names

    def seed_feature_apps(self, seed: int) -> list[str]:
        """Each app config with a ``seed_demo(*, rng, requesters, agents, admin)`` hook
        adds its own demo data (SLA policies, articles, forms), in INSTALLED_APPS order:
        the core doesn't import feature apps."""
        demo_names = [u[0] for u in DEMO_USERS]
        people = User.objects.filter(username__in=demo_names).order_by("username")
        context = {
            "requesters": [u for u in people if u.role == Role.REQUESTER],
            "agents": [u for u in people if u.role == Role.AGENT],
            "admin": User.objects.get(username="admin"),
        }
        lines = []
        for config in apps.get_app_configs():
            hook = getattr(config, "seed_demo", None)
            if callable(hook):
                lines.append(hook(rng=random.Random(seed), **context))  # noqa: S311
        return lines

    def create_tickets(self, count: int, seed: int) -> str:
        """The second workflow, then the tickets; returns the line to print about them.

        Both only on the first run: a workflow an administrator removed later stays away.
        """
        if count == 0:
            return ""
        if demo.demo_tickets_exist():
            return "Demo tickets created: none (already there)"
        demo.ensure_access_workflow()
        newest_before = Ticket.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        try:
            outcome = demo.build_demo_tickets(count=count, seed=seed)
        except demo.WorkflowsChangedError as error:
            return self.style.WARNING(f"Demo tickets skipped: {error}.")
        align_history_times(Ticket.objects.filter(pk__gt=newest_before))
        by_stage = ", ".join(f"{name} {n}" for name, n in sorted(outcome.items()))
        return f"Demo tickets created: {sum(outcome.values())} ({by_stage})"


# Ticket fields whose history values are times (``nixflow.services.tickets._display``
# records them as ISO text): the services stamp them with the moment of the change.
TIME_FIELDS = ("first_response_at", "resolved_at", "closed_at")


def align_history_times(tickets: Any) -> int:
    """Make the times written inside history rows agree with the backdated rows.

    ``demo.build_demo_tickets`` moves every timestamp of the demo into the past, the
    history rows' ``created`` too, but the values those rows record ("first response:
    <ISO time>") still name the real moment the service ran: a ticket said first
    response 30 Nov while its history said 6 Dec. The services set these fields to the
    moment of the change, which is the row's own ``created``; a value that a later row
    replaces is the one the earlier row set. Returns how many rows were rewritten."""
    rows = list(
        HistoryLog.objects.filter(ticket__in=tickets, field__in=TIME_FIELDS).order_by(
            "ticket_id", "created", "pk"
        )
    )
    last: dict[tuple[int, str], str] = {}
    for row in rows:
        key = (row.ticket_id, row.field)
        if row.old_value:
            row.old_value = last.get(key, row.old_value)
        if row.new_value:
            row.new_value = row.created.isoformat()
        last[key] = row.new_value
    HistoryLog.objects.bulk_update(rows, ["old_value", "new_value"], batch_size=1000)
    return len(rows)
