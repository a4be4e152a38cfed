# The stage_entered_at of existing tickets, then the indexes of custom-field filters and
# of the time rules' scan. Both indexes are built CONCURRENTLY so that no ticket write
# waits for the build during a deploy, hence atomic = False.

from typing import Any

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

BATCH = 20_000

# When each existing ticket entered its stage: its last stage change in the history,
# else its creation.
BACKFILL = """
UPDATE nixflow_ticket t SET stage_entered_at = COALESCE(
    (SELECT max(h.created) FROM nixflow_historylog h
      WHERE h.ticket_id = t.id AND h.field = 'stage' AND h.old_value <> ''),
    t.created
)
WHERE t.id >= %s AND t.id < %s AND t.stage_entered_at IS NULL
"""


def backfill(apps: Any, schema_editor: Any) -> None:
    # In batches of ids, each its own transaction (the migration is not atomic), so that
    # the running release's writes to those tickets never wait long for their row locks.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM nixflow_ticket")
        low, high = cursor.fetchone()
        if low is None:
            return
        for start in range(low, high + 1, BATCH):
            cursor.execute(BACKFILL, [start, start + BATCH])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nixflow", "0018_custom_fields_stage_entered_via"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        AddIndexConcurrently(
            model_name="ticket",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass("custom_fields", name="jsonb_path_ops"),
                name="nf_ticket_custom_fields",
            ),
        ),
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(fields=["stage", "stage_entered_at"], name="nf_ticket_stage_entered"),
        ),
    ]
