"""What the knowledge app publishes to the event log.

Every service of ``knowledge.services`` that changes the knowledge base records one of
these events in its own transaction (``eventlog.services.event_record``), so the event
and the change commit or roll back together. Reads are not events: article views and
searches have their own tables (they are far too many for the audit trail).
"""

from __future__ import annotations

from typing import Any

from django.db import models

from eventlog.services import event_record

ARTICLE_CREATED = "knowledge.article_created"
ARTICLE_UPDATED = "knowledge.article_updated"
ARTICLE_RESTORED = "knowledge.article_restored"
ARTICLE_SUBMITTED = "knowledge.article_submitted"
ARTICLE_PUBLISHED = "knowledge.article_published"
ARTICLE_ARCHIVED = "knowledge.article_archived"
ARTICLE_RETURNED_TO_DRAFT = "knowledge.article_returned_to_draft"
ARTICLE_DELETED = "knowledge.article_deleted"
ARTICLE_RATED = "knowledge.article_rated"
ARTICLE_LINKED_TO_TICKET = "knowledge.article_linked_to_ticket"
ARTICLE_UNLINKED_FROM_TICKET = "knowledge.article_unlinked_from_ticket"
ATTACHMENT_ADDED = "knowledge.attachment_added"
ATTACHMENT_REMOVED = "knowledge.attachment_removed"
FEEDBACK_CREATED = "knowledge.feedback_created"
FEEDBACK_RESOLVED = "knowledge.feedback_resolved"
FEEDBACK_TURNED_INTO_TICKET = "knowledge.feedback_turned_into_ticket"
CATEGORY_CREATED = "knowledge.category_created"
CATEGORY_UPDATED = "knowledge.category_updated"
CATEGORY_DELETED = "knowledge.category_deleted"
TAG_CREATED = "knowledge.tag_created"
TAG_UPDATED = "knowledge.tag_updated"
TAG_DELETED = "knowledge.tag_deleted"


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
