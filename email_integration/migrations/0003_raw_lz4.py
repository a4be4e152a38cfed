# Hand-written (created with `makemigrations --empty`): Django has no way to declare a
# column's compression. Every inbound message is stored raw before anything else
# happens to it, and PostgreSQL's default compression (pglz) made that store step the
# slowest part of mail intake: measured on the mail benchmark's messages, the server
# spent about 0.7 ms a message trying to compress base64 attachments. lz4 compresses
# mail text about as well at a fraction of the cost. A PostgreSQL built without lz4
# (it is optional) refuses the method; there the column keeps the default, as before.

from django.db import migrations

FORWARD = """
DO $$
BEGIN
    ALTER TABLE email_integration_emailmessage ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'PostgreSQL without lz4: email_integration_emailmessage.raw keeps pglz';
END $$;
"""
BACKWARD = "ALTER TABLE email_integration_emailmessage ALTER COLUMN raw SET COMPRESSION DEFAULT"


class Migration(migrations.Migration):
    dependencies = [
        ("email_integration", "0002_polling_schedule"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, reverse_sql=BACKWARD),
    ]
