"""Every event the knowledge app records in the event log, and what each payload holds.

Each service of ``knowledge.services`` that changes the knowledge base records exactly
one of these in its own transaction (``publish`` below, through
``eventlog.services.event_record``), so the event and the change commit or roll back
together. The services name them by these constants only. Reads are not events:
article views and searches have tables of their own (far too many for the audit trail).

Types are ``knowledge.<entity>.<verb>``, the dotted shape of the other apps
(``ticket.created``). The event log keeps payloads forever, so their shapes below are a
contract: add keys if needed, never rename or drop one. Every event also carries its
subject (app, model and id of the row), its actor (None: the system) and its time in
the event log's own columns; ids in payloads are primary keys.

Events recorded before this naming (and before update payloads carried old and new
values) used ``knowledge.<entity>_<verb>`` types, for example
``knowledge.article_created`` or ``knowledge.category_updated`` with
``{"fields": [names]}``: ``FORMER_TYPES`` maps each of them to its type today.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from eventlog.services import event_record

# --- Articles (subject: the article) ------------------------------------------------------
# {"version": 1, "title": str, "visibility": "PUBLIC" | "INTERNAL"}
ARTICLE_CREATED = "knowledge.article.created"
# {"fields": [names of changed fields], "version": the current version number}
ARTICLE_UPDATED = "knowledge.article.updated"
# {"version": the new version number, "restored_from": the restored version's number}
ARTICLE_RESTORED = "knowledge.article.restored"
# Status changes: {"from": old status, "to": new status, "version": int}
ARTICLE_SUBMITTED = "knowledge.article.submitted"  # to IN_REVIEW
ARTICLE_PUBLISHED = "knowledge.article.published"
ARTICLE_ARCHIVED = "knowledge.article.archived"
ARTICLE_RETURNED_TO_DRAFT = "knowledge.article.returned_to_draft"
# {"title": str, "version": int}
ARTICLE_DELETED = "knowledge.article.deleted"
# {"helpful": bool, "changed": whether the reader changed an earlier answer}
ARTICLE_RATED = "knowledge.article.rated"
# {"ticket_id": int}; the event's ticket_key is the ticket's key
ARTICLE_LINKED_TO_TICKET = "knowledge.article.linked_to_ticket"
ARTICLE_UNLINKED_FROM_TICKET = "knowledge.article.unlinked_from_ticket"

# --- Attachments (subject: the attachment) ------------------------------------------------
# added: {"article_id": int, "sha256": hex, "size": bytes}; removed: without "size"
ATTACHMENT_ADDED = "knowledge.attachment.added"
ATTACHMENT_REMOVED = "knowledge.attachment.removed"

# --- Feedback (subject: the feedback) -----------------------------------------------------
# {"article_id": int}
FEEDBACK_CREATED = "knowledge.feedback.created"
# {"status": "RESOLVED" | "DISMISSED", "article_id": int}
FEEDBACK_RESOLVED = "knowledge.feedback.resolved"
# {"article_id": int}; the event's ticket_key is the new ticket's key
FEEDBACK_TURNED_INTO_TICKET = "knowledge.feedback.turned_into_ticket"

# --- Categories and tags (subject: the category or tag) -----------------------------------
# created and deleted: every field the services write, as it was then:
#   category {"name": str, "slug": str, "parent": id | null, "description": str,
#             "position": int}
#   tag      {"name": str, "slug": str}
#   deleted tags add "articles": how many articles the tag was removed from.
# updated: {"changes": {field: [old, new], ...}}, only the fields that changed, values
#   as above (the parent as an id), in the order they were given.
CATEGORY_CREATED = "knowledge.category.created"
CATEGORY_UPDATED = "knowledge.category.updated"
CATEGORY_DELETED = "knowledge.category.deleted"
TAG_CREATED = "knowledge.tag.created"
TAG_UPDATED = "knowledge.tag.updated"
TAG_DELETED = "knowledge.tag.deleted"

ALL_TYPES = frozenset(
    {
        ARTICLE_CREATED,
        ARTICLE_UPDATED,
        ARTICLE_RESTORED,
        ARTICLE_SUBMITTED,
        ARTICLE_PUBLISHED,
        ARTICLE_ARCHIVED,
        ARTICLE_RETURNED_TO_DRAFT,
        ARTICLE_DELETED,
        ARTICLE_RATED,
        ARTICLE_LINKED_TO_TICKET,
        ARTICLE_UNLINKED_FROM_TICKET,
        ATTACHMENT_ADDED,
        ATTACHMENT_REMOVED,
        FEEDBACK_CREATED,
        FEEDBACK_RESOLVED,
        FEEDBACK_TURNED_INTO_TICKET,
        CATEGORY_CREATED,
        CATEGORY_UPDATED,
        CATEGORY_DELETED,
        TAG_CREATED,
        TAG_UPDATED,
        TAG_DELETED,
    }
)

# The types of events recorded before the dotted naming: old type -> type today.
FORMER_TYPES = {
    "knowledge." + new.removeprefix("knowledge.").replace(".", "_", 1): new for new in ALL_TYPES
}


# Same shape as email_integration.events.publish: each app's own way into the event log.
def publish(
    type: str,
    *,
    subject: models.Model,
    actor: Any | None,
    payload: dict[str, Any] | None = None,
    ticket_key: str = "",
) -> None:
    """Append the event in the caller's transaction (``actor`` None: the system)."""
    event_record(
        type=type,
        subject=subject,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        payload=payload or {},
        ticket_key=ticket_key,
    )
