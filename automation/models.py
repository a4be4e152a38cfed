"""Automation rules: "when this happens to a ticket and these conditions hold, do that".

A rule has a trigger (an event such as "ticket created", or ``time`` for a rule the
periodic scan evaluates), conditions (all or any of them) and ordered actions. The
conditions and actions are JSON lists whose shapes ``automation.conditions`` and
``automation.actions`` define and validate; they are kept as JSON rather than as rows
because a rule is edited, versioned and dry-run as one thing.

Every change to a rule adds one to ``version``; what a rule did is recorded with its
name and version (``eventlog.context.acting_via``), so history says which rule, as it
stood then, made a change.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from nixflow.models import Ticket


class Trigger(models.TextChoices):
    TICKET_CREATED = "ticket_created", _("Ticket created")
    TICKET_UPDATED = "ticket_updated", _("Ticket updated")
    REQUESTER_COMMENTED = "requester_commented", _("Requester commented")
    AGENT_COMMENTED = "agent_commented", _("Agent commented")
    STAGE_CHANGED = "stage_changed", _("Stage changed")
    SLA_AT_RISK = "sla_at_risk", _("SLA at risk")
    SLA_BREACHED = "sla_breached", _("SLA breached")
    MAIL_RECEIVED = "mail_received", _("Mail received")
    CSAT_RECEIVED = "csat_received", _("Satisfaction rating received")
    TIME = "time", _("Time passed (checked periodically)")


class Match(models.TextChoices):
    ALL = "all", _("All conditions")
    ANY = "any", _("Any condition")


class TimeBasis(models.TextChoices):
    """What a time rule measures from."""

    STAGE_ENTERED = "stage_entered", _("Entering its current stage")
    CREATED = "created", _("Its creation")
    UPDATED = "updated", _("Its last change")
    PUBLIC_UPDATED = "public_updated", _("Its last change the requester saw")


class TimeUnit(models.TextChoices):
    HOURS = "hours", _("Hours")
    DAYS = "days", _("Days")
    BUSINESS_HOURS = "business_hours", _("Business hours")
    BUSINESS_DAYS = "business_days", _("Business days")


class Rule(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(
        _("is active"),
        default=False,
        help_text=_("Rules start disabled: dry-run one before enabling it."),
    )
    position = models.PositiveIntegerField(
        _("position"), default=0, help_text=_("Rules of a trigger run in this order, lowest first.")
    )
    trigger = models.CharField(_("trigger"), max_length=24, choices=Trigger.choices)
    match = models.CharField(_("match"), max_length=3, choices=Match.choices, default=Match.ALL)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    actions = models.JSONField(_("actions"), default=list, blank=True)
    stop_processing = models.BooleanField(
        _("stop processing"),
        default=False,
        help_text=_("When this rule acts, later rules of the trigger do not run."),
    )
    # A time rule: "<basis> more than <amount> <unit> ago" (business units count the
    # calendar's working time).
    time_basis = models.CharField(
        _("time basis"), max_length=16, choices=TimeBasis.choices, blank=True
    )
    time_amount = models.PositiveIntegerField(_("time amount"), null=True, blank=True)
    time_unit = models.CharField(
        _("time unit"), max_length=16, choices=TimeUnit.choices, blank=True
    )
    calendar = models.ForeignKey(
        "sla.BusinessCalendar",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("calendar"),
        help_text=_(
            "The working hours business units count (and the business-hours condition reads)."
        ),
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated = models.DateTimeField(_("updated"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        ordering = ["trigger", "position", "id"]
        indexes = [
            models.Index(
                fields=["trigger", "position", "id"],
                condition=models.Q(is_active=True),
                name="automation_rule_active",
            )
        ]

    def __str__(self) -> str:
        return self.name


class RuleFiring(models.Model):
    """A time rule acted on a ticket in one state: acted once per (rule, ticket, state).

    ``state`` names what the rule measured from, e.g. the instant the ticket entered its
    stage: when the ticket leaves and comes back, the state is new and the rule may act
    again; while it sits, the scan skips it."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=64)
    fired_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "ticket", "state"], name="automation_firing_once"
            )
        ]
        indexes = [models.Index(fields=["ticket"], name="automation_firing_ticket")]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.ticket_id} ({self.state})"
