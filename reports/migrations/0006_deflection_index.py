# Hand-written, as 0003 and 0005: the self-service report counts the portal's
# "New request" visits started in a range (portal.selectors.deflection_counts); the
# portal's own index serves only their first opening. Built CONCURRENTLY.

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reports", "0005_covering_indexes"),
        ("portal", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS reports_deflection_created "
            "ON portal_deflectionattempt (created)",
            "DROP INDEX CONCURRENTLY IF EXISTS reports_deflection_created",
        ),
    ]
