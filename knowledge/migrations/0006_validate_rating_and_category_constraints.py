# Written by hand: validates the check constraints 0005 added NOT VALID (VALIDATE
# CONSTRAINT scans the existing rows under a lock that lets reads and writes go on), and
# builds the anonymous readers' one-rating-per-article index CONCURRENTLY; its
# state_operations tell the migration state that this is the model's (partial)
# UniqueConstraint, which PostgreSQL keeps as a unique index. PostgreSQL refuses
# CONCURRENTLY inside a transaction, hence atomic = False; each operation is one
# statement (docs/deploy.md, "Expand and contract"). makemigrations cannot say this.

from django.contrib.postgres.operations import ValidateConstraint
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("knowledge", "0005_former_slugs_anonymous_ratings"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE UNIQUE INDEX CONCURRENTLY knowledge_rating_once_anonymous "
            "ON knowledge_knowledgearticlerating (article_id, reader_key) WHERE user_id IS NULL",
            "DROP INDEX CONCURRENTLY IF EXISTS knowledge_rating_once_anonymous",
            state_operations=[
                migrations.AddConstraint(
                    model_name="knowledgearticlerating",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("user__isnull", True)),
                        fields=("article", "reader_key"),
                        name="knowledge_rating_once_anonymous",
                    ),
                ),
            ],
        ),
        ValidateConstraint(model_name="knowledgearticlerating", name="knowledge_rating_has_reader"),
        ValidateConstraint(
            model_name="knowledgecategory", name="knowledge_category_slug_not_reserved"
        ),
    ]
