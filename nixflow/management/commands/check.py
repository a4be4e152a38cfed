"""``manage.py check`` with the schema guard (SPEC section 8) turned on by default.

Django's ``check`` skips database checks unless ``--database`` is given; NixFlow's
checks the default database unless ``--skip-schema`` is given, and fails (exit 1) with
``nixflow.E001``-``E006`` naming each problem and the command that fixes it.
"""

from typing import Any

from django.core import checks
from django.core.checks.registry import registry
from django.core.management.base import CommandParser
from django.core.management.commands.check import Command as DjangoCheckCommand
from django.db import DEFAULT_DB_ALIAS

from nixflow.platform.schema_guard import schema_check


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
        registered = registry.register(schema_check, checks.Tags.database)
        try:
            return super().handle(*app_labels, **options)  # type: ignore[arg-type]
        finally:
            registry.registered_checks.discard(registered)
