# Hand-written, as 0005 and 0006: the Satisfaction report counts the ratings given in a
# range by day, team and agent (one pass, reports.figures.satisfaction). csat's own
# index on (created, id) finds them, but each rating's row was then read for its
# rating, team and agent; this one holds them. Built CONCURRENTLY.

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reports", "0018_reply_team_tally_triggers"),
        ("csat", "0002_survey_schedule"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS reports_rating_created_cover "
            "ON csat_rating (created) INCLUDE (id, rating, agent_id, team_id, ticket_id)",
            "DROP INDEX CONCURRENTLY IF EXISTS reports_rating_created_cover",
        ),
    ]
