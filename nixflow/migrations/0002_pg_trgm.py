# Hand-written (created with `makemigrations --empty`): the ORM cannot declare a
# PostgreSQL extension on a model. pg_trgm provides the gin_trgm_ops operator class of the
# ticket search indexes created in the next migration.

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("nixflow", "0001_initial"),
    ]

    operations = [
        TrigramExtension(),
    ]
