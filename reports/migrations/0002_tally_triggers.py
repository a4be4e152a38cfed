# Hand-written (created with `makemigrations --empty`): triggers are beyond what the ORM
# can declare.
#
# The volume and backlog reports count tickets created, resolved and reopened per day,
# and the backlog at the end of every day of the range. Counting those from
# nixflow_ticket reads every ticket of the range (a million on a large desk) and, for
# the backlog, every ticket ever created; reports_ticketdaytally holds the same counts
# per desk day and ticket dimensions (workflow, team, channel, priority), so a report
# sums a few thousand rows instead.
#
# The database keeps the tally, so no writer can forget it: services, load_data's COPY,
# cascades and SQL by hand all fire these triggers. Each change of a counted column
# appends the negation of the old version's rows and the new version's rows; nothing is
# updated in place, so writers never wait on each other here (reports.services.
# tally_compact folds the rows later). A ticket whose resolved_at goes from set to empty
# was reopened: one more row counts that on the day of the change (its `updated`).
#
# Days are cut in the zone stored in reports_tallyzone (read by the trigger), which
# starts as the desk's reporting zone at migration time. CREATE TRIGGER locks writers
# out of nixflow_ticket until this migration commits, so the backfill misses none.

from django.conf import settings
from django.db import migrations

FORWARD = """
CREATE FUNCTION reports_tally_zone() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT time_zone FROM reports_tallyzone WHERE id = 1), 'UTC')
$$;

-- A ticket's reopens on each day: its history rows that cleared resolved_at.
CREATE FUNCTION reports_tally_move_reopens(
    ticket bigint, sign int, workflow bigint, team bigint, src text, prio text
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO reports_ticketdaytally
        (day, workflow_id, team_id, source, priority, created, resolved, reopened, opened)
    SELECT (h.created AT TIME ZONE reports_tally_zone())::date, workflow, team, src, prio,
           0, 0, sign * count(*), 0
    FROM nixflow_historylog h
    WHERE h.ticket_id = ticket AND h.field = 'resolved_at'
      AND h.new_value = '' AND h.old_value <> ''
    GROUP BY 1
$$;

CREATE FUNCTION reports_tally_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tz text := reports_tally_zone();
    moved boolean := TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND
        (OLD.workflow_id, OLD.team_id, OLD.source, OLD.priority)
        IS DISTINCT FROM (NEW.workflow_id, NEW.team_id, NEW.source, NEW.priority));
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO reports_ticketdaytally
            (day, workflow_id, team_id, source, priority, created, resolved, reopened, opened)
        VALUES ((OLD.created AT TIME ZONE tz)::date, OLD.workflow_id, OLD.team_id,
                OLD.source, OLD.priority, -1, 0, 0, -1);
        IF OLD.resolved_at IS NOT NULL THEN
            INSERT INTO reports_ticketdaytally
                (day, workflow_id, team_id, source, priority, created, resolved, reopened, opened)
            VALUES ((OLD.resolved_at AT TIME ZONE tz)::date, OLD.workflow_id, OLD.team_id,
                    OLD.source, OLD.priority, 0, -1, 0, 1);
        END IF;
        IF moved THEN
            PERFORM reports_tally_move_reopens(
                OLD.id, -1, OLD.workflow_id, OLD.team_id, OLD.source, OLD.priority);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO reports_ticketdaytally
            (day, workflow_id, team_id, source, priority, created, resolved, reopened, opened)
        VALUES ((NEW.created AT TIME ZONE tz)::date, NEW.workflow_id, NEW.team_id,
                NEW.source, NEW.priority, 1, 0, 0, 1);
        IF NEW.resolved_at IS NOT NULL THEN
            INSERT INTO reports_ticketdaytally
                (day, workflow_id, team_id, source, priority, created, resolved, reopened, opened)
            VALUES ((NEW.resolved_at AT TIME ZONE tz)::date, NEW.workflow_id, NEW.team_id,
                    NEW.source, NEW.priority, 0, 1, 0, -1);
        END IF;
        IF moved THEN
            PERFORM reports_tally_move_reopens(
                NEW.id, 1, NEW.workflow_id, NEW.team_id, NEW.source, NEW.priority);
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;  -- BEFORE DELETE: the history rows are still there to count
    END IF;
    RETURN NULL;
END
$$;

-- A reopen counts on the day of its history row, under the ticket's dimensions. The
-- ticket's own delete counted its reopens off before the cascade removes the rows (a
-- BEFORE trigger), so rows of a ticket that is gone are skipped here.
CREATE FUNCTION reports_tally_reopen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.field = 'resolved_at'
       AND OLD.new_value = '' AND OLD.old_value <> '' THEN
        SELECT workflow_id, team_id, source, priority INTO t
        FROM nixflow_ticket WHERE id = OLD.ticket_id;
        IF FOUND THEN
            INSERT INTO reports_ticketdaytally
                (day, workflow_id, team_id, source, priority, created, resolved, reopened, opened)
            VALUES ((OLD.created AT TIME ZONE reports_tally_zone())::date, t.workflow_id,
                    t.team_id, t.source, t.priority, 0, 0, -1, 0);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.field = 'resolved_at'
       AND NEW.new_value = '' AND NEW.old_value <> '' THEN
        SELECT workflow_id, team_id, source, priority INTO t
        FROM nixflow_ticket WHERE id = NEW.ticket_id;
        IF FOUND THEN
            INSERT INTO reports_ticketdaytally
                (day, workflow_id, team_id, source, priority, created, resolved, reopened, opened)
            VALUES ((NEW.created AT TIME ZONE reports_tally_zone())::date, t.workflow_id,
                    t.team_id, t.source, t.priority, 0, 0, 1, 0);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- The whole tally again from the rows, in the stored zone (the backfill below, and
-- reports.services.tally_rebuild after the zone changed; callers keep writers out).
CREATE FUNCTION reports_tally_recount() RETURNS void LANGUAGE sql AS $$
    DELETE FROM reports_ticketdaytally;
    INSERT INTO reports_ticketdaytally
        (day, workflow_id, team_id, source, priority, created, resolved, reopened, opened)
    SELECT day, workflow_id, team_id, source, priority,
           sum(created), sum(resolved), sum(reopened), sum(created) - sum(resolved)
    FROM (
        SELECT (created AT TIME ZONE reports_tally_zone())::date AS day, workflow_id,
               team_id, source, priority, 1 AS created, 0 AS resolved, 0 AS reopened
        FROM nixflow_ticket
        UNION ALL
        SELECT (resolved_at AT TIME ZONE reports_tally_zone())::date, workflow_id, team_id,
               source, priority, 0, 1, 0
        FROM nixflow_ticket WHERE resolved_at IS NOT NULL
        UNION ALL
        SELECT (h.created AT TIME ZONE reports_tally_zone())::date, t.workflow_id, t.team_id,
               t.source, t.priority, 0, 0, 1
        FROM nixflow_historylog h JOIN nixflow_ticket t ON t.id = h.ticket_id
        WHERE h.field = 'resolved_at' AND h.new_value = '' AND h.old_value <> ''
    ) AS changes
    GROUP BY day, workflow_id, team_id, source, priority;
$$;

CREATE TRIGGER reports_tally_insert AFTER INSERT ON nixflow_ticket FOR EACH ROW
    EXECUTE FUNCTION reports_tally_ticket();
CREATE TRIGGER reports_tally_update AFTER UPDATE ON nixflow_ticket FOR EACH ROW
    WHEN ((OLD.created, OLD.resolved_at, OLD.workflow_id, OLD.team_id, OLD.source, OLD.priority)
          IS DISTINCT FROM
          (NEW.created, NEW.resolved_at, NEW.workflow_id, NEW.team_id, NEW.source, NEW.priority))
    EXECUTE FUNCTION reports_tally_ticket();
CREATE TRIGGER reports_tally_delete BEFORE DELETE ON nixflow_ticket FOR EACH ROW
    EXECUTE FUNCTION reports_tally_ticket();

CREATE TRIGGER reports_tally_reopen_insert AFTER INSERT ON nixflow_historylog FOR EACH ROW
    WHEN (NEW.field = 'resolved_at') EXECUTE FUNCTION reports_tally_reopen();
CREATE TRIGGER reports_tally_reopen_update AFTER UPDATE ON nixflow_historylog FOR EACH ROW
    WHEN ((OLD.field = 'resolved_at' OR NEW.field = 'resolved_at')
          AND (OLD.field, OLD.old_value, OLD.new_value, OLD.created, OLD.ticket_id)
              IS DISTINCT FROM (NEW.field, NEW.old_value, NEW.new_value, NEW.created, NEW.ticket_id))
    EXECUTE FUNCTION reports_tally_reopen();
CREATE TRIGGER reports_tally_reopen_delete AFTER DELETE ON nixflow_historylog FOR EACH ROW
    WHEN (OLD.field = 'resolved_at') EXECUTE FUNCTION reports_tally_reopen();

-- Emptying the tickets (a test database flush) empties their tally; emptying the
-- history alone forgets the reopens.
CREATE FUNCTION reports_tally_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'nixflow_ticket' THEN
        DELETE FROM reports_ticketdaytally;
    ELSE
        UPDATE reports_ticketdaytally SET reopened = 0 WHERE reopened <> 0;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER reports_tally_truncate AFTER TRUNCATE ON nixflow_ticket
    FOR EACH STATEMENT EXECUTE FUNCTION reports_tally_truncate();
CREATE TRIGGER reports_tally_truncate AFTER TRUNCATE ON nixflow_historylog
    FOR EACH STATEMENT EXECUTE FUNCTION reports_tally_truncate();
"""

BACKWARD = """
DROP TRIGGER reports_tally_truncate ON nixflow_historylog;
DROP TRIGGER reports_tally_truncate ON nixflow_ticket;
DROP TRIGGER reports_tally_reopen_delete ON nixflow_historylog;
DROP TRIGGER reports_tally_reopen_update ON nixflow_historylog;
DROP TRIGGER reports_tally_reopen_insert ON nixflow_historylog;
DROP TRIGGER reports_tally_delete ON nixflow_ticket;
DROP TRIGGER reports_tally_update ON nixflow_ticket;
DROP TRIGGER reports_tally_insert ON nixflow_ticket;
DROP FUNCTION reports_tally_truncate();
DROP FUNCTION reports_tally_recount();
DROP FUNCTION reports_tally_reopen();
DROP FUNCTION reports_tally_ticket();
DROP FUNCTION reports_tally_move_reopens(bigint, int, bigint, bigint, text, text);
DROP FUNCTION reports_tally_zone();
DELETE FROM reports_ticketdaytally;
DELETE FROM reports_tallyzone;
"""


def backfill(apps, schema_editor):
    """The zone row, then the tally of the tickets and reopens already there."""
    zone = getattr(settings, "NIXFLOW_REPORTS_TIME_ZONE", None) or settings.TIME_ZONE
    schema_editor.execute(
        "INSERT INTO reports_tallyzone (id, time_zone) VALUES (1, %s)", params=[zone]
    )
    schema_editor.execute("SELECT reports_tally_recount()")


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("nixflow", "0019_ticket_custom_fields_stage_entered_indexes"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
