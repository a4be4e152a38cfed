# Hand-written (created with `makemigrations --empty`), as 0008 and 0010: triggers.
#
# The Self-service report counts the portal's attempts (a "new request" visit that
# showed suggestions) started in the range: a quarter of a million rows over 90 days at
# a million tickets. reports_attemptdaytally holds them per desk day of `created`.
#
# Statement triggers with transition tables on portal_deflectionattempt: one grouped
# INSERT per statement (a bulk load appends a row per day, not per attempt); an UPDATE
# counts only rows whose `created` changed, the old day off and the new one on. Days are
# cut in reports_tallyzone's zone, as the other tallies'. CREATE TRIGGER locks writers
# out of the table until this migration commits, so the backfill misses none.

from django.db import migrations

_APPEND = """
    INSERT INTO reports_attemptdaytally (day, attempts)
    SELECT day, sum(n) FROM ({changes}) AS changes
    GROUP BY day HAVING sum(n) <> 0;
"""
_COUNTED = (
    "SELECT (a.created AT TIME ZONE reports_tally_zone())::date AS day, {sign} AS n "
    "FROM {rows} a {where}"
)
_MOVED = "WHERE EXISTS (SELECT 1 FROM {other} x WHERE x.id = a.id AND x.created <> a.created)"

# Only the constants above are put in the text (no value from outside).
FORWARD = f"""
CREATE FUNCTION reports_attempt_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_APPEND.format(changes=_COUNTED.format(sign=1, rows="new_rows", where=""))}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_attempt_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_APPEND.format(changes=_COUNTED.format(sign=-1, rows="old_rows", where=""))}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_attempt_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_APPEND.format(
        changes=_COUNTED.format(sign=-1, rows="old_rows", where=_MOVED.format(other="new_rows"))
        + " UNION ALL "
        + _COUNTED.format(sign=1, rows="new_rows", where=_MOVED.format(other="old_rows"))
    )}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_attempt_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM reports_attemptdaytally;
    RETURN NULL;
END
$$;

-- The whole tally again from the attempts, in the stored zone (the backfill below, and
-- reports.services.tally_rebuild; callers keep writers out).
CREATE FUNCTION reports_attempt_recount() RETURNS void LANGUAGE sql AS $$
    DELETE FROM reports_attemptdaytally;
    {_APPEND.format(changes=_COUNTED.format(sign=1, rows="portal_deflectionattempt", where=""))}
$$;

CREATE TRIGGER reports_attempt_insert AFTER INSERT ON portal_deflectionattempt
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_attempt_insert();
CREATE TRIGGER reports_attempt_update AFTER UPDATE ON portal_deflectionattempt
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_attempt_update();
CREATE TRIGGER reports_attempt_delete AFTER DELETE ON portal_deflectionattempt
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_attempt_delete();
CREATE TRIGGER reports_attempt_truncate AFTER TRUNCATE ON portal_deflectionattempt
    FOR EACH STATEMENT EXECUTE FUNCTION reports_attempt_truncate();

SELECT reports_attempt_recount();
"""  # noqa: S608

BACKWARD = """
DROP TRIGGER reports_attempt_truncate ON portal_deflectionattempt;
DROP TRIGGER reports_attempt_delete ON portal_deflectionattempt;
DROP TRIGGER reports_attempt_update ON portal_deflectionattempt;
DROP TRIGGER reports_attempt_insert ON portal_deflectionattempt;
DROP FUNCTION reports_attempt_recount();
DROP FUNCTION reports_attempt_truncate();
DROP FUNCTION reports_attempt_update();
DROP FUNCTION reports_attempt_delete();
DROP FUNCTION reports_attempt_insert();
DELETE FROM reports_attemptdaytally;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0020_attempt_day_tally"),
        ("reports", "0014_deflection_tally_triggers"),
        ("portal", "0001_initial"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
