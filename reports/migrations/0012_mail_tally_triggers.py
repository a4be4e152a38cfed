# Hand-written (created with `makemigrations --empty`), as 0002: triggers.
#
# The Mail health report counts the messages received per day and per account by their
# state now. From the messages that is every message of the range (hundreds of
# thousands a quarter on a large desk); reports_maildaytally holds the same counts per
# desk day, account, type and state.
#
# Row triggers, as the ticket tally's (not statement triggers with transition tables as
# 0008 and 0010): a message row holds the raw mail, and an UPDATE statement's transition
# tables would copy every updated message while the intake changes states; a row
# trigger fires only when a counted column changed (WHEN) and reads four columns.
#
# Days are cut in reports_tallyzone's zone. CREATE TRIGGER locks writers out until this
# migration commits, so the backfill misses none.

from django.db import migrations

FORWARD = """
CREATE FUNCTION reports_mail_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO reports_maildaytally (day, account_id, message_type, status, messages)
        VALUES ((OLD.received_at AT TIME ZONE reports_tally_zone())::date, OLD.account_id,
                OLD.message_type, OLD.status, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO reports_maildaytally (day, account_id, message_type, status, messages)
        VALUES ((NEW.received_at AT TIME ZONE reports_tally_zone())::date, NEW.account_id,
                NEW.message_type, NEW.status, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_mail_recount() RETURNS void LANGUAGE sql AS $$
    DELETE FROM reports_maildaytally;
    INSERT INTO reports_maildaytally (day, account_id, message_type, status, messages)
    SELECT (received_at AT TIME ZONE reports_tally_zone())::date, account_id, message_type,
           status, count(*)
    FROM email_integration_emailmessage
    GROUP BY 1, 2, 3, 4;
$$;

CREATE FUNCTION reports_mail_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM reports_maildaytally;
    RETURN NULL;
END
$$;

CREATE TRIGGER reports_mail_insert AFTER INSERT ON email_integration_emailmessage
    FOR EACH ROW EXECUTE FUNCTION reports_mail_tally();
CREATE TRIGGER reports_mail_update AFTER UPDATE ON email_integration_emailmessage
    FOR EACH ROW
    WHEN ((OLD.received_at, OLD.account_id, OLD.message_type, OLD.status)
          IS DISTINCT FROM (NEW.received_at, NEW.account_id, NEW.message_type, NEW.status))
    EXECUTE FUNCTION reports_mail_tally();
CREATE TRIGGER reports_mail_delete AFTER DELETE ON email_integration_emailmessage
    FOR EACH ROW EXECUTE FUNCTION reports_mail_tally();
CREATE TRIGGER reports_mail_truncate AFTER TRUNCATE ON email_integration_emailmessage
    FOR EACH STATEMENT EXECUTE FUNCTION reports_mail_truncate();

SELECT reports_mail_recount();
"""

BACKWARD = """
DROP TRIGGER reports_mail_truncate ON email_integration_emailmessage;
DROP TRIGGER reports_mail_delete ON email_integration_emailmessage;
DROP TRIGGER reports_mail_update ON email_integration_emailmessage;
DROP TRIGGER reports_mail_insert ON email_integration_emailmessage;
DROP FUNCTION reports_mail_truncate();
DROP FUNCTION reports_mail_recount();
DROP FUNCTION reports_mail_tally();
DELETE FROM reports_maildaytally;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0011_mail_day_tally"),
        ("reports", "0002_tally_triggers"),
        ("email_integration", "0008_admin_list_indexes"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
