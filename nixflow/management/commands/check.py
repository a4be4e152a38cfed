"""``manage.py check`` with the schema guard turned on by default.

Django's ``check`` skips database checks unless ``--database`` is given; NixFlow's
checks the default database unless ``--skip-schema`` is given, and fails (exit 1) with
``nixflow.E001``-``E006`` naming each problem and the command that fixes it; the
guard's warnings (``W004`` database ahead but compatible, ``W005`` post-deploy
migrations pending) do not fail it. With ``--deploy`` it also warns about each pending
migration that is unsafe under the running release (``nixflow.W006``; the full plan is
``manage.py deploy_plan``).
"""

from typing import Any

from django.core import checks
from django.core.checks.registry import registry
from django.core.management.base import CommandParser
from django.core.management.commands.check import Command as DjangoCheckCommand
from django.db import DEFAULT_DB_ALIAS

from nixflow.platform.deploy_plan import deploy_plan
from nixflow.platform.schema_guard import schema_check


def pending_migrations_check(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Each pending migration that would lock a busy table or break the running release."""
    messages: list[checks.CheckMessage] = []
    for alias in databases or [DEFAULT_DB_ALIAS]:
        for item in deploy_plan(alias):
            if not item.unsafe:
                continue
            reasons = "; ".join(f"{f.rule} {f.message}" for f in item.unsafe)
            messages.append(
                checks.Warning(
                    f"Pending migration {item.app}.{item.name} ({item.stage}) {item.verdict} "
                    f"the running release: {reasons}. Tables: "
                    + ", ".join(f"{t} ~{n or 0} rows" for t, n in sorted(item.rows.items())),
                    hint="Run `python manage.py deploy_plan` for the fixes, or apply it in a "
                    "maintenance window.",
                    id="nixflow.W006",
                )
            )
    return messages


class Command(DjangoCheckCommand):
    help = DjangoCheckCommand.help + " Includes NixFlow's schema guard (database drift)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--skip-schema",
            action="store_true",
            help="Do not compare the database schema with the code.",
        )

    # django-stubs declares *app_labels as list[str]; each one is a str (an app label).
    def handle(self, *app_labels: str, **options: Any) -> None:  # type: ignore[override]
        if options["skip_schema"]:
            return super().handle(*app_labels, **options)  # type: ignore[arg-type]
        if not options["databases"]:
            options["databases"] = [DEFAULT_DB_ALIAS]
        # Registered for this command only: `migrate` runs the system checks too and
        # must keep working on a drifted database, since it is how drift gets fixed.
        registered = [registry.register(schema_check, checks.Tags.database)]
        if options["deploy"]:
            registered.append(
                registry.register(pending_migrations_check, checks.Tags.database, deploy=True)
            )
        try:
            return super().handle(*app_labels, **options)  # type: ignore[arg-type]
        finally:
            for check in registered:
                registry.registered_checks.discard(check)
                registry.deployment_checks.discard(check)
