# Hand-written (created with `makemigrations --empty`): fills nixflow_ticket.sla_due_at
# (added by nixflow 0005) for the clocks that existed before the SLA app kept it
# (sla.clocks.keep_due, after every ticket event that changes clocks).
#
# Post-deploy: until the rollout is over, processes of the previous release still change
# clocks without keeping sla_due_at. Filled before they are gone, tickets they touched
# afterwards would keep a stale value; filled after, every later change is the new
# release's, which keeps it. Meanwhile the list shows no SLA time for unfilled tickets.
#
# Set-based, in batches of ticket ids, each its own short transaction (atomic = False),
# so no statement holds thousands of ticket rows for long or rewrites the table at once.
# Each batch first locks its tickets: the ticket services change clocks only while
# holding the ticket's row lock, so the UPDATE that follows (a statement with a snapshot
# taken after the lock) computes from clocks no transaction is still changing.
# Re-running it is harmless: rows already right are not written again.

from django.db import migrations, transaction

BATCH = 5000

LOCK = "SELECT id FROM nixflow_ticket WHERE id BETWEEN %(lo)s AND %(hi)s ORDER BY id FOR UPDATE"
# "Due" clocks as sla.clocks.DUE names them: ticking, or breached and still counting.
SET_DUE = """
    UPDATE nixflow_ticket AS t SET sla_due_at = d.due
    FROM (
        SELECT m.ticket_id, min(m.deadline) AS due FROM sla_slametric AS m
        WHERE m.ticket_id BETWEEN %(lo)s AND %(hi)s
          AND m.completed_at IS NULL
          AND (m.status IN ('running', 'at_risk')
               OR (m.status = 'breached' AND m.running_since IS NOT NULL))
        GROUP BY m.ticket_id
    ) AS d
    WHERE t.id = d.ticket_id AND t.sla_due_at IS DISTINCT FROM d.due
"""
CLEAR_DUE = """
    UPDATE nixflow_ticket AS t SET sla_due_at = NULL
    WHERE t.id BETWEEN %(lo)s AND %(hi)s AND t.sla_due_at IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM sla_slametric AS m WHERE m.ticket_id = t.id
          AND m.completed_at IS NULL
          AND (m.status IN ('running', 'at_risk')
               OR (m.status = 'breached' AND m.running_since IS NOT NULL))
      )
"""


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(ticket_id), max(ticket_id) FROM sla_slametric")
        first, last = cursor.fetchone()
    if first is None:
        return
    for lo in range(first, last + 1, BATCH):
        bounds = {"lo": lo, "hi": lo + BATCH - 1}
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(LOCK, bounds)
            cursor.execute(SET_DUE, bounds)
            cursor.execute(CLEAR_DUE, bounds)


class Migration(migrations.Migration):
    atomic = False
    post_deploy = True

    dependencies = [
        ("nixflow", "0005_desk_urgency_and_people_search"),
        ("sla", "0004_daily_tally_triggers"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
