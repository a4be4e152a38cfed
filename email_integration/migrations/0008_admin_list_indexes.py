# The admin's mail list at scale: newest first along an index (the list's ordering had
# none), a sender's address found in any case, and words of the subject through a trigram
# index (pg_trgm is installed by nixflow 0002). Built CONCURRENTLY so that mail intake
# never waits for them during a deploy; PostgreSQL refuses that inside a transaction,
# hence atomic = False; each operation is one statement.

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("email_integration", "0007_concurrent_indexes"),
        ("nixflow", "0002_pg_trgm"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="emailmessage",
            index=models.Index(fields=["-received_at", "-id"], name="email_message_received"),
        ),
        AddIndexConcurrently(
            model_name="emailmessage",
            index=models.Index(
                django.db.models.functions.text.Upper("from_address"),
                name="email_message_sender_upper",
            ),
        ),
        AddIndexConcurrently(
            model_name="emailmessage",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("subject"), name="gin_trgm_ops"
                ),
                name="email_message_subject_trgm",
            ),
        ),
    ]
