"""Each rule of the migration linter, on migrations built here against a small state.

The state holds one existing table (``shop.Order``, as if created by an earlier
migration); a table created earlier in the same migration counts as new and empty.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.postgres.operations import (
    AddConstraintNotValid,
    AddIndexConcurrently,
    ValidateConstraint,
)
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import migrations, models
from django.db.migrations.state import ModelState, ProjectState

from nixflow.platform.migration_lint import ALLOWED, lint_migration, lint_project
from nixflow.platform.migration_ops import DropForgotten, ForgetField, ForgetModel


def existing_state() -> ProjectState:
    state = ProjectState()
    state.add_model(
        ModelState(
            "shop",
            "Order",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("code", models.CharField(max_length=20)),
                ("note", models.CharField(max_length=50, null=True)),
                ("legacy", models.CharField(max_length=20)),
                ("amount", models.IntegerField()),
            ],
        )
    )
    return state


def migration(*operations: Any, atomic: bool = True, post_deploy: bool = False) -> Any:
    class Migration(migrations.Migration):
        pass

    built = Migration("0002_change", "shop")
    built.operations = list(operations)
    built.atomic = atomic
    if post_deploy:
        built.post_deploy = True
    return built


def rules(
    *operations: Any, forgotten: set[tuple[str, str | None]] | None = None, **kw: Any
) -> list[str]:
    found = lint_migration(migration(*operations, **kw), existing_state(), forgotten=forgotten)
    return [f.rule for f in found]


def messages(*operations: Any, **kw: Any) -> str:
    return " | ".join(
        f.message for f in lint_migration(migration(*operations, **kw), existing_state())
    )


# --- ML001: a NOT NULL column the running release does not write ----------------------


def test_adding_a_not_null_column_without_db_default_to_an_existing_table_is_refused() -> None:
    add = migrations.AddField("order", "status", models.CharField(max_length=8, default="new"))
    assert rules(add) == ["ML001"]
    assert "shop_order.status without a db_default" in messages(add)


def test_adding_a_nullable_column_or_one_with_a_db_default_is_safe() -> None:
    assert rules(migrations.AddField("order", "memo", models.TextField(null=True))) == []
    assert rules(migrations.AddField("order", "paid", models.BooleanField(db_default=False))) == []


def test_a_not_null_column_on_a_table_created_in_the_same_migration_is_safe() -> None:
    create = migrations.CreateModel("Invoice", [("id", models.BigAutoField(primary_key=True))])
    add = migrations.AddField("invoice", "number", models.IntegerField())
    assert rules(create, add) == []


# --- ML002: drops -------------------------------------------------------------------


def test_removing_a_field_or_deleting_a_model_is_refused() -> None:
    assert rules(migrations.RemoveField("order", "legacy")) == ["ML002"]
    assert "drops column legacy of shop_order" in messages(
        migrations.RemoveField("order", "legacy")
    )
    assert rules(migrations.DeleteModel("Order")) == ["ML002"]


def test_post_deploy_removal_of_a_nullable_column_is_the_contract_step_and_safe() -> None:
    assert rules(migrations.RemoveField("order", "note"), post_deploy=True) == []
    # NOT NULL without a default: the new release could not insert before the drop.
    assert rules(migrations.RemoveField("order", "legacy"), post_deploy=True) == ["ML002"]


def test_dropping_a_column_needs_an_earlier_migration_that_forgot_it() -> None:
    drop = DropForgotten(table="shop_order", column="note")
    assert rules(drop) == ["ML002"]
    assert rules(drop, forgotten={("shop_order", "note")}) == []
    assert rules(DropForgotten(table="shop_order"), forgotten={("shop_order", None)}) == []


def test_forgetting_a_not_null_column_without_a_default_is_refused() -> None:
    assert rules(ForgetField("order", "note")) == []
    assert rules(ForgetField("order", "legacy")) == ["ML001"]
    assert rules(ForgetModel("Order")) == []


def test_drop_in_raw_sql_is_refused() -> None:
    assert rules(migrations.RunSQL("ALTER TABLE shop_order DROP COLUMN legacy")) == ["ML002"]


# --- ML003: renames -----------------------------------------------------------------


def test_renaming_an_index_is_safe_a_table_is_not() -> None:
    assert rules(migrations.RunSQL(["ALTER INDEX shop_order_code_v2 RENAME TO shop_code"])) == []
    assert rules(migrations.RunSQL("ALTER TABLE shop_order RENAME TO shop_orders")) == ["ML003"]


def test_renaming_a_field_a_model_a_table_or_a_column_is_refused() -> None:
    assert rules(migrations.RenameField("order", "code", "reference")) == ["ML003"]
    assert rules(migrations.RenameModel("Order", "Purchase")) == ["ML003"]
    assert rules(migrations.AlterModelTable("Order", "shop_purchase")) == ["ML003"]
    alter = migrations.AlterField("order", "code", models.CharField(max_length=20, db_column="ref"))
    assert rules(alter) == ["ML003"]


# --- ML004: indexes built in place ---------------------------------------------------


def test_add_index_on_an_existing_table_is_refused_and_concurrently_is_safe() -> None:
    index = models.Index(fields=["code"], name="shop_order_code")
    assert rules(migrations.AddIndex("order", index)) == ["ML004"]
    assert rules(AddIndexConcurrently("order", index), atomic=False) == []


def test_a_field_gaining_an_index_or_an_indexed_new_column_is_refused() -> None:
    indexed = models.CharField(max_length=20, db_index=True)
    assert rules(migrations.AlterField("order", "code", indexed)) == ["ML004"]
    assert rules(
        migrations.AddField("order", "ref", models.CharField(max_length=9, null=True, unique=True))
    ) == ["ML004"]


def test_create_index_sql_without_concurrently_is_refused() -> None:
    assert rules(migrations.RunSQL("CREATE INDEX shop_x ON shop_order (code)")) == ["ML004"]
    assert rules(migrations.RunSQL("CREATE INDEX CONCURRENTLY shop_x ON shop_order (code)")) == []


# --- ML005: constraints validated under a lock ---------------------------------------


def test_add_constraint_on_an_existing_table_is_refused_not_valid_then_validate_is_safe() -> None:
    check = models.CheckConstraint(condition=models.Q(amount__gte=0), name="shop_amount_positive")
    assert rules(migrations.AddConstraint("order", check)) == ["ML005"]
    assert rules(AddConstraintNotValid("order", check)) == []
    assert rules(ValidateConstraint("order", "shop_amount_positive")) == []


# --- ML006: column rewrites ----------------------------------------------------------


def test_changing_a_column_type_or_making_it_not_null_is_refused() -> None:
    assert rules(migrations.AlterField("order", "amount", models.CharField(max_length=9))) == [
        "ML006"
    ]
    assert rules(migrations.AlterField("order", "code", models.CharField(max_length=10))) == [
        "ML006"
    ]
    assert rules(migrations.AlterField("order", "note", models.CharField(max_length=50))) == [
        "ML006"
    ]


def test_widening_a_varchar_or_making_a_column_nullable_is_safe() -> None:
    assert rules(migrations.AlterField("order", "code", models.CharField(max_length=40))) == []
    assert rules(migrations.AlterField("order", "code", models.TextField())) == []
    assert rules(migrations.AlterField("order", "amount", models.IntegerField(null=True))) == []


# --- ML007 ---------------------------------------------------------------------------


def test_concurrent_index_in_an_atomic_migration_is_refused() -> None:
    index = models.Index(fields=["code"], name="shop_order_code")
    assert rules(AddIndexConcurrently("order", index)) == ["ML007"]


# --- SeparateDatabaseAndState ----------------------------------------------------------


def test_only_the_database_half_of_separate_database_and_state_is_linted() -> None:
    # A column made by hand-written SQL that is safe (nullable), told to the state as the
    # model's NOT NULL field: the state half alone would be ML001, but it never runs.
    add_column = migrations.RunSQL("ALTER TABLE shop_order ADD COLUMN flag boolean NULL")
    told = migrations.AddField("order", "flag", models.BooleanField(default=False))
    assert rules(migrations.SeparateDatabaseAndState([add_column], [told])) == []
    # ... while the database half is linted, and the state moves on for what follows.
    unsafe = migrations.RunSQL("ALTER TABLE shop_order DROP COLUMN legacy")
    assert rules(migrations.SeparateDatabaseAndState([unsafe], [])) == ["ML002"]
    moved = migrations.SeparateDatabaseAndState(
        [], [migrations.AddField("order", "flag", models.BooleanField(null=True))]
    )
    index = migrations.AddIndex("order", models.Index(fields=["flag"], name="shop_flag"))
    assert rules(moved, index) == ["ML004"]  # the index, on a column the state now has


# --- the project's own migrations ----------------------------------------------------


def test_the_projects_migrations_pass_with_each_historical_exception_explained() -> None:
    findings = lint_project()
    assert findings, "the allow-list would be dead without historical findings"
    assert [f.line() for f in findings if not f.allowed] == []
    for finding in findings:
        assert len(finding.allowed or "") > 40, finding.line()
    used = {(f.app, f.migration) for f in findings}
    assert set(ALLOWED) == used, "an allow-list entry for a migration that breaks no rule"


def test_lint_migrations_command_exits_non_zero_naming_the_operation_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("nixflow.platform.migration_lint.ALLOWED", {})
    with pytest.raises(CommandError) as refused:
        call_command("lint_migrations")
    assert "sla.0003_daily_tally: ML004 blocking-index" in str(refused.value)
    assert "Fix: Build it with AddIndexConcurrently" in str(refused.value)
