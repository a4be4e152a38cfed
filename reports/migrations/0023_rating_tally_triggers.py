# Hand-written (created with `makemigrations --empty`), as 0008 and 0021: triggers.
#
# The Satisfaction report counts good and bad ratings per day, team and agent over the
# range: tens of thousands of ratings a quarter on a large desk. reports_ratingdaytally
# holds them per desk day of `created` (first answered), agent and team.
#
# Statement triggers with transition tables on csat_rating: one grouped INSERT per
# statement; an UPDATE counts only the rows whose counted columns changed (a requester
# changing their answer, an agent or team set to NULL by a deletion), the old version
# off and the new one on. Days are cut in reports_tallyzone's zone. CREATE TRIGGER locks
# writers out of the table until this migration commits, so the backfill misses none.

from django.db import migrations

_APPEND = """
    INSERT INTO reports_ratingdaytally (day, agent_id, team_id, good, bad)
    SELECT day, agent_id, team_id, sum(good), sum(bad) FROM ({changes}) AS changes
    GROUP BY day, agent_id, team_id HAVING sum(good) <> 0 OR sum(bad) <> 0;
"""
_COUNTED = (
    "SELECT (r.created AT TIME ZONE reports_tally_zone())::date AS day, r.agent_id, "
    "r.team_id, {sign} * (r.rating = 'good')::int AS good, "
    "{sign} * (r.rating = 'bad')::int AS bad FROM {rows} r {where}"
)
_CHANGED = (
    "WHERE EXISTS (SELECT 1 FROM {other} x WHERE x.id = r.id AND "
    "(x.created, x.rating, x.agent_id, x.team_id) IS DISTINCT FROM "
    "(r.created, r.rating, r.agent_id, r.team_id))"
)

# Only the constants above are put in the text (no value from outside).
FORWARD = f"""
CREATE FUNCTION reports_rating_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_APPEND.format(changes=_COUNTED.format(sign=1, rows="new_rows", where=""))}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_rating_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_APPEND.format(changes=_COUNTED.format(sign=-1, rows="old_rows", where=""))}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_rating_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_APPEND.format(
        changes=_COUNTED.format(sign=-1, rows="old_rows", where=_CHANGED.format(other="new_rows"))
        + " UNION ALL "
        + _COUNTED.format(sign=1, rows="new_rows", where=_CHANGED.format(other="old_rows"))
    )}
    RETURN NULL;
END
$$;

CREATE FUNCTION reports_rating_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM reports_ratingdaytally;
    RETURN NULL;
END
$$;

-- The whole tally again from the ratings, in the stored zone (the backfill below, and
-- reports.services.tally_rebuild; callers keep writers out).
CREATE FUNCTION reports_rating_recount() RETURNS void LANGUAGE sql AS $$
    DELETE FROM reports_ratingdaytally;
    {_APPEND.format(changes=_COUNTED.format(sign=1, rows="csat_rating", where=""))}
$$;

CREATE TRIGGER reports_rating_insert AFTER INSERT ON csat_rating
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_rating_insert();
CREATE TRIGGER reports_rating_update AFTER UPDATE ON csat_rating
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_rating_update();
CREATE TRIGGER reports_rating_delete AFTER DELETE ON csat_rating
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reports_rating_delete();
CREATE TRIGGER reports_rating_truncate AFTER TRUNCATE ON csat_rating
    FOR EACH STATEMENT EXECUTE FUNCTION reports_rating_truncate();

SELECT reports_rating_recount();
"""  # noqa: S608

BACKWARD = """
DROP TRIGGER reports_rating_truncate ON csat_rating;
DROP TRIGGER reports_rating_delete ON csat_rating;
DROP TRIGGER reports_rating_update ON csat_rating;
DROP TRIGGER reports_rating_insert ON csat_rating;
DROP FUNCTION reports_rating_recount();
DROP FUNCTION reports_rating_truncate();
DROP FUNCTION reports_rating_update();
DROP FUNCTION reports_rating_delete();
DROP FUNCTION reports_rating_insert();
DELETE FROM reports_ratingdaytally;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0022_rating_day_tally"),
        ("reports", "0021_attempt_tally_triggers"),
        ("csat", "0002_survey_schedule"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
