"""What an agent is told, and how they want to be told.

A ``Notification`` is one event told to one agent: the event's id and the recipient are
unique together, so one event never gives anyone two notifications, whatever the number
of reasons (they are all recorded, the strongest gives the kind). It exists when at
least one channel is on for the recipient: ``in_admin`` (listed, counted as unread) and
``email`` (mailed through the desk's outbound mail, see ``notifications.events``).

``NotificationPreference`` rows hold only what an agent changed: a missing row is the
default of its kind (``DEFAULTS``), so a new kind needs no data migration and a new
agent no rows.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from eventlog.models import EventLog
from nixflow.models import Comment, Ticket


class Kind(models.TextChoices):
    """What concerns an agent; the unit of preferences. Kinds are checked in code, not
    by a database constraint, so adding one changes no table (only the field's choices,
    a migration without SQL). Listed strongest first: ``RANK`` below."""

    ASSIGNED = "assigned", "Assigned to me"
    TEAM_UNASSIGNED = "team_unassigned", "A new ticket in my team, unassigned"
    MENTIONED = "mentioned", "Mentioned in a comment"
    REQUESTER_REPLIED = "requester_replied", "The requester replied on my ticket"
    SLA_BREACHED = "sla_breached", "An SLA target on my ticket was breached"
    SLA_AT_RISK = "sla_at_risk", "An SLA clock on my ticket is at risk"
    STAGE_CHANGED = "stage_changed", "A ticket I work on or watch changed stage"
    # About no ticket: the desk's own configuration, told to admins (kinds.register_notice).
    WEBHOOK_DISABLED = "webhook_disabled", "A webhook endpoint was disabled after failing"


class Reason(models.TextChoices):
    """Why a recipient was chosen, recorded with each notification (all of them, when
    several apply to one event)."""

    ASSIGNED = "assigned", "The ticket was assigned to you"
    MENTIONED = "mentioned", "You were mentioned"
    REQUESTER_REPLIED = "requester_replied", "The requester of your ticket replied"
    ASSIGNEE = "assignee", "You are the ticket's assignee"
    WATCHER = "watcher", "You watch the ticket"
    TEAM_MEMBER = "team_member", "You are in the ticket's team"
    ADMIN = "admin", "You are an admin of the desk"


# Strongest first: a recipient's notification takes the kind (then the reason) that comes
# first here among all that apply to the event.
RANK: dict[str, int] = {kind: position for position, kind in enumerate(Kind.values)}
REASON_RANK: dict[str, int] = {reason: position for position, reason in enumerate(Reason.values)}


class Channel(models.TextChoices):
    IN_ADMIN = "in_admin", "In the admin"
    EMAIL = "email", "E-mail"


# Defaults per kind: (in the admin, by e-mail). In the admin everything is listed; mail
# only for what needs the agent soon (their new work, a question to them, a customer
# waiting, a breach); stage changes and at-risk warnings would be mail noise, and the
# at-risk clock is already on the desk's queues. A new unassigned ticket in one's team
# is told to every member at once: mailed to each, a team's inflow would fill every
# member's inbox; the team's own address (``Team.email``) is the mail channel for it,
# and "Unassigned in my teams" on the desk lists them live.
DEFAULTS: dict[str, tuple[bool, bool]] = {
    Kind.ASSIGNED: (True, True),
    Kind.TEAM_UNASSIGNED: (True, False),
    Kind.MENTIONED: (True, True),
    Kind.REQUESTER_REPLIED: (True, True),
    Kind.SLA_BREACHED: (True, True),
    Kind.SLA_AT_RISK: (True, False),
    Kind.STAGE_CHANGED: (True, False),
    # Listed only: the mail channel threads with a ticket, and this is about none.
    Kind.WEBHOOK_DISABLED: (True, False),
}


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # None for a notice about no ticket (a webhook endpoint disabled): opening it goes to
    # the admin page of its event's subject instead.
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # The event told: no database constraint, as with the event log's own actor column
    # (the log is append-only and lives on its own).
    event = models.ForeignKey(
        EventLog, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # The comment the event is about (a reply, a mention), shown and mailed with it.
    comment = models.ForeignKey(
        Comment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    reasons = ArrayField(models.CharField(max_length=32), default=list)
    text = models.CharField(max_length=300)
    in_admin = models.BooleanField(default=True, help_text="Listed in the admin.")
    email = models.BooleanField(default=False, help_text="Mailed to the recipient.")
    created = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "recipient"], name="notifications_one_per_event_recipient"
            ),
        ]
        indexes = [
            # The agent's list, newest first, and its unread filter and count (the count
            # is on every admin page): both partial, on what the list shows.
            models.Index(
                fields=["recipient", "-created", "-id"],
                name="notif_recipient_created",
                condition=models.Q(in_admin=True),
            ),
            models.Index(
                fields=["recipient", "-created", "-id"],
                name="notif_recipient_unread",
                condition=models.Q(in_admin=True, read_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(models.Model):
    """An agent's choice for one kind; without a row, the kind's default (``DEFAULTS``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    in_admin = models.BooleanField()
    email = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notifications_pref_user_kind")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.kind}"
