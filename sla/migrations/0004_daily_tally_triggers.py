# Hand-written (created with `makemigrations --empty`): triggers are beyond what the ORM
# can declare.
#
# The SLA dashboard's compliance figures count the clocks completed in the last 7 and
# 30 days. Counting them from sla_slametric reads every such clock (a million on a large
# desk, half a second and more); sla_sladailytally holds the same counts per UTC day,
# policy and metric type, so the dashboard sums a few hundred rows instead.
#
# The database keeps the tally, so no writer can forget it: services, the monitor's
# set-based statements, load_data's COPY, ORM cascades and SQL typed by hand all fire
# these triggers. A clock counts while it is completed (status met or breached, with
# completed_at); each change into or out of that state, or of its day, policy or type,
# appends -1 for the old row and +1 for the new one. Appending never waits on another
# writer (no row is updated in place); sla.services.tally_compact folds the appended rows
# together later. Row triggers with WHEN clauses cost nothing for the statements that
# touch only running clocks (ticket creation, the monitor), the common case.
#
# Migrating backfills the tally from the clocks already completed; CREATE TRIGGER locks
# writers out of sla_slametric until this migration commits, so none is missed.

from django.db import migrations

FORWARD = """
CREATE FUNCTION sla_tally_clock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND OLD.completed_at IS NOT NULL AND OLD.status IN ('met', 'breached') THEN
        INSERT INTO sla_sladailytally (day, policy_id, metric_type, met, breached)
        VALUES ((OLD.completed_at AT TIME ZONE 'UTC')::date, OLD.policy_id, OLD.metric_type,
                -(OLD.status = 'met')::int, -(OLD.status = 'breached')::int);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE')
       AND NEW.completed_at IS NOT NULL AND NEW.status IN ('met', 'breached') THEN
        INSERT INTO sla_sladailytally (day, policy_id, metric_type, met, breached)
        VALUES ((NEW.completed_at AT TIME ZONE 'UTC')::date, NEW.policy_id, NEW.metric_type,
                (NEW.status = 'met')::int, (NEW.status = 'breached')::int);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sla_tally_insert AFTER INSERT ON sla_slametric FOR EACH ROW
    WHEN (NEW.completed_at IS NOT NULL AND NEW.status IN ('met', 'breached'))
    EXECUTE FUNCTION sla_tally_clock();
CREATE TRIGGER sla_tally_update AFTER UPDATE ON sla_slametric FOR EACH ROW
    WHEN (((OLD.completed_at IS NOT NULL AND OLD.status IN ('met', 'breached'))
           OR (NEW.completed_at IS NOT NULL AND NEW.status IN ('met', 'breached')))
          AND (OLD.status, OLD.completed_at, OLD.policy_id, OLD.metric_type)
              IS DISTINCT FROM (NEW.status, NEW.completed_at, NEW.policy_id, NEW.metric_type))
    EXECUTE FUNCTION sla_tally_clock();
CREATE TRIGGER sla_tally_delete AFTER DELETE ON sla_slametric FOR EACH ROW
    WHEN (OLD.completed_at IS NOT NULL AND OLD.status IN ('met', 'breached'))
    EXECUTE FUNCTION sla_tally_clock();

-- Emptying the clocks (a test database flush) empties their tally.
CREATE FUNCTION sla_tally_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sla_sladailytally;
    RETURN NULL;
END
$$;
CREATE TRIGGER sla_tally_truncate AFTER TRUNCATE ON sla_slametric
    FOR EACH STATEMENT EXECUTE FUNCTION sla_tally_truncate();

INSERT INTO sla_sladailytally (day, policy_id, metric_type, met, breached)
SELECT (completed_at AT TIME ZONE 'UTC')::date, policy_id, metric_type,
       count(*) FILTER (WHERE status = 'met'), count(*) FILTER (WHERE status = 'breached')
FROM sla_slametric
WHERE sla_slametric.completed_at IS NOT NULL AND sla_slametric.status IN ('met', 'breached')
GROUP BY 1, 2, 3;
"""

BACKWARD = """
DROP TRIGGER sla_tally_truncate ON sla_slametric;
DROP TRIGGER sla_tally_delete ON sla_slametric;
DROP TRIGGER sla_tally_update ON sla_slametric;
DROP TRIGGER sla_tally_insert ON sla_slametric;
DROP FUNCTION sla_tally_truncate();
DROP FUNCTION sla_tally_clock();
DELETE FROM sla_sladailytally;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0003_daily_tally"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
