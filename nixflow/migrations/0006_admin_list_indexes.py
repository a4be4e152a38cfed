# The admin's lists at a million tickets: the ticket search finds requesters by first or
# last name (UPPER(col) = UPPER(%s), as iexact runs), and the source filter pages along
# (source, created) instead of walking every ticket by date. Built CONCURRENTLY (no write
# on tickets or users waits for them during a deploy), which PostgreSQL refuses inside a
# transaction, hence atomic = False; each operation is one statement.

import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nixflow", "0005_desk_urgency_and_people_search"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="user",
            index=models.Index(
                django.db.models.functions.text.Upper("first_name"),
                name="nixflow_user_first_name_upper",
            ),
        ),
        AddIndexConcurrently(
            model_name="user",
            index=models.Index(
                django.db.models.functions.text.Upper("last_name"),
                name="nixflow_user_last_name_upper",
            ),
        ),
        AddIndexConcurrently(
            model_name="ticket",
            index=models.Index(fields=["source", "-created"], name="nf_ticket_source_created"),
        ),
    ]
