"""``manage.py migrate`` for deploys without downtime (Django's, with three additions).

- ``--pre-deploy`` applies the pending migrations except post-deploy ones (and any that
  depend on one); ``--post-deploy`` applies all of them, once the new release runs
  everywhere. Without either, ``migrate`` applies everything, as Django's does.
  ``nixflow.platform.deploy_stages`` says how a migration is marked post-deploy.
- Every statement runs with ``lock_timeout`` (``--lock-timeout``,
  ``NIXFLOW_MIGRATE_LOCK_TIMEOUT``); a migration that cannot get its lock in time rolls
  back and ``migrate`` retries (``--lock-retries``, ``NIXFLOW_MIGRATE_LOCK_RETRIES``) with
  a doubling pause, then fails naming the session that holds the lock
  (``nixflow.platform.migrate_locks``).
- Everything else -- targets, ``--fake``, ``--plan``, ``--prune``, ``--check`` -- is
  Django's own command, unchanged.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.core.management.commands import migrate as django_migrate
from django.db import OperationalError, connections
from django.db.migrations.executor import MigrationExecutor

from nixflow.platform.deploy_stages import is_post_deploy
from nixflow.platform.migrate_locks import BlockerWatcher, is_lock_timeout, lock_timeout


class Command(django_migrate.Command):
    help = (
        django_migrate.Command.help
        + " With a lock_timeout and retries; --pre-deploy/--post-deploy apply one stage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        stage = parser.add_mutually_exclusive_group()
        stage.add_argument(
            "--pre-deploy",
            action="store_true",
            help="Apply pending migrations except post-deploy ones (before the rollout).",
        )
        stage.add_argument(
            "--post-deploy",
            action="store_true",
            help="Apply every pending migration, post-deploy ones included (after the rollout).",
        )
        parser.add_argument(
            "--lock-timeout",
            default=None,
            help="PostgreSQL lock_timeout for each statement (default: "
            "NIXFLOW_MIGRATE_LOCK_TIMEOUT).",
        )
        parser.add_argument(
            "--lock-retries",
            type=int,
            default=None,
            help="Tries after a lock timeout (default: NIXFLOW_MIGRATE_LOCK_RETRIES).",
        )
        parser.add_argument(
            "--retry-pause", type=float, default=1.0, help="First pause between tries, seconds."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        timeout = options["lock_timeout"] or settings.NIXFLOW_MIGRATE_LOCK_TIMEOUT
        retries = options["lock_retries"]
        retries = settings.NIXFLOW_MIGRATE_LOCK_RETRIES if retries is None else retries
        pause = options["retry_pause"]
        for attempt in range(1, retries + 2):
            watcher = BlockerWatcher(connection)
            try:
                with self._stage(options), lock_timeout(connection, timeout), watcher:
                    super().handle(*args, **options)
                return
            except OperationalError as exc:
                if not is_lock_timeout(exc):
                    raise
                held_by = "; ".join(watcher.blockers) or "a session that ended meanwhile"
                what = (
                    f"A migration could not get its lock within lock_timeout {timeout}: {held_by}."
                )
                if attempt > retries:
                    raise CommandError(
                        f"{what}\nGave up after {attempt} tries; nothing of that migration "
                        "was applied. Ask the holder to commit or roll back (or end it: "
                        "SELECT pg_terminate_backend(<pid>)), then run migrate again."
                    ) from exc
                self.stderr.write(f"{what} Try {attempt} of {retries + 1}; again in {pause:g}s.")
                time.sleep(pause)
                pause *= 2

    @contextmanager
    def _stage(self, options: dict[str, Any]) -> Iterator[None]:
        if not options["pre_deploy"]:
            yield
            return
        held: list[str] = []
        # Django's command builds its executor from this module attribute; a subclass
        # that leaves post-deploy migrations out of the plan is the narrowest hook.
        original = getattr(django_migrate, "MigrationExecutor")  # noqa: B009 (untyped in stubs)
        setattr(django_migrate, "MigrationExecutor", _pre_deploy_executor(held))  # noqa: B010
        try:
            yield
        finally:
            setattr(django_migrate, "MigrationExecutor", original)  # noqa: B010
        if held and options["verbosity"] >= 1:
            self.stdout.write(
                f"Held for `migrate --post-deploy` (after the rollout): {', '.join(held)}."
            )


def _pre_deploy_executor(held: list[str]) -> type[MigrationExecutor]:
    class PreDeployExecutor(MigrationExecutor):
        def migration_plan(self, targets: Any, clean_start: bool = False) -> Any:
            plan = super().migration_plan(targets, clean_start=clean_start)
            if clean_start or any(backwards for _, backwards in plan):
                return plan
            skipped: set[tuple[str, str]] = set()
            kept = []
            for migration, backwards in plan:
                key = (migration.app_label, migration.name)
                parents = {p.key for p in self.loader.graph.node_map[key].parents}
                if is_post_deploy(migration) or parents & skipped:
                    skipped.add(key)
                    continue
                kept.append((migration, backwards))
            held[:] = [f"{app}.{name}" for app, name in sorted(skipped)]
            return kept

    return PreDeployExecutor
