# Hand-written (created with `makemigrations --empty`), as 0008: triggers.
#
# reports_replyteamdaytally is reports_replydaytally summed over day, author and team.
# Rather than a second set of triggers on comments and tickets, statement triggers on
# reports_replydaytally pass every change it receives on, grouped: its rows appended by
# the comment and ticket triggers, the rows its folding deletes and writes back
# (reports.services.tally_compact: net nothing), its recount (DELETE, then INSERT).
# Whatever reaches the reply tally reaches this one, so the two always sum alike.
#
# CREATE TRIGGER locks writers out of reports_replydaytally until this migration
# commits, so the backfill below misses none of its rows.

from django.db import migrations

_FORWARDED = """
    INSERT INTO reports_replyteamdaytally (day, author_id, team_id, replies)
    SELECT day, author_id, team_id, sum(n)
    FROM ({changes}) AS changes
    GROUP BY day, author_id, team_id
    HAVING sum(n) <> 0;
"""
_ROWS = "SELECT day, author_id, team_id, {sign} * replies AS n FROM {rows}"

# Only the constants above are put in the text (no value from outside).
FORWARD = f"""
CREATE FUNCTION reports_reply_team_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_FORWARDED.format(changes=_ROWS.format(sign=1, rows="new_rows"))}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_reply_team_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_FORWARDED.format(changes=_ROWS.format(sign=-1, rows="old_rows"))}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_reply_team_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_FORWARDED.format(changes=_ROWS.format(sign=-1, rows="old_rows")
                     + " UNION ALL " + _ROWS.format(sign=1, rows="new_rows"))}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_reply_team_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM reports_replyteamdaytally;
    RETURN NULL;
END
$$;

CREATE TRIGGER reports_reply_team_insert AFTER INSERT ON reports_replydaytally
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_reply_team_insert();
CREATE TRIGGER reports_reply_team_update AFTER UPDATE ON reports_replydaytally
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_reply_team_update();
CREATE TRIGGER reports_reply_team_delete AFTER DELETE ON reports_replydaytally
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_reply_team_delete();
CREATE TRIGGER reports_reply_team_truncate AFTER TRUNCATE ON reports_replydaytally
    FOR EACH STATEMENT EXECUTE FUNCTION reports_reply_team_truncate();

DELETE FROM reports_replyteamdaytally;
{_FORWARDED.format(changes=_ROWS.format(sign=1, rows="reports_replydaytally"))}
"""  # noqa: S608

BACKWARD = """
DROP TRIGGER reports_reply_team_truncate ON reports_replydaytally;
DROP TRIGGER reports_reply_team_delete ON reports_replydaytally;
DROP TRIGGER reports_reply_team_update ON reports_replydaytally;
DROP TRIGGER reports_reply_team_insert ON reports_replydaytally;
DROP FUNCTION reports_reply_team_truncate();
DROP FUNCTION reports_reply_team_update();
DROP FUNCTION reports_reply_team_delete();
DROP FUNCTION reports_reply_team_insert();
DELETE FROM reports_replyteamdaytally;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0017_reply_team_day_tally"),
        ("reports", "0008_reply_tally_triggers"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
