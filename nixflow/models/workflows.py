"""Workflows: the stages a ticket moves through and the transitions between them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


# --- Workflows --------------------------------------------------------------------------
class StageCategory(models.TextChoices):
    """What a stage means to the clocks: SLA timers run, pause or stop by category."""

    NEW = "NEW", _("New")
    OPEN = "OPEN", _("Open")
    WAITING = "WAITING", _("Waiting")  # on the requester or a third party
    RESOLVED = "RESOLVED", _("Resolved")
    CLOSED = "CLOSED", _("Closed")


DONE_CATEGORIES = frozenset({StageCategory.RESOLVED, StageCategory.CLOSED})


class Workflow(models.Model):
    """A ticket lifecycle: ordered stages and the transitions allowed between them.

    Tickets created without a workflow go to the default one; at most one workflow is the
    default (a partial unique index says so).
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="nixflow_workflow_one_default",
                violation_error_message="Another workflow is already the default.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def initial_stage(self) -> Stage:
        """New tickets start in the workflow's first stage (lowest position)."""
        stage = self.stages.order_by("position").first()
        if stage is None:
            raise ValidationError(f"Workflow {self.name!r} has no stages.")
        return stage


class Stage(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=16, choices=StageCategory.choices)
    position = models.PositiveSmallIntegerField(
        help_text="Order in the workflow; the first stage is where new tickets start."
    )

    class Meta:
        ordering = ["workflow", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "name"], name="nixflow_stage_name_unique_in_workflow"
            ),
            # Deferred, so that the admin inline can swap two positions in one save.
            models.UniqueConstraint(
                fields=["workflow", "position"],
                name="nixflow_stage_position_unique_in_workflow",
                deferrable=models.Deferrable.DEFERRED,
            ),
            models.CheckConstraint(
                condition=models.Q(category__in=StageCategory.values),
                name="nixflow_stage_category_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name}: {self.name}"


class Transition(models.Model):
    """An allowed move between two stages of one workflow; anything else is refused."""

    # The workflow is implied by the stages; it is stored so that the admin's workflow
    # editor can show transitions inline (inlines need a foreign key to the parent), and
    # clean() keeps the three consistent.
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="transitions")
    to_stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100, blank=True, help_text='e.g. "Resolve", "Reopen".')
    requester_allowed = models.BooleanField(
        default=False,
        help_text="Requesters may take this transition on their own tickets "
        "(for example reopen or confirm a resolution). Agents may take every transition.",
    )

    class Meta:
        ordering = ["from_stage__position", "to_stage__position"]
        constraints = [
            models.UniqueConstraint(
                fields=["from_stage", "to_stage"], name="nixflow_transition_unique"
            ),
            models.CheckConstraint(
                condition=~models.Q(from_stage=models.F("to_stage")),
                name="nixflow_transition_not_to_itself",
                violation_error_message="A transition must lead to another stage.",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.from_stage.name} → {self.to_stage.name}"

    def clean(self) -> None:
        # A foreign key can't say "same workflow"; every write path calls full_clean.
        for name in ("from_stage", "to_stage"):
            stage = getattr(self, name) if getattr(self, f"{name}_id") else None
            if stage is not None and self.workflow_id and stage.workflow_id != self.workflow_id:
                raise ValidationError({name: f"Stage {stage.name!r} belongs to another workflow."})
