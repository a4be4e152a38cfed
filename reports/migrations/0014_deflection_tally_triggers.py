# Hand-written (created with `makemigrations --empty`), as 0002: triggers.
#
# The Self-service report counts deflected requests: portal attempts whose requester
# opened a suggestion, filed nothing from the page and opened no ticket from the
# attempt's start until the deflection window after that opening. Counted from the rows,
# that probes the requester's tickets once per attempt of the range (tens of thousands a
# quarter on a large desk); reports_deflectiondaytally holds the count per desk day of
# the first opening.
#
# Whether an attempt counts depends on its own columns and on its requester's tickets,
# so both tables have triggers. They are BEFORE row triggers, each adding the change of
# the count that its one row's change makes, against the tables as they are at that
# moment: a ticket's deletion that empties the attempt's `ticket` (ON DELETE SET NULL)
# is then two changes in a row (the ticket gone, then the attempt's column), each
# counted once. AFTER triggers would all see the end state and count such a change
# twice. Each trigger returns its row unchanged; the other BEFORE triggers on these
# tables (the ticket tallies' own, 0002 and 0008) return theirs unchanged too, so the
# row counted is the row written.
#
# Days are cut in reports_tallyzone's zone; the window is the one stored there
# (`deflection_window`, minutes), set here from PORTAL_DEFLECTION_WINDOW_MINUTES. An
# attempt counts provisionally until its window has passed; readers sum only the days
# whose windows are all over. CREATE TRIGGER locks writers out of both tables until this
# migration commits, so the backfill misses none (a few seconds at a million tickets).

# The SQL below is built from the constant FILES only, never from input.
# ruff: noqa: S608

from django.conf import settings
from django.db import migrations

FILES = """(
    {t}.requester_id = {a}.requester_id AND {t}.created >= {a}.created
    AND {t}.created <= {a}.first_opened_at + w
)"""

FORWARD = f"""
CREATE FUNCTION reports_deflection_window() RETURNS interval LANGUAGE sql STABLE AS $$
    SELECT make_interval(mins => coalesce(
        (SELECT deflection_window FROM reports_tallyzone WHERE id = 1), 30))
$$;

-- An attempt written: its old version's count taken back, its new version's added.
CREATE FUNCTION reports_deflection_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    w interval := reports_deflection_window();
    tz text := reports_tally_zone();
BEGIN
    IF TG_OP = 'UPDATE' AND
        (OLD.requester_id, OLD.created, OLD.first_opened_at, OLD.ticket_id)
        IS NOT DISTINCT FROM
        (NEW.requester_id, NEW.created, NEW.first_opened_at, NEW.ticket_id) THEN
        RETURN NEW;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.first_opened_at IS NOT NULL AND OLD.ticket_id IS NULL
        AND NOT EXISTS (
            SELECT 1 FROM nixflow_ticket t WHERE {FILES.format(t="t", a="OLD")}
        ) THEN
        INSERT INTO reports_deflectiondaytally (day, deflected)
        VALUES ((OLD.first_opened_at AT TIME ZONE tz)::date, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.first_opened_at IS NOT NULL AND NEW.ticket_id IS NULL
        AND NOT EXISTS (
            SELECT 1 FROM nixflow_ticket t WHERE {FILES.format(t="t", a="NEW")}
        ) THEN
        INSERT INTO reports_deflectiondaytally (day, deflected)
        VALUES ((NEW.first_opened_at AT TIME ZONE tz)::date, 1);
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

-- A ticket written: the attempts of its requester(s) that its old version filed and its
-- new one does not come back into the count, and the other way round, unless another
-- ticket files them.
CREATE FUNCTION reports_deflection_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    w interval;
    tz text;
    this bigint;
    old_requester bigint;
    old_created timestamptz;
    new_requester bigint;
    new_created timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.requester_id, OLD.created)
        IS NOT DISTINCT FROM (NEW.requester_id, NEW.created) THEN
        RETURN NEW;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        this := OLD.id;
        old_requester := OLD.requester_id;
        old_created := OLD.created;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        this := NEW.id;
        new_requester := NEW.requester_id;
        new_created := NEW.created;
    END IF;
    w := reports_deflection_window();
    tz := reports_tally_zone();
    INSERT INTO reports_deflectiondaytally (day, deflected)
    SELECT (a.first_opened_at AT TIME ZONE tz)::date,
           sum(CASE WHEN f.by_old THEN 1 ELSE -1 END)
    FROM portal_deflectionattempt a
    CROSS JOIN LATERAL (
        SELECT coalesce(a.requester_id = old_requester AND old_created >= a.created
                        AND old_created <= a.first_opened_at + w, false) AS by_old,
               coalesce(a.requester_id = new_requester AND new_created >= a.created
                        AND new_created <= a.first_opened_at + w, false) AS by_new
    ) AS f
    WHERE a.requester_id IN (old_requester, new_requester)
      AND a.first_opened_at IS NOT NULL AND a.ticket_id IS NULL
      AND f.by_old <> f.by_new
      AND NOT EXISTS (
          SELECT 1 FROM nixflow_ticket t
          WHERE t.id <> this AND {FILES.format(t="t", a="a")}
      )
    GROUP BY 1;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION reports_deflection_recount() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    w interval := reports_deflection_window();
    tz text := reports_tally_zone();
BEGIN
    DELETE FROM reports_deflectiondaytally;
    INSERT INTO reports_deflectiondaytally (day, deflected)
    SELECT (a.first_opened_at AT TIME ZONE tz)::date, count(*)
    FROM portal_deflectionattempt a
    WHERE a.first_opened_at IS NOT NULL AND a.ticket_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM nixflow_ticket t WHERE {FILES.format(t="t", a="a")})
    GROUP BY 1;
END
$$;

CREATE FUNCTION reports_deflection_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM reports_deflection_recount();
    RETURN NULL;
END
$$;

CREATE TRIGGER reports_deflection_attempt
    BEFORE INSERT OR UPDATE OR DELETE ON portal_deflectionattempt
    FOR EACH ROW EXECUTE FUNCTION reports_deflection_attempt();
CREATE TRIGGER reports_deflection_ticket
    BEFORE INSERT OR UPDATE OR DELETE ON nixflow_ticket
    FOR EACH ROW EXECUTE FUNCTION reports_deflection_ticket();
CREATE TRIGGER reports_deflection_truncate AFTER TRUNCATE ON portal_deflectionattempt
    FOR EACH STATEMENT EXECUTE FUNCTION reports_deflection_truncate();
CREATE TRIGGER reports_deflection_ticket_truncate AFTER TRUNCATE ON nixflow_ticket
    FOR EACH STATEMENT EXECUTE FUNCTION reports_deflection_truncate();
"""

BACKWARD = """
DROP TRIGGER reports_deflection_attempt ON portal_deflectionattempt;
DROP TRIGGER reports_deflection_ticket ON nixflow_ticket;
DROP TRIGGER reports_deflection_truncate ON portal_deflectionattempt;
DROP TRIGGER reports_deflection_ticket_truncate ON nixflow_ticket;
DROP FUNCTION reports_deflection_truncate();
DROP FUNCTION reports_deflection_recount();
DROP FUNCTION reports_deflection_ticket();
DROP FUNCTION reports_deflection_attempt();
DROP FUNCTION reports_deflection_window();
DELETE FROM reports_deflectiondaytally;
UPDATE reports_tallyzone SET deflection_window = NULL;
"""


def backfill(apps, schema_editor):
    """The window the tally counts with, then the tally of the attempts already there."""
    window = int(getattr(settings, "PORTAL_DEFLECTION_WINDOW_MINUTES", 30))
    schema_editor.execute(
        "UPDATE reports_tallyzone SET deflection_window = %s WHERE id = 1", params=[window]
    )
    schema_editor.execute("SELECT reports_deflection_recount()")


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0013_deflection_day_tally"),
        ("portal", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
