# The admin's search of the search history looks for words inside the normalized (lower
# case) queries: a trigram index serves that LIKE '%word%' without reading the table
# (pg_trgm is installed by nixflow 0002). Built CONCURRENTLY so that searches being
# recorded never wait for it during a deploy, hence atomic = False.

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("knowledge", "0003_article_list_indexes"),
        ("nixflow", "0002_pg_trgm"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="knowledgesearchhistory",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass("normalized_query", name="gin_trgm_ops"),
                name="kb_search_query_trgm",
            ),
        ),
    ]
