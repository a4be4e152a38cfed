"""How tickets relate to each other and who is working on one right now: links
(related, duplicate of, blocks) and presence (who has the ticket open or is writing a
reply, for the collision warning)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from nixflow.models.tickets import Ticket


class LinkKind(models.TextChoices):
    """A link is stored once, from ``source`` to ``target``; each side reads it in its
    own words (``LINK_LABELS``): NF-2 "duplicate of" NF-1 is NF-1 "has duplicate" NF-2."""

    RELATED = "related", "related to"
    DUPLICATE_OF = "duplicate_of", "duplicate of"
    BLOCKS = "blocks", "blocks"


# kind -> (as the source reads it, as the target reads it)
LINK_LABELS: dict[str, tuple[str, str]] = {
    LinkKind.RELATED: ("related to", "related to"),
    LinkKind.DUPLICATE_OF: ("duplicate of", "has duplicate"),
    LinkKind.BLOCKS: ("blocks", "blocked by"),
}


class TicketLink(models.Model):
    """A typed link between two tickets, shown on both (nixflow.services.links).

    One row per link: a pair has at most one link of each kind in either direction
    (the service refuses NF-1 blocks NF-2 when NF-2 blocks NF-1 exists, and a second
    "related" either way), so that each side shows it once.
    """

    source = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        related_name="links_out",
        db_index=False,  # nixflow_ticketlink_unique leads with it
    )
    target = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        related_name="links_in",
        db_index=False,  # nf_ticketlink_target leads with it
    )
    kind = models.CharField(max_length=16, choices=LinkKind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "target", "kind"], name="nixflow_ticketlink_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")),
                name="nixflow_ticketlink_not_self",
            ),
        ]
        indexes = [models.Index(fields=["target", "kind"], name="nf_ticketlink_target")]

    def __str__(self) -> str:
        return f"{Ticket.key_for(self.source_id)} {self.kind} {Ticket.key_for(self.target_id)}"


class TicketPresence(models.Model):
    """Who has a ticket's page open, and whether they are writing a reply: one row per
    (ticket, user), refreshed by the page's heartbeat (``seen_at``) and ignored once
    older than a few heartbeats (nixflow.services.presence).

    In PostgreSQL rather than the cache: the desk always has it, an upsert is exact
    when two agents beat at once (a cache holding one entry per ticket would lose one
    of two concurrent writes), and "who else is here" is one indexed query.
    """

    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        related_name="presence",
        db_index=False,  # nixflow_presence_unique leads with it
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presence"
    )
    composing = models.BooleanField(default=False)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-seen_at"]
        verbose_name_plural = "presence"
        constraints = [
            models.UniqueConstraint(fields=["ticket", "user"], name="nixflow_presence_unique"),
        ]
        indexes = [models.Index(fields=["seen_at"], name="nf_presence_seen")]

    def __str__(self) -> str:
        doing = "writing a reply on" if self.composing else "viewing"
        return f"{self.user} {doing} {Ticket.key_for(self.ticket_id)}"
