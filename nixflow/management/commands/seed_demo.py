"""``manage.py seed_demo``: a believable desk to click through on first run.

Idempotent: users that exist are left alone (their passwords too). All demo users share
one generated password, kept in ``var/demo-password`` so that ``make run`` can print
it again on every start. Refuses to run in production.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from nixflow.models import Role, User
from nixflow.services import user_create

DEMO_USERS = [
    ("admin", "admin@nixflow.example", Role.ADMIN, "Ada", "Admin"),
    ("alice", "alice@nixflow.example", Role.AGENT, "Alice", "Agent"),
    ("bob", "bob@nixflow.example", Role.AGENT, "Bob", "Builder"),
    ("carol", "carol@customer.example", Role.REQUESTER, "Carol", "Customer"),
    ("dave", "dave@customer.example", Role.REQUESTER, "Dave", "Davis"),
]


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
    help = "Load demo data (users; later issues add workflows, tickets, articles, forms)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the web server listens, for the printed links.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates users with a shared password; not in production.")
        password = demo_password(settings.VAR_DIR)
        created = []
        for username, email, role, first, last in DEMO_USERS:
            if not User.objects.filter(username=username).exists():
                user_create(
                    username=username,
                    email=email,
                    role=role,
                    password=password,
                    first_name=first,
                    last_name=last,
                )
                created.append(username)
        admin_token, _ = Token.objects.get_or_create(user=User.objects.get(username="admin"))
        base = options["base_url"].rstrip("/")
        self.stdout.write(f"Demo users created: {', '.join(created) or 'none (already there)'}")
        self.stdout.write(self.style.SUCCESS(f"Admin:    {base}/admin/"))
        self.stdout.write(self.style.SUCCESS(f"Login:    admin / {password}"))
        self.stdout.write(f"Also:     {', '.join(u[0] for u in DEMO_USERS[1:])} (same password)")
        self.stdout.write(f"API docs: {base}/api/docs/  (Authorization: Token {admin_token.key})")
