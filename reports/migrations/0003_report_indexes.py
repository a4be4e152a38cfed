# Hand-written: indexes on other apps' tables that only the reports need, kept in the
# reports app so that removing it removes them (reverse drops them). Built CONCURRENTLY
# so that writers never wait for them during a deploy; PostgreSQL refuses that inside a
# transaction, hence atomic = False; each operation is one statement. IF NOT EXISTS
# makes a retried deploy harmless.
#
# - reports_ticket_open: the backlog now, by stage and age: the open tickets only (a
#   small part of a large desk), answered from the index alone.
# - reports_ticket_resolved: the people report's "resolved in the range, per assignee".
# - reports_comment_public: public replies in the range (the people report).
# - reports_kb_view_viewed: article views in the range (the self-service report); the
#   knowledge app's own index leads with the article.

from django.db import migrations

INDEXES = {
    "reports_ticket_open": (
        "nixflow_ticket (stage_id, created) WHERE resolved_at IS NULL"
    ),
    "reports_ticket_resolved": (
        "nixflow_ticket (resolved_at, assignee_id) WHERE resolved_at IS NOT NULL"
    ),
    "reports_comment_public": "nixflow_comment (created, author_id) WHERE NOT is_internal",
    "reports_kb_view_viewed": "knowledge_knowledgearticleview (viewed_at, article_id)",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reports", "0002_tally_triggers"),
        ("knowledge", "0008_article_popular"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}",
            f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, definition in INDEXES.items()
    ]
