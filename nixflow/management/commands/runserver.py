"""``runserver`` that refuses to start on a drifted schema (the schema guard,
``nixflow.platform.schema_guard``).

The check runs before the autoreloader starts, so a refusal ends the command with a
non-zero exit instead of leaving a reloader waiting for file changes.
"""

from typing import Any

from django.core.management.base import CommandError
from whitenoise.runserver_nostatic.management.commands.runserver import (
    Command as WhitenoiseRunserverCommand,
)

from nixflow.platform.schema_guard import describe, find_problems


class Command(WhitenoiseRunserverCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        problems = find_problems()
        if problems:
            raise CommandError(describe(problems, component="web server"))
        super().handle(*args, **options)
