"""Pre- and post-deploy migrations: which migrations wait until a rollout is over.

A deploy without downtime applies a release's migrations in two stages (the
expand/contract discipline, ``docs/deploy.md``):

- **pre-deploy** (the default): everything the new release needs and the old release
  tolerates -- new tables, nullable columns or columns with a database default, indexes
  built concurrently, constraints added ``NOT VALID``. ``migrate --pre-deploy`` runs them
  before the first new process starts.
- **post-deploy**: the contract step, which only the new release tolerates -- dropping
  what the old release still used, validating a constraint the old release might
  violate. A migration says so with a class attribute::

      class Migration(migrations.Migration):
          post_deploy = True

  ``migrate --post-deploy`` runs them once every process runs the new release. Until
  then the schema guard reports them as ``nixflow.W005`` instead of the ``E001`` of an
  ordinary unapplied migration, as long as the live schema has all the code uses.

The marker is a plain attribute rather than a base class so that a migration file stays
loadable by any Django tool; django-syzygy's "stages" are the same idea.
"""

from __future__ import annotations

from typing import Any


def is_post_deploy(migration: Any) -> bool:
    """Whether ``migration`` (a Migration instance or class) is marked post-deploy."""
    return bool(getattr(migration, "post_deploy", False))
