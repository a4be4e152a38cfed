# Written by hand: the desk's counts of open tickets per assignee (and of unassigned
# ones) read this index alone, where nf_ticket_assignee_created made them visit the
# rows (35-120 ms at a million tickets, under 5 ms with it). Built CONCURRENTLY so that
# no ticket write waits for the build during a deploy, hence atomic = False.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nixflow", "0008_ticket_team_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(fields=["assignee", "stage"], name="nf_ticket_assignee_stage"),
        ),
    ]
