# Written by hand: the index of a team's waiting queue (unassigned tickets by team,
# oldest first; nixflow.services.assignment), built CONCURRENTLY so that no ticket write
# waits for the build during a deploy; PostgreSQL refuses CONCURRENTLY inside a
# transaction, hence atomic = False.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nixflow", "0011_desk_settings"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("assignee__isnull", True)),
                fields=["team", "created"],
                name="nf_ticket_team_waiting",
            ),
        ),
    ]
