# Hand-written (created with `makemigrations --empty`): triggers and SQL functions are
# beyond what the ORM can declare.
#
# 1. Append-only, enforced by PostgreSQL for every client, not only for Django: UPDATE,
#    DELETE and TRUNCATE on the event log and on its seals raise an error. (Deliveries
#    are bookkeeping, not audit, and are not protected.)
# 2. On INSERT the database, not the writer, sets `recorded_at` (clock_timestamp(), which
#    the sealer relies on: see eventlog/sealing.py) and `row_hash`.
# 3. eventlog_row_hash(row) is the one definition of an event's hash, used by the insert
#    trigger and by `manage.py verify_eventlog`. It hashes a jsonb array whose text form
#    PostgreSQL spells the same way every time; times enter as epoch microseconds so the
#    session's TimeZone cannot change the result. A column added to the event log must be
#    added here, in a new migration that also re-verifies the log.

from django.db import migrations

TABLES = ["eventlog_eventlog", "eventlog_seal"]

ROW_HASH = """
CREATE FUNCTION eventlog_row_hash(e eventlog_eventlog) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to(jsonb_build_array(
        e.id,
        e.type,
        (extract(epoch FROM e.occurred_at) * 1000000)::bigint,
        (extract(epoch FROM e.recorded_at) * 1000000)::bigint,
        e.actor_id,
        e.actor_label,
        e.subject_app,
        e.subject_model,
        e.subject_id,
        e.ticket_key,
        e.payload,
        e.correlation_id::text
    )::text, 'UTF8'))
$$;

CREATE FUNCTION eventlog_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.recorded_at := clock_timestamp();
    NEW.row_hash := eventlog_row_hash(NEW);
    RETURN NEW;
END
$$;

CREATE TRIGGER eventlog_stamp BEFORE INSERT ON eventlog_eventlog
    FOR EACH ROW EXECUTE FUNCTION eventlog_stamp();
"""

REFUSE = """
CREATE FUNCTION eventlog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Events are corrected by recording a new event, never by editing.';
END
$$;
""" + "".join(
    f"""
CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION eventlog_refuse_change();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION eventlog_refuse_change();
"""
    for table in TABLES
)

DROP = (
    "".join(
        f"""
DROP TRIGGER {table}_no_update_delete ON {table};
DROP TRIGGER {table}_no_truncate ON {table};
"""
        for table in TABLES
    )
    + """
DROP TRIGGER eventlog_stamp ON eventlog_eventlog;
DROP FUNCTION eventlog_refuse_change();
DROP FUNCTION eventlog_stamp();
DROP FUNCTION eventlog_row_hash(eventlog_eventlog);
"""
)


class Migration(migrations.Migration):
    dependencies = [
        ("eventlog", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(ROW_HASH + REFUSE, reverse_sql=DROP),
    ]
