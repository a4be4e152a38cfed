# Hand-written (created with `makemigrations --empty`): a trigger is beyond what the ORM
# can declare.
#
# Each statement that inserts outbox rows sends NOTIFY eventlog_outbox. PostgreSQL
# delivers it when (and only if) the transaction commits, and folds repeats within one
# transaction into one, so the relay (`manage.py relay_outbox`, LISTENing between
# batches) publishes a commit within milliseconds instead of at its next poll. In the
# database rather than in the application, so every writer wakes the relay without an
# extra round trip. See eventlog/outbox.py.

from django.db import migrations

FORWARD = """
CREATE FUNCTION eventlog_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('eventlog_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER eventlog_outbox_notify AFTER INSERT ON eventlog_outboxmessage
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog_outbox_notify();
"""

BACKWARD = """
DROP TRIGGER eventlog_outbox_notify ON eventlog_outboxmessage;
DROP FUNCTION eventlog_outbox_notify();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("eventlog", "0004_outbox"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, reverse_sql=BACKWARD),
    ]
