# Written by hand: the index of merged tickets (which tickets were merged into this
# one), partial because almost no ticket is merged; built CONCURRENTLY so that no
# ticket write waits for the build during a deploy, hence atomic = False.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nixflow", "0013_ticket_links_presence_version"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("merged_into__isnull", False)),
                fields=["merged_into"],
                name="nf_ticket_merged_into",
            ),
        ),
    ]
