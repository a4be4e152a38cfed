"""Macros: canned replies with placeholders, and the changes they make to a ticket.

A macro belongs to one agent (personal), to a team (every member may use it) or to the
whole desk (global). Its body is a template rendered in a sandbox (``macros.sandbox``);
its optional changes are made through the core's services when an agent applies it, so
a workflow or a permission refuses a macro's change exactly as a manual one.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from nixflow.models import Priority, Stage, Team

BODY_MAX = 10_000
TAG_NAME_MAX = 50


class Scope(models.TextChoices):
    PERSONAL = "personal", "Personal (only its owner)"
    TEAM = "team", "Team (the team's members)"
    GLOBAL = "global", "Global (every agent)"


class Assignment(models.TextChoices):
    KEEP = "", "Leave the assignee as it is"
    USER = "user", "Assign to the agent named below"
    APPLIER = "applier", "Assign to the agent applying the macro"
    UNASSIGN = "unassign", "Unassign"


# What a person sets on a macro, in the order the API shows it: the service's allowed
# keys, the admin form's service fields and the API's writable fields are these.
EDITABLE_FIELDS = (
    "name",
    "body",
    "is_internal",
    "scope",
    "owner",
    "owner_team",
    "set_stage",
    "set_priority",
    "set_team",
    "assignment",
    "assignee",
    "add_tags",
    "remove_tags",
    "is_active",
)


class Macro(models.Model):
    """A canned reply (public or an internal note) and the changes that go with it."""

    name = models.CharField(max_length=100)
    body = models.TextField(
        max_length=BODY_MAX,
        help_text="Plain text with placeholders such as {{ ticket.key }} or "
        "{{ requester.first_name }} (see docs/macros.md).",
    )
    is_internal = models.BooleanField(
        default=False, help_text="Post the body as an internal note instead of a public reply."
    )
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.PERSONAL)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="macros",
        help_text="A personal macro's owner.",
    )
    owner_team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="macros",
        verbose_name="team (scope)",
        help_text="A team macro's team.",
    )
    # --- What applying it changes (empty: nothing) ---
    set_stage = models.ForeignKey(
        Stage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="move to stage",
    )
    set_priority = models.CharField(
        max_length=8, choices=Priority.choices, blank=True, verbose_name="set priority"
    )
    set_team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="move to team",
    )
    assignment = models.CharField(
        max_length=8, choices=Assignment.choices, blank=True, default=Assignment.KEEP
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only with “Assign to the agent named below”.",
    )
    add_tags = ArrayField(
        models.CharField(max_length=TAG_NAME_MAX), default=list, blank=True, verbose_name="add tags"
    )
    remove_tags = ArrayField(
        models.CharField(max_length=TAG_NAME_MAX),
        default=list,
        blank=True,
        verbose_name="remove tags",
    )
    is_active = models.BooleanField(default=True)
    # --- Usage, counted atomically (F()) by the apply services ---
    usage_count = models.PositiveIntegerField(default=0, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__in=Scope.values), name="macros_macro_scope_valid"
            ),
            # Each scope names exactly its owner: a user, a team, or nobody.
            models.CheckConstraint(
                condition=(
                    Q(scope=Scope.PERSONAL, owner__isnull=False, owner_team__isnull=True)
                    | Q(scope=Scope.TEAM, owner__isnull=True, owner_team__isnull=False)
                    | Q(scope=Scope.GLOBAL, owner__isnull=True, owner_team__isnull=True)
                ),
                name="macros_macro_scope_owner",
                violation_error_message="A personal macro needs an owner, a team macro a "
                "team, and a global macro neither.",
            ),
            models.CheckConstraint(
                condition=Q(assignment__in=Assignment.values), name="macros_macro_assignment_valid"
            ),
            models.CheckConstraint(
                condition=Q(assignment=Assignment.USER, assignee__isnull=False)
                | (~Q(assignment=Assignment.USER) & Q(assignee__isnull=True)),
                name="macros_macro_assignee_named",
                violation_error_message="Name the agent exactly when the macro assigns to a "
                "named agent.",
            ),
            models.CheckConstraint(
                condition=Q(set_priority="") | Q(set_priority__in=Priority.values),
                name="macros_macro_priority_valid",
            ),
            # A name is unique within its scope's owner, regardless of case.
            models.UniqueConstraint(
                "owner",
                Lower("name"),
                condition=Q(scope=Scope.PERSONAL),
                name="macros_macro_personal_name_unique",
                violation_error_message="You have a personal macro with this name already.",
            ),
            models.UniqueConstraint(
                "owner_team",
                Lower("name"),
                condition=Q(scope=Scope.TEAM),
                name="macros_macro_team_name_unique",
                violation_error_message="The team has a macro with this name already.",
            ),
            models.UniqueConstraint(
                Lower("name"),
                condition=Q(scope=Scope.GLOBAL),
                name="macros_macro_global_name_unique",
                violation_error_message="A global macro with this name exists already.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope_label(self) -> str:
        """ "Personal (alice)", "Team (Billing)" or "Global": whose macro it is, in words."""
        if self.scope == Scope.PERSONAL and self.owner_id:
            return f"Personal ({self.owner})"
        if self.scope == Scope.TEAM and self.owner_team_id:
            return f"Team ({self.owner_team})"
        return "Global"


class BulkApply(models.Model):
    """One macro applied to many tickets in the background (``macros.tasks``): what was
    asked, and what came of it so far. The chunks add their counts and refusals as they
    commit; ``finished_at`` is set by the one that completes the count. Successes are
    counted only (each left its reply, history and ``macro.applied`` event on the
    ticket); refusals are kept with their reason, as the agent must act on them."""

    macro = models.ForeignKey(Macro, on_delete=models.SET_NULL, null=True, related_name="+")
    macro_name = models.CharField(max_length=100)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    custom = models.TextField(blank=True)
    total = models.PositiveIntegerField()
    done_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    # [{"ticket": "NF-12", "message": "..."}], in the order the chunks committed.
    failures = models.JSONField(default=list, blank=True)
    # The chunks applied, by number: a chunk delivered twice (at least once) is not
    # applied twice.
    chunks_done = ArrayField(models.PositiveIntegerField(), default=list, blank=True)
    created = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "bulk macro apply"
        verbose_name_plural = "bulk macro applies"

    def __str__(self) -> str:
        return f"{self.macro_name} on {self.total} tickets"

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None
