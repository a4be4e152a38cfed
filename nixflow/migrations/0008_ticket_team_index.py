# Written by hand: the index of Ticket.team (0007 adds the column), built CONCURRENTLY so
# that no ticket write waits for the build during a deploy; PostgreSQL refuses
# CONCURRENTLY inside a transaction, hence atomic = False.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nixflow", "0007_teams_routing_tags_views"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(fields=["team", "-created"], name="nf_ticket_team_created"),
        ),
    ]
