"""Tickets and what hangs off them: comments, attachments, watchers, history."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from nixflow.models.workflows import Stage, Workflow


# --- Tickets ----------------------------------------------------------------------------
class Priority(models.TextChoices):
    LOW = "LOW", _("Low")
    NORMAL = "NORMAL", _("Normal")
    HIGH = "HIGH", _("High")
    URGENT = "URGENT", _("Urgent")


# Priorities are stored by name (readable in SQL, the API and history); this rank orders
# them for `ordering=priority`.
PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Source(models.TextChoices):
    WEB = "WEB", _("Web")
    API = "API", _("API")
    EMAIL = "EMAIL", _("Email")
    FORM = "FORM", _("Form")


TICKET_KEY_PREFIX = "NF-"
TICKET_KEY_PATTERN = r"NF-[1-9][0-9]{0,17}"


def priority_rank() -> models.Case:
    """The rank of a ticket's priority as SQL (LOW 0 ... URGENT 3). The index
    nf_ticket_priority_rank is built on this very expression, so that ordering by it
    walks the index: change both together (a new migration rebuilds the index)."""
    return models.Case(
        *(models.When(priority=p, then=models.Value(r)) for p, r in PRIORITY_RANK.items()),
        output_field=models.SmallIntegerField(),
    )


class SearchDocumentField(SearchVectorField):
    """A ticket's full-text search document, written only by ``nixflow.search`` (in SQL,
    in the transaction of the write that changed the text).

    The ORM neither reads nor writes it: selected, it reads as NULL (a list of 50
    tickets would otherwise carry 50 whole conversations to Python), and a ``save()``
    leaves the stored value alone (``SET col = col``), so that a ticket loaded before a
    comment rewrote its document cannot put the old one back. Searches use the column
    in SQL (``F("search_agent")`` in a WHERE clause reads it as usual).
    """

    def select_format(self, compiler: Any, sql: str, params: Any) -> tuple[str, Any]:
        return "NULL", []

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        return None if add else models.F(self.attname)


class TicketQuerySet(models.QuerySet["Ticket"]):
    def with_priority_rank(self) -> TicketQuerySet:
        return self.annotate(priority_rank=priority_rank())


class Ticket(models.Model):
    """A request from a requester, moving through the stages of its workflow.

    The key is ``NF-<id>``: the primary key is the ticket number, so a lookup by key is a
    primary-key lookup and needs no second unique index or counter table (numbers of
    rolled-back creations are skipped, as with any sequence). The key is also the mail
    subject token ``[NF-1042]``.
    """

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="tickets")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="tickets")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    # The last change the requester can see: the ticket's creation, a public comment, a
    # stage change, a new title or description (the services keep it). ``updated`` also
    # moves for internal notes, assignments and tags, so the portal shows and sorts by
    # this one instead: an internal note must not show through as "activity". Empty for
    # rows written without the services (load_data): read it as Coalesce(it, created).
    public_updated = models.DateTimeField(null=True, blank=True, editable=False)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The earliest deadline among the ticket's running SLA clocks; empty when none runs
    # (no policy, all met, or paused). The SLA app keeps it (sla.clocks); it lives on the
    # ticket so that lists can sort and filter by urgency along one index instead of
    # aggregating clocks per row.
    sla_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The team that owns the ticket (routing rules set it; nixflow.models.teams).
    team = models.ForeignKey(
        "nixflow.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        db_index=False,  # nf_ticket_team_created leads with it
    )
    tags = models.ManyToManyField("nixflow.Tag", blank=True, related_name="tickets")
    # Optimistic concurrency: every service that changes the ticket or its conversation
    # adds one (under the ticket's row lock), so "the version I loaded" tells a client
    # whether anything changed since (the API's ETag / If-Match, the reply composer).
    # db_default: a rolling deploy's old release inserts tickets without it.
    version = models.IntegerField(default=1, db_default=1, editable=False)
    # Set when the ticket was merged into another (nixflow.services.merge): it is
    # closed, its conversation lives on in the target, and mail to its thread goes there.
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="merged_tickets",
        db_index=False,  # nf_ticket_merged_into: partial, only merged tickets are indexed
    )
    # The full-text search documents (nixflow.search keeps them, in the transaction of
    # every write that changes the text): title (weight A), description (B) and comments
    # (C). Agents search the whole conversation; requesters the public one, so that an
    # internal note can never match for them. Empty until written or backfilled
    # (``manage.py backfill_search``).
    search_agent = SearchDocumentField(null=True, editable=False)
    search_public = SearchDocumentField(null=True, editable=False)
    # The values of the desk's custom fields (nixflow.models.fields.TicketField), keyed by
    # the field's name: {"order_number": "A-1", "root_cause": "disk"}. Written only by
    # the services, which validate each value against its field's type.
    # db_default: a rolling deploy's old release inserts tickets without it.
    custom_fields = models.JSONField(
        default=dict, db_default=models.Value({}, models.JSONField()), blank=True, editable=False
    )
    # When the ticket entered its current stage (creation, every transition): what time
    # rules ("waiting for more than 5 business days") measure from. NULL on rows written
    # without the services (load_data) until backfilled: read it as Coalesce(it, created).
    stage_entered_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        # Each list filter is paired with the default ordering, so that "one page of a
        # filter" is an index range scan whatever the size of the table.
        indexes = [
            models.Index(fields=["-created"], name="nf_ticket_created"),
            models.Index(fields=["-updated"], name="nf_ticket_updated"),
            models.Index(fields=["stage", "-created"], name="nf_ticket_stage_created"),
            models.Index(fields=["assignee", "-created"], name="nf_ticket_assignee_created"),
            models.Index(fields=["requester", "-created"], name="nf_ticket_requester_created"),
            models.Index(fields=["workflow", "-created"], name="nf_ticket_workflow_created"),
            models.Index(fields=["priority", "-created"], name="nf_ticket_priority_created"),
            models.Index(fields=["team", "-created"], name="nf_ticket_team_created"),
            # A team's waiting queue, oldest first (nixflow.services.assignment): only
            # unassigned tickets, so that finding the oldest does not walk past a team's
            # years of assigned ones.
            models.Index(
                fields=["team", "created"],
                condition=models.Q(assignee__isnull=True),
                name="nf_ticket_team_waiting",
            ),
            # The desk's counts (my open tickets, unassigned): assignee and open stages,
            # answered from the index alone.
            models.Index(fields=["assignee", "stage"], name="nf_ticket_assignee_stage"),
            models.Index(fields=["source", "-created"], name="nf_ticket_source_created"),
            models.Index(
                priority_rank().desc(), models.F("created").desc(), name="nf_ticket_priority_rank"
            ),
            # Whole, not partial: "most urgent first" is ORDER BY sla_due_at (NULLS LAST,
            # the btree's own order), which a partial index could not serve. With the
            # list's tie-break (created, id), so that the sort walks it both ways and a
            # page inside the tickets without a due time is still a range of it.
            models.Index(
                fields=["sla_due_at", "-created", "-id"], name="nf_ticket_sla_due_created"
            ),
            # `search` is icontains, which PostgreSQL runs as UPPER(col) LIKE UPPER(%q%):
            # trigram indexes on those expressions serve it without a sequential scan.
            models.Index(
                fields=["merged_into"],
                condition=models.Q(merged_into__isnull=False),
                name="nf_ticket_merged_into",
            ),
            GinIndex(OpClass(Upper("title"), name="gin_trgm_ops"), name="nf_ticket_title_trgm"),
            GinIndex(
                OpClass(Upper("description"), name="gin_trgm_ops"),
                name="nf_ticket_descr_trgm",
            ),
            GinIndex(fields=["search_agent"], name="nf_ticket_search_agent"),
            GinIndex(fields=["search_public"], name="nf_ticket_search_public"),
            # ?field.<name>=value is custom_fields @> {"name": value}: containment, which
            # jsonb_path_ops serves for every field with one index.
            GinIndex(
                OpClass("custom_fields", name="jsonb_path_ops"), name="nf_ticket_custom_fields"
            ),
            # The time rules' scan: tickets of a stage that entered it before a cutoff.
            models.Index(fields=["stage", "stage_entered_at"], name="nf_ticket_stage_entered"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(title=""), name="nixflow_ticket_title_not_empty"
            ),
            models.CheckConstraint(
                condition=models.Q(priority__in=Priority.values),
                name="nixflow_ticket_priority_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=Source.values), name="nixflow_ticket_source_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(first_response_at__isnull=True)
                | models.Q(first_response_at__gte=models.F("created")),
                name="nixflow_ticket_first_response_after_created",
            ),
            models.CheckConstraint(
                condition=models.Q(closed_at__isnull=True) | models.Q(resolved_at__isnull=False),
                name="nixflow_ticket_closed_implies_resolved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.title}"

    @property
    def key(self) -> str:
        return self.key_for(self.pk)

    @staticmethod
    def key_for(number: int) -> str:
        """12 → ``"NF-12"``: a ticket's key from its number, without loading the ticket
        (lists that hold only a ``ticket_id`` use it); the inverse of number_from_key."""
        return f"{TICKET_KEY_PREFIX}{number}"

    @staticmethod
    def number_from_key(key: str) -> int | None:
        """``"NF-12"`` → 12; None for anything that is not a ticket key."""
        if not re.fullmatch(TICKET_KEY_PATTERN, key, flags=re.IGNORECASE):
            return None
        return int(key[len(TICKET_KEY_PREFIX) :])


def attachment_path(instance: Attachment, filename: str) -> str:
    # A random folder per file: names are kept for download but never collide or guess.
    return f"attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}/{filename}"


class Comment(models.Model):
    """A reply on a ticket. Internal comments are for agents only, in every interface."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="comments"
    )
    body = models.TextField()
    is_internal = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "id"]
        indexes = [models.Index(fields=["ticket", "created"], name="nf_comment_ticket")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(body=""), name="nixflow_comment_body_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.ticket.key}"


class Attachment(models.Model):
    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename


class TicketWatcher(models.Model):
    """A user notified of a ticket's public activity; requesters also see what they watch."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="watchers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watching"
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "user"], name="nixflow_watcher_unique"),
        ]
        # The unique index serves "watchers of a ticket"; this one "tickets a user watches"
        # (a requester's ticket list).
        indexes = [models.Index(fields=["user", "ticket"], name="nf_watcher_user")]

    def __str__(self) -> str:
        return f"{self.user} watches {self.ticket.key}"


class HistoryLog(models.Model):
    """One changed field of a ticket: who, when, from what to what.

    Values are stored as the text a person reads (stage and user names, choice values),
    not ids, so history stays readable after the referenced row is renamed or removed.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="history")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for changes made by the system (scheduled tasks, automation).",
    )
    field = models.CharField(max_length=64)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    # What made the change when it was not a person's own action: "rule: VIP to Tier 2
    # (v3)" for an automation rule. Empty for changes made directly.
    via = models.CharField(max_length=200, blank=True, default="", db_default="")

    class Meta:
        ordering = ["created", "id"]
        verbose_name_plural = "history"
        indexes = [models.Index(fields=["ticket", "created"], name="nf_history_ticket")]

    def __str__(self) -> str:
        return f"{self.ticket.key} {self.field}: {self.old_value!r} → {self.new_value!r}"
