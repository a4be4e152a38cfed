"""OpenAPI links: which operations a response leads to, and with which of its values.

A client generator turns these into "next calls" (a created ticket's key into the calls
that take a key); schemathesis' stateful phase follows them to chain requests on objects
that exist (create a ticket, then comment on it, transition it, watch it…) instead of
guessing ids (tests/test_api_fuzz.py). ``nixflow.api.schema.AutoSchema`` puts each entry
on the operation's success response.

Keys and targets are drf-spectacular's operation ids (``tickets_create``); parameters
are runtime expressions of the OpenAPI specification (``$response.body#/key``).
"""

from __future__ import annotations

from typing import Any

# The value a response names its object by.
ID = "$response.body#/id"
KEY = "$response.body#/key"
SLUG = "$response.body#/slug"
# A list's first row: lists are pages (``results``).
FIRST_ID = "$response.body#/results/0/id"


def _links(parameter: str, value: str, *operations: str) -> dict[str, dict[str, Any]]:
    return {
        operation: {"operationId": operation, "parameters": {parameter: value}}
        for operation in operations
    }


TICKET_CALLS = (
    "tickets_retrieve",
    "tickets_partial_update",
    "tickets_transition_create",
    "tickets_assign_create",
    "tickets_comments_list",
    "tickets_comments_create",
    "tickets_watchers_list",
    "tickets_watchers_create",
    "tickets_watchers_destroy",
    "tickets_history_list",
)
ARTICLE_CALLS = (
    "knowledge_articles_retrieve",
    "knowledge_articles_partial_update",
    "knowledge_articles_destroy",
    "knowledge_articles_transition_create",
    "knowledge_articles_versions_list",
    "knowledge_articles_restore_create",
    "knowledge_articles_diff_retrieve",
    "knowledge_articles_rate_retrieve",
    "knowledge_articles_rate_create",
    "knowledge_articles_feedback_list",
    "knowledge_articles_feedback_create",
    "knowledge_articles_attachments_list",
    "knowledge_articles_tickets_list",
    "knowledge_articles_tickets_create",
)
FORM_CALLS = (
    "forms_retrieve",
    "forms_update",
    "forms_partial_update",
    "forms_destroy",
    "forms_status_create",
)
PUBLISHED_FORM_CALLS = ("forms_schema_retrieve", "forms_submit_create")
SUBMISSION_CALLS = (
    "forms_submissions_retrieve",
    "forms_submissions_convert_create",
    "forms_submissions_reject_create",
)
MESSAGE_CALLS = (
    "email_messages_retrieve",
    "email_messages_release_create",
    "email_messages_reject_create",
    "email_messages_resend_create",
)
FEEDBACK_CALLS = (
    "knowledge_feedback_retrieve",
    "knowledge_feedback_resolve_create",
    "knowledge_feedback_ticket_create",
)


def _crud(prefix: str, *, put: bool = True) -> dict[str, dict[str, Any]]:
    """The reads and writes of one object by id (no PUT where the API has none)."""
    actions = ["retrieve", *(["update"] if put else []), "partial_update", "destroy"]
    return _links("id", ID, *(f"{prefix}_{action}" for action in actions))


LINKS: dict[str, dict[str, dict[str, Any]]] = {
    # Tickets: by key, from the ticket a call answers with.
    "tickets_create": _links("key", KEY, *TICKET_CALLS),
    "tickets_retrieve": _links("key", KEY, *TICKET_CALLS),
    "tickets_list": _links("key", "$response.body#/results/0/key", *TICKET_CALLS),
    "workflows_create": _crud("workflows"),
    # The knowledge base.
    "knowledge_articles_create": _links("id", ID, *ARTICLE_CALLS),
    "knowledge_articles_list": _links("id", FIRST_ID, *ARTICLE_CALLS),
    "knowledge_articles_feedback_create": _links("id", ID, *FEEDBACK_CALLS),
    "knowledge_feedback_list": _links("id", FIRST_ID, *FEEDBACK_CALLS),
    "knowledge_categories_create": _crud("knowledge_categories", put=False),
    "knowledge_tags_create": _crud("knowledge_tags", put=False),
    "knowledge_search_retrieve": _links(
        "search_id", "$response.body#/search_id", "knowledge_search_click_create"
    ),
    # Forms: a created form is a draft; publishing it (status/) opens schema/ and submit/.
    "forms_create": _links("slug", SLUG, *FORM_CALLS),
    "forms_status_create": _links("slug", SLUG, *PUBLISHED_FORM_CALLS),
    "forms_list": _links("slug", "$response.body#/results/0/slug", *FORM_CALLS),
    "forms_submit_create": {
        **_links("id", ID, *SUBMISSION_CALLS),
        "tickets_retrieve": {
            "operationId": "tickets_retrieve",
            "parameters": {"key": "$response.body#/ticket"},
        },
    },
    "forms_submissions_list": _links("id", FIRST_ID, *SUBMISSION_CALLS),
    # The SLA: clocks and breaches come from tickets, never from a create.
    "sla_breaches_list": _links(
        "id", FIRST_ID, "sla_breaches_retrieve", "sla_breaches_acknowledge_create"
    ),
    "sla_metrics_list": _links("id", FIRST_ID, "sla_metrics_retrieve"),
    "sla_policies_create": _crud("sla_policies"),
    "sla_calendars_create": _crud("sla_calendars"),
    # Mail: a posted message is stored, then processed; staff act on it by id.
    "email_accounts_create": {
        **_crud("email_accounts"),
        "email_inbound_create": {
            "operationId": "email_inbound_create",
            "parameters": {"account_id": ID},
        },
    },
    "email_inbound_create": _links("id", ID, *MESSAGE_CALLS),
    "email_messages_list": _links("id", FIRST_ID, *MESSAGE_CALLS),
    "events_list": _links("id", FIRST_ID, "events_retrieve"),
}
