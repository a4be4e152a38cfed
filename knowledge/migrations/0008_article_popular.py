# Written by hand from what makemigrations writes: the index is built CONCURRENTLY, so
# that building it on a loaded article table does not block the writes of the release
# running during the deploy. PostgreSQL refuses CONCURRENTLY inside a transaction, hence
# atomic = False (docs/deploy.md, "Expand and contract").

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("knowledge", "0007_article_category_popular"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="knowledgearticle",
            index=models.Index(
                condition=models.Q(("status", "PUBLISHED")),
                fields=["-view_count", "-id"],
                name="kb_article_popular",
            ),
        ),
    ]
