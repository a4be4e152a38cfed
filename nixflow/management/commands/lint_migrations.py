"""``manage.py lint_migrations``: are the project's migrations safe under a running release?

Reads migration files only (no database), so it runs in ``make lint`` and CI. Exits 1
naming each unsafe operation, the rule it breaks and how to fix it; migrations on the
allow-list of ``nixflow.platform.migration_lint`` are shown with their reason and pass.
The rules are in that module's docstring and in ``docs/deploy.md``.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nixflow.platform.migration_lint import lint_project


class Command(BaseCommand):
    help = "Check that migrations are safe to apply while the previous release serves."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("app_label", nargs="*", help="Apps to lint (default: the project's).")

    def handle(self, *app_labels: str, **options: Any) -> None:
        findings = lint_project(app_labels=app_labels or None)
        allowed = [f for f in findings if f.allowed]
        refused = [f for f in findings if not f.allowed]
        if options["verbosity"] >= 2:
            for finding in allowed:
                self.stdout.write(f"allowed  {finding.line()}\n         ({finding.allowed})")
        if not refused:
            self.stdout.write(
                f"Migrations are safe under a running release ({len(allowed)} allowed "
                "historical findings)."
            )
            return
        lines = [f"{len(refused)} unsafe migration operation(s):"]
        for finding in refused:
            lines.append(f"  {finding.line()}")
            lines.append(f"    Fix: {finding.fix}")
        lines.append("See docs/deploy.md for the rules and the two-step patterns.")
        raise CommandError("\n".join(lines))
