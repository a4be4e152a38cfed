"""Links between articles and the tickets they helped with, made by agents."""

from __future__ import annotations

from django.db import transaction

from knowledge import events
from knowledge.models import KnowledgeArticle, KnowledgeArticleTicketLink
from knowledge.services._common import require_agent
from nixflow.models import Ticket, User


@transaction.atomic
def article_link_ticket(
    *, article: KnowledgeArticle, ticket: Ticket, actor: User | None
) -> KnowledgeArticleTicketLink:
    """Record that ``article`` helped with ``ticket`` (idempotent)."""
    require_agent(actor, "link articles to tickets")
    link, created = KnowledgeArticleTicketLink.objects.get_or_create(
        article=article, ticket=ticket, defaults={"linked_by": actor}
    )
    # Link and unlink record mirror events: same shape, opposite facts.
    if created:
        events.publish(
            events.ARTICLE_LINKED_TO_TICKET,
            subject=article,
            actor=actor,
            payload={"ticket_id": ticket.pk},
            ticket_key=ticket.key,
        )
    return link


@transaction.atomic
def article_unlink_ticket(*, article: KnowledgeArticle, ticket: Ticket, actor: User | None) -> bool:
    require_agent(actor, "unlink articles from tickets")
    deleted, _ = KnowledgeArticleTicketLink.objects.filter(article=article, ticket=ticket).delete()
    if deleted:
        events.publish(
            events.ARTICLE_UNLINKED_FROM_TICKET,
            subject=article,
            actor=actor,
            payload={"ticket_id": ticket.pk},
            ticket_key=ticket.key,
        )
    return bool(deleted)
