# Written by hand: the two at-risk indexes carry the ticket (INCLUDE), so that the desk's
# "At risk" reads ticket ids from the indexes alone (at a million tickets its count
# visited some 42,000 clock rows scattered over the table: 420 ms).
#
# Each index is rebuilt under a temporary name, CONCURRENTLY, and takes the old one's
# name once the old one is dropped: the monitor always has an index to claim clocks
# with, no clock write waits for a build, and the names the schema guard checks never
# go missing (an index the models name but the database lacks would make the new
# release refuse to start). Post-deploy because it follows sla 0005, which is; the
# release before this one works with either shape of the indexes.

from django.db import migrations, models

TABLE = "sla_slametric"


def rebuilt(name: str, columns: str, condition: str) -> list[str]:
    return [
        (
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name}_v2 ON {TABLE} ({columns}) "
            f"INCLUDE (ticket_id) WHERE {condition}"
        ),
        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        f"ALTER INDEX {name}_v2 RENAME TO {name}",
    ]


def restored(name: str, columns: str, condition: str) -> list[str]:
    return [
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name}_v1 ON {TABLE} ({columns}) WHERE {condition}",
        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        f"ALTER INDEX {name}_v1 RENAME TO {name}",
    ]


WARNING = ("sla_metric_warning", "warning_at", "status = 'running'")
AT_RISK = ("sla_metric_at_risk", "deadline", "status = 'at_risk'")


class Migration(migrations.Migration):
    atomic = False
    post_deploy = True

    dependencies = [
        ("sla", "0005_backfill_ticket_sla_due"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(rebuilt(*index), restored(*index)) for index in (WARNING, AT_RISK)
            ],
            state_operations=[
                migrations.RemoveIndex(model_name="slametric", name="sla_metric_warning"),
                migrations.RemoveIndex(model_name="slametric", name="sla_metric_at_risk"),
                migrations.AddIndex(
                    model_name="slametric",
                    index=models.Index(
                        condition=models.Q(("status", "running")),
                        fields=["warning_at"],
                        include=["ticket"],
                        name="sla_metric_warning",
                    ),
                ),
                migrations.AddIndex(
                    model_name="slametric",
                    index=models.Index(
                        condition=models.Q(("status", "at_risk")),
                        fields=["deadline"],
                        include=["ticket"],
                        name="sla_metric_at_risk",
                    ),
                ),
            ],
        ),
    ]
