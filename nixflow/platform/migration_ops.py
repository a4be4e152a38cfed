"""Migration operations for removing a column or a table in two releases.

A release cannot drop a column that the release before it still reads or writes: during
a rolling deploy the old processes keep serving after ``migrate`` has run, and every
query of theirs that names the column fails. So a removal takes two releases:

Release N -- the code stops using it. Make the field nullable (or give it a
``db_default``) if it is not already, then take it out of the model and let the
migration *forget* it without touching the database::

    operations = [
        migrations.AlterField("ticket", "legacy_code", models.CharField(null=True, ...)),
        ForgetField("ticket", "legacy_code"),
    ]

Release N+1 (or later) -- nothing running uses it any more, so drop it, in a post-deploy
migration::

    class Migration(migrations.Migration):
        post_deploy = True
        operations = [DropForgotten(table="nixflow_ticket", column="legacy_code")]

``ForgetModel`` / ``DropForgotten(table=...)`` do the same for a whole table. The
migration linter (``lint_migrations``) refuses ``RemoveField``, ``DeleteModel`` and any
``DropForgotten`` that no earlier migration prepared with ``ForgetField`` /
``ForgetModel``; it also refuses a ``ForgetField`` of a column that is ``NOT NULL``
without a database default, since the release that forgot it could not insert rows.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations import DeleteModel, RemoveField
from django.db.migrations.operations.base import Operation


class ForgetField(RemoveField):
    """Remove a field from the models' state; leave its column in the database."""

    def database_forwards(self, *args: Any, **kwargs: Any) -> None:
        pass

    def database_backwards(self, *args: Any, **kwargs: Any) -> None:
        pass

    def describe(self) -> str:
        return f"Forget field {self.name} on {self.model_name} (the column stays for now)"


class ForgetModel(DeleteModel):
    """Remove a model from the models' state; leave its table in the database."""

    def database_forwards(self, *args: Any, **kwargs: Any) -> None:
        pass

    def database_backwards(self, *args: Any, **kwargs: Any) -> None:
        pass

    def describe(self) -> str:
        return f"Forget model {self.name} (the table stays for now)"


class DropForgotten(Operation):
    """Drop a column (or a table) that an earlier release's migration forgot."""

    reversible = False
    reduces_to_sql = True

    def __init__(self, table: str, column: str | None = None) -> None:
        self.table = table
        self.column = column

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"table": self.table}
        if self.column is not None:
            kwargs["column"] = self.column
        return self.__class__.__name__, [], kwargs

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # the state forgot it already

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        quote = schema_editor.quote_name
        if self.column is None:
            schema_editor.execute(f"DROP TABLE IF EXISTS {quote(self.table)}")
        else:
            schema_editor.execute(
                f"ALTER TABLE {quote(self.table)} DROP COLUMN IF EXISTS {quote(self.column)}"
            )

    def database_backwards(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("A dropped column or table comes back from a backup only.")

    def describe(self) -> str:
        if self.column is None:
            return f"Drop forgotten table {self.table}"
        return f"Drop forgotten column {self.table}.{self.column}"
