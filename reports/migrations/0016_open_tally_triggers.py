# Hand-written (created with `makemigrations --empty`), as 0012: row triggers that fire
# only when a counted column changes.
#
# The Backlog report counts the tickets open now by stage and by age. From the rows that
# is every open ticket of the desk (about a fifth of them: hundreds of thousands on a
# large desk, however old); reports_opendaytally holds the same count per stage and desk
# day of creation, a few rows per stage and day of the desk's life.
#
# A ticket counts while it has no resolved_at. Each trigger takes back its old version's
# count and adds its new version's, one row each; the update trigger fires only when the
# stage, the creation time or the openness changed (WHEN), so the desk's other writes to
# tickets (titles, assignees, SLA due times, search documents) cost nothing here. Days
# are cut in reports_tallyzone's zone. CREATE TRIGGER locks writers out until this
# migration commits, so the backfill misses none.

from django.db import migrations

FORWARD = """
CREATE FUNCTION reports_open_tally() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tz text := reports_tally_zone();
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.resolved_at IS NULL THEN
        INSERT INTO reports_opendaytally (day, stage_id, open)
        VALUES ((OLD.created AT TIME ZONE tz)::date, OLD.stage_id, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.resolved_at IS NULL THEN
        INSERT INTO reports_opendaytally (day, stage_id, open)
        VALUES ((NEW.created AT TIME ZONE tz)::date, NEW.stage_id, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_open_recount() RETURNS void LANGUAGE sql AS $$
    DELETE FROM reports_opendaytally;
    INSERT INTO reports_opendaytally (day, stage_id, open)
    SELECT (created AT TIME ZONE reports_tally_zone())::date, stage_id, count(*)
    FROM nixflow_ticket WHERE resolved_at IS NULL
    GROUP BY 1, 2;
$$;

CREATE FUNCTION reports_open_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM reports_opendaytally;
    RETURN NULL;
END
$$;

CREATE TRIGGER reports_open_insert AFTER INSERT ON nixflow_ticket
    FOR EACH ROW WHEN (NEW.resolved_at IS NULL) EXECUTE FUNCTION reports_open_tally();
CREATE TRIGGER reports_open_update AFTER UPDATE ON nixflow_ticket
    FOR EACH ROW
    WHEN ((OLD.stage_id, OLD.created, OLD.resolved_at IS NULL)
          IS DISTINCT FROM (NEW.stage_id, NEW.created, NEW.resolved_at IS NULL))
    EXECUTE FUNCTION reports_open_tally();
CREATE TRIGGER reports_open_delete AFTER DELETE ON nixflow_ticket
    FOR EACH ROW WHEN (OLD.resolved_at IS NULL) EXECUTE FUNCTION reports_open_tally();
CREATE TRIGGER reports_open_truncate AFTER TRUNCATE ON nixflow_ticket
    FOR EACH STATEMENT EXECUTE FUNCTION reports_open_truncate();

SELECT reports_open_recount();
"""

BACKWARD = """
DROP TRIGGER reports_open_insert ON nixflow_ticket;
DROP TRIGGER reports_open_update ON nixflow_ticket;
DROP TRIGGER reports_open_delete ON nixflow_ticket;
DROP TRIGGER reports_open_truncate ON nixflow_ticket;
DROP FUNCTION reports_open_truncate();
DROP FUNCTION reports_open_recount();
DROP FUNCTION reports_open_tally();
DELETE FROM reports_opendaytally;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0015_open_day_tally"),
        ("reports", "0014_deflection_tally_triggers"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
