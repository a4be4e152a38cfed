"""``manage.py deploy_plan``: run it with the NEW release, before ``migrate``.

Lists each pending migration with its stage, its verdict under the running release
(``safe``, ``locks``, ``breaks``), the tables it touches with their estimated rows, and
for each unsafe operation the rule and the fix. Exits 1 when any is unsafe, so a deploy
script can stop there. See ``nixflow.platform.deploy_plan`` and ``docs/deploy.md``.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nixflow.platform.deploy_plan import deploy_plan


class Command(BaseCommand):
    help = "Which pending migrations are safe to apply while the running release serves."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        plan = deploy_plan(options["database"])
        if not plan:
            self.stdout.write("No pending migrations.")
            return
        for item in plan:
            self.stdout.write(item.line())
            for finding in item.unsafe:
                self.stdout.write(
                    f"    {finding.rule}: {finding.message}\n      Fix: {finding.fix}"
                )
        unsafe = [item for item in plan if item.unsafe]
        if unsafe:
            names = ", ".join(f"{i.app}.{i.name}" for i in unsafe)
            raise CommandError(f"Not safe under the running release: {names}.")
