"""How the desk organises its work: teams of agents, the rules that route new tickets to
a team, tags, and the views agents save of the ticket list.

Why these live in the core: a ticket's team and tags are part of the ticket (filters,
the API, history), and the core imports no feature app, so what the ticket points at
must be the core's too.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from nixflow.models.tickets import Priority, Source
from nixflow.models.users import User
from nixflow.models.workflows import Workflow


class AssignmentMode(models.TextChoices):
    OFF = "off", _("Off (assigned by hand)")
    ROUND_ROBIN = "round_robin", _("Round-robin")
    LEAST_OPEN = "least_open", _("Fewest open tickets")


class Team(models.Model):
    """A group of agents that owns tickets. A new ticket gets its team from the routing
    rules (or the default team); the team's assignment mode then may pick an agent."""

    name = models.CharField(max_length=100)
    email = models.EmailField(
        blank=True, help_text="Receives the team's notices (new unassigned tickets)."
    )
    is_default = models.BooleanField(
        default=False, help_text="New tickets no routing rule matches go to this team."
    )
    assignment_mode = models.CharField(
        max_length=16, choices=AssignmentMode.choices, default=AssignmentMode.OFF
    )
    max_open_per_agent = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Auto-assignment skips members with this many open tickets; empty: no cap.",
    )
    reassign_when_away = models.BooleanField(
        default=False,
        help_text="When a member goes away, their open tickets of this team return to the "
        "team's queue.",
    )
    members: models.ManyToManyField[User, TeamMembership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams"
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="nixflow_team_name_ci_unique",
                violation_error_message="A team with this name already exists.",
            ),
            # At most one default team.
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="nixflow_team_one_default",
                violation_error_message="Another team is the default team already.",
            ),
            models.CheckConstraint(
                condition=models.Q(assignment_mode__in=AssignmentMode.values),
                name="nixflow_team_assignment_mode_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """An agent in a team (an agent may be in several). ``last_assigned_at`` is the
    round-robin's memory: the next ticket goes to the member assigned longest ago."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    is_lead = models.BooleanField(default=False)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team", "user"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="nixflow_team_member_once")
        ]
        indexes = [models.Index(fields=["user"], name="nixflow_membership_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class RoutingRule(models.Model):
    """Sends a new ticket to a team when every condition it sets matches; rules are tried
    by ``position``, the first match wins, and no match means the default team. An
    empty condition matches anything."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="routing_rules")
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=8, choices=Source.choices, blank=True)
    # Where within the source: a mail account's name, a form's slug (case-insensitive).
    origin = models.CharField(
        max_length=100,
        blank=True,
        help_text="For mail, the receiving account's name; for forms, the form's slug.",
    )
    priority = models.CharField(max_length=8, choices=Priority.choices, blank=True)
    requester_domain = models.CharField(
        max_length=253,
        blank=True,
        help_text="The requester's e-mail domain, e.g. example.com (subdomains not included).",
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A label agents put on tickets. Names are kept as typed and unique regardless of
    case ("VPN" and "vpn" are one tag)."""

    name = models.CharField(max_length=50)
    created = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="nixflow_tag_name_ci_unique",
                violation_error_message="A tag with this name already exists.",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="nixflow_tag_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class SavedView(models.Model):
    """A view of the ticket list an agent saved: the changelist's filters, search and
    ordering as its query string, personal or shared with a team."""

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_views",
        help_text="Shared with this team's members; empty: personal.",
    )
    query = models.CharField(
        max_length=2000, blank=True, help_text="The ticket list's query string (filters, q, o)."
    )
    position = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "name"]
        indexes = [
            models.Index(fields=["owner"], name="nixflow_savedview_owner"),
            models.Index(fields=["team"], name="nixflow_savedview_team"),
        ]

    def __str__(self) -> str:
        return self.name
