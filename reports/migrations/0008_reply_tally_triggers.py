# Hand-written (created with `makemigrations --empty`), as 0002: triggers.
#
# The People report counts public replies per agent and per team over a range. From
# the comments, each one costs a visit to its ticket for the ticket's team (a month on
# a large desk: tens of thousands of visits, most of the report's time);
# reports_replydaytally holds the same counts per desk day, author and ticket dimensions.
#
# Statement triggers with transition tables on nixflow_comment: one INSERT ... SELECT
# per statement, grouped, so a bulk load (COPY) appends a few rows per day and author
# rather than a row per comment. A comment whose ticket is gone is skipped: the ticket's
# own BEFORE DELETE trigger took its comments' counts back while they were still there
# (as 0002 does for reopens), whichever of the two is deleted first.
#
# Days are cut in reports_tallyzone's zone, as the ticket tally's. CREATE TRIGGER locks
# writers out of the tables until this migration commits, so the backfill misses none.

from django.db import migrations

# The counted rows of a comment table (new_rows, old_rows or nixflow_comment) joined to
# their tickets, as (day, author, dimensions).
_COUNTED = """
    SELECT (c.created AT TIME ZONE reports_tally_zone())::date AS day, c.author_id,
           t.workflow_id, t.team_id, t.source, t.priority, {sign} AS n
    FROM {rows} c JOIN nixflow_ticket t ON t.id = c.ticket_id
    WHERE NOT c.is_internal {where}
"""
_APPEND = """
    INSERT INTO reports_replydaytally
        (day, author_id, workflow_id, team_id, source, priority, replies)
    SELECT day, author_id, workflow_id, team_id, source, priority, sum(n)
    FROM ({changes}) AS changes
    GROUP BY day, author_id, workflow_id, team_id, source, priority
    HAVING sum(n) <> 0;
"""
# An UPDATE counts only the rows whose counted columns changed: the old version off,
# the new one on.
_CHANGED = (
    "AND EXISTS (SELECT 1 FROM {other} x WHERE x.id = c.id AND "
    "(x.created, x.is_internal, x.author_id, x.ticket_id) IS DISTINCT FROM "
    "(c.created, c.is_internal, c.author_id, c.ticket_id))"
)

_UPDATED = _APPEND.format(
    changes=_COUNTED.format(sign=-1, rows="old_rows", where=_CHANGED.format(other="new_rows"))
    + " UNION ALL "
    + _COUNTED.format(sign=1, rows="new_rows", where=_CHANGED.format(other="old_rows"))
)

# Only the constants above are put in the text (no value from outside).
FORWARD = f"""
CREATE FUNCTION reports_reply_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_APPEND.format(changes=_COUNTED.format(sign=1, rows="new_rows", where=""))}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_reply_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_APPEND.format(changes=_COUNTED.format(sign=-1, rows="old_rows", where=""))}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_reply_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_UPDATED}
    RETURN NULL;
END
$$;

-- A ticket's public comments per day and author, counted with ``sign`` under the
-- given dimensions: a ticket moving to another team (workflow, channel, priority)
-- takes them along; a deleted one takes them back.
CREATE FUNCTION reports_reply_move(
    ticket bigint, sign int, workflow bigint, team bigint, src text, prio text
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO reports_replydaytally
        (day, author_id, workflow_id, team_id, source, priority, replies)
    SELECT (c.created AT TIME ZONE reports_tally_zone())::date, c.author_id, workflow,
           team, src, prio, sign * count(*)
    FROM nixflow_comment c
    WHERE c.ticket_id = ticket AND NOT c.is_internal
    GROUP BY 1, 2
$$;

CREATE FUNCTION reports_reply_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM reports_reply_move(
        OLD.id, -1, OLD.workflow_id, OLD.team_id, OLD.source, OLD.priority);
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;  -- BEFORE DELETE: its comments are still there to count
    END IF;
    PERFORM reports_reply_move(
        NEW.id, 1, NEW.workflow_id, NEW.team_id, NEW.source, NEW.priority);
    RETURN NULL;
END
$$;

-- The whole reply tally again from the comments, in the stored zone (the backfill
-- below, and reports.services.tally_rebuild; callers keep writers out).
CREATE FUNCTION reports_reply_recount() RETURNS void LANGUAGE sql AS $$
    DELETE FROM reports_replydaytally;
    {_APPEND.format(changes=_COUNTED.format(sign=1, rows="nixflow_comment", where=""))}
$$;

CREATE FUNCTION reports_reply_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM reports_replydaytally;
    RETURN NULL;
END
$$;

CREATE TRIGGER reports_reply_insert AFTER INSERT ON nixflow_comment
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_reply_insert();
CREATE TRIGGER reports_reply_update AFTER UPDATE ON nixflow_comment
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_reply_update();
CREATE TRIGGER reports_reply_delete AFTER DELETE ON nixflow_comment
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_reply_delete();
CREATE TRIGGER reports_reply_ticket_update AFTER UPDATE ON nixflow_ticket FOR EACH ROW
    WHEN ((OLD.workflow_id, OLD.team_id, OLD.source, OLD.priority)
          IS DISTINCT FROM (NEW.workflow_id, NEW.team_id, NEW.source, NEW.priority))
    EXECUTE FUNCTION reports_reply_ticket();
CREATE TRIGGER reports_reply_ticket_delete BEFORE DELETE ON nixflow_ticket FOR EACH ROW
    EXECUTE FUNCTION reports_reply_ticket();
CREATE TRIGGER reports_reply_truncate AFTER TRUNCATE ON nixflow_comment
    FOR EACH STATEMENT EXECUTE FUNCTION reports_reply_truncate();
CREATE TRIGGER reports_reply_truncate AFTER TRUNCATE ON nixflow_ticket
    FOR EACH STATEMENT EXECUTE FUNCTION reports_reply_truncate();

SELECT reports_reply_recount();
"""  # noqa: S608

BACKWARD = """
DROP TRIGGER reports_reply_truncate ON nixflow_ticket;
DROP TRIGGER reports_reply_truncate ON nixflow_comment;
DROP TRIGGER reports_reply_ticket_delete ON nixflow_ticket;
DROP TRIGGER reports_reply_ticket_update ON nixflow_ticket;
DROP TRIGGER reports_reply_delete ON nixflow_comment;
DROP TRIGGER reports_reply_update ON nixflow_comment;
DROP TRIGGER reports_reply_insert ON nixflow_comment;
DROP FUNCTION reports_reply_truncate();
DROP FUNCTION reports_reply_recount();
DROP FUNCTION reports_reply_ticket();
DROP FUNCTION reports_reply_move(bigint, int, bigint, bigint, text, text);
DROP FUNCTION reports_reply_update();
DROP FUNCTION reports_reply_delete();
DROP FUNCTION reports_reply_insert();
DELETE FROM reports_replydaytally;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0007_reply_day_tally"),
        ("reports", "0002_tally_triggers"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
