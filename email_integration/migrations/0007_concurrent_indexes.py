# Written by hand: the indexes 0004 and 0006 need, built CONCURRENTLY so that no build
# blocks the writes of the release that runs during the deploy. PostgreSQL refuses
# CONCURRENTLY inside a transaction, hence atomic = False; every operation is one
# statement, so none is left half-applied.
#
# - email_outbound_due: the outbound sweeper's partial index (makemigrations put it in
#   0004).
# - email_message_reviewed_by: the index of the reviewed_by foreign key, which 0006 adds
#   with db_index=False.
# - email_sender_hour_verified: Django cannot build a unique constraint concurrently, so
#   RunSQL builds the unique index first and the constraint then takes it over (USING
#   INDEX is a catalog change only); its state_operations tell the migration state that
#   this is the model's UniqueConstraint.
# - email_sender_hour, which it replaces, is dropped last.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

TABLE = "email_integration_sendercount"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("email_integration", "0006_sender_authentication"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="emailmessage",
            index=models.Index(
                condition=models.Q(("status__in", ["queued", "sending"])),
                fields=["next_attempt_at"],
                name="email_outbound_due",
            ),
        ),
        AddIndexConcurrently(
            model_name="emailmessage",
            index=models.Index(fields=["reviewed_by"], name="email_message_reviewed_by"),
        ),
        migrations.RunSQL(
            "CREATE UNIQUE INDEX CONCURRENTLY email_sender_hour_verified "
            f"ON {TABLE} (address, hour, verified)",
            "DROP INDEX CONCURRENTLY IF EXISTS email_sender_hour_verified",
        ),
        migrations.RunSQL(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT email_sender_hour_verified "
            "UNIQUE USING INDEX email_sender_hour_verified",
            f"ALTER TABLE {TABLE} DROP CONSTRAINT email_sender_hour_verified",
            state_operations=[
                migrations.AddConstraint(
                    model_name="sendercount",
                    constraint=models.UniqueConstraint(
                        fields=("address", "hour", "verified"), name="email_sender_hour_verified"
                    ),
                ),
            ],
        ),
        migrations.RemoveConstraint(
            model_name="sendercount",
            name="email_sender_hour",
        ),
    ]
