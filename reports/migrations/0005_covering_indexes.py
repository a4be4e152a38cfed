# Hand-written, as 0003: covering indexes (INCLUDE) that let the reports' range scans
# read the index alone, not the wide rows behind it (a ticket's text and search
# documents, a message's raw bytes). On a large desk a month of tickets or mail is
# hundreds of thousands of rows; fetching each from the table was most of a report's
# time. Built CONCURRENTLY (atomic = False); IF [NOT] EXISTS makes a retry harmless.
#
# Each holds the columns its report groups and filters by, and replaces the 0003 index
# it covers: open tickets by stage and age (backlog); tickets created, and tickets
# resolved, in a range (people, and volume when it counts rows); public comments in a
# range with author and ticket (people); mail received in a range with its account,
# type and state (mail health); help-center searches and article views in a range
# (self-service).

from django.db import migrations

# Counting rows reads their id (COUNT(id)): it is in every INCLUDE.
TICKET_COLUMNS = "id, assignee_id, team_id, workflow_id, source, priority"

CREATE = {
    "reports_ticket_open_cover": (
        f"nixflow_ticket (stage_id, created) INCLUDE ({TICKET_COLUMNS}) WHERE resolved_at IS NULL"
    ),
    "reports_ticket_created_cover": (
        f"nixflow_ticket (created) INCLUDE ({TICKET_COLUMNS}, first_response_at, resolved_at)"
    ),
    "reports_ticket_resolved_cover": (
        f"nixflow_ticket (resolved_at) INCLUDE ({TICKET_COLUMNS}, created) "
        "WHERE resolved_at IS NOT NULL"
    ),
    # A comment's ticket's dimensions without visiting the ticket (replies per team).
    "reports_ticket_dims": "nixflow_ticket (id) INCLUDE (team_id, workflow_id, source, priority)",
    "reports_comment_public_cover": (
        "nixflow_comment (created) INCLUDE (id, author_id, ticket_id) WHERE NOT is_internal"
    ),
    "reports_mail_received_cover": (
        "email_integration_emailmessage (received_at) "
        "INCLUDE (id, account_id, message_type, status)"
    ),
    "reports_kb_search_cover": (
        "knowledge_knowledgesearchhistory (created) INCLUDE (id, results_count)"
    ),
    "reports_kb_view_cover": "knowledge_knowledgearticleview (viewed_at) INCLUDE (id, article_id)",
}
# 0003's indexes, which these cover.
REPLACED = {
    "reports_ticket_open": "nixflow_ticket (stage_id, created) WHERE resolved_at IS NULL",
    "reports_ticket_resolved": (
        "nixflow_ticket (resolved_at, assignee_id) WHERE resolved_at IS NOT NULL"
    ),
    "reports_comment_public": "nixflow_comment (created, author_id) WHERE NOT is_internal",
    "reports_kb_view_viewed": "knowledge_knowledgearticleview (viewed_at, article_id)",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reports", "0004_tally_schedule"),
        ("email_integration", "0008_admin_list_indexes"),
    ]

    operations = [
        *(
            migrations.RunSQL(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}",
                f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
            )
            for name, definition in CREATE.items()
        ),
        *(
            migrations.RunSQL(
                f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {definition}",
            )
            for name, definition in REPLACED.items()
        ),
    ]
