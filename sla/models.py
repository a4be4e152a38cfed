"""SLA policies, business calendars, the clocks running on tickets, and their breaches.

A policy applies to the tickets its conditions match (first active match by ``order``)
and sets, per priority, a target for each metric in *business* time: time inside its
calendar's working hours, outside its holidays. Each target becomes an ``SLAMetric`` on
the ticket: a clock that runs, pauses (while the ticket waits on someone else) and
completes (met or breached). The monitor (``sla.services.sla_scan``) marks clocks at
risk and breached; the dashboard and API read these tables.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from nixflow.models import Priority, Source, Ticket, Workflow


# Choices, fields and Meta blocks below are alike in shape to other apps' models and to
# one another (the duplicates report lists them): declarations of different rows and
# values, each tied to its own migrations, so they stay written out.
class MetricType(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"


class SLAStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    AT_RISK = "at_risk", "At risk"
    MET = "met", "Met"
    BREACHED = "breached", "Breached"
    CANCELLED = "cancelled", "Cancelled"


# Clocks that are counting: the monitor watches these.
TICKING = (SLAStatus.RUNNING, SLAStatus.AT_RISK)
# Clocks that can still be completed, resumed or re-targeted.
OPEN_STATUSES = (SLAStatus.RUNNING, SLAStatus.AT_RISK, SLAStatus.PAUSED)
# A clock that waits: paused, or breached and still open but not counting (the ticket
# waits on the requester). A ticket whose open clocks all wait is "paused" on the desk.
WAITING_CLOCK = models.Q(status=SLAStatus.PAUSED) | models.Q(
    status=SLAStatus.BREACHED, completed_at__isnull=True, running_since__isnull=True
)


class SLABreachType(models.TextChoices):
    """What was breached; one type per metric type."""

    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)."
        ) from error


class BusinessCalendar(models.Model):
    """When the SLA clock counts. With no working intervals it is 24x7.

    Holidays come from the ``holidays`` package for ``holiday_country`` (ISO 3166 code,
    optional ``holiday_subdivision``) plus the dates listed as ``CalendarHoliday``; on a
    holiday no working time counts at all.
    """

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    holiday_country = models.CharField(
        max_length=2, blank=True, help_text="ISO country code for public holidays, e.g. DE."
    )
    holiday_subdivision = models.CharField(
        max_length=10, blank=True, help_text="Optional subdivision, e.g. BY for Bavaria."
    )
    # Bumped on every change to the calendar, its intervals or holidays, so that cached
    # computations (and clocks computed with them) can tell they are stale.
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.holiday_country:
            import holidays

            try:
                holidays.country_holidays(
                    self.holiday_country, subdiv=self.holiday_subdivision or None
                )
            except NotImplementedError as error:
                raise ValidationError({"holiday_country": str(error)}) from error


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WorkingInterval(models.Model):
    """Working time starting on ``weekday`` at ``start`` (local time) until ``end``.

    An ``end`` at or before ``start`` runs past midnight into the next day (22:00-06:00);
    ``start == end == 00:00`` is the whole day.
    """

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="intervals"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        ordering = ["calendar", "weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weekday__gte=0, weekday__lte=6), name="sla_interval_weekday"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class CalendarHoliday(models.Model):
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="sla_holiday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class SLAPolicy(models.Model):
    """Targets for the tickets its conditions match; empty conditions match everything."""

    name = models.CharField(max_length=100, unique=True)
    order = models.PositiveIntegerField(
        default=100, help_text="Policies are tried in this order; the first match applies."
    )
    is_active = models.BooleanField(default=True)
    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sla_policies",
        help_text="Only tickets of this workflow (empty: any workflow).",
    )
    priorities = ArrayField(
        models.CharField(max_length=8, choices=Priority.choices),
        default=list,
        blank=True,
        help_text="Only tickets of these priorities (empty: any priority).",
    )
    sources = ArrayField(
        models.CharField(max_length=8, choices=Source.choices),
        default=list,
        blank=True,
        help_text="Only tickets from these sources (empty: any source).",
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        help_text="Working time the clocks count (empty: 24x7).",
    )
    warning_threshold = models.PositiveSmallIntegerField(
        default=75,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="A clock is at risk once this percentage of its target has elapsed.",
    )
    escalation_email = models.EmailField(
        blank=True, help_text="Also told of every breach under this policy."
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(warning_threshold__gte=1, warning_threshold__lte=99),
                name="sla_policy_warning_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def matches(self, ticket: Ticket) -> bool:
        return (
            self.is_active
            and (self.workflow_id is None or self.workflow_id == ticket.workflow_id)
            and (not self.priorities or ticket.priority in self.priorities)
            and (not self.sources or ticket.source in self.sources)
        )


class SLATarget(models.Model):
    """How long (business minutes) a metric may take for tickets of one priority."""

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(max_length=8, choices=Priority.choices)
    metric_type = models.CharField(max_length=16, choices=MetricType.choices)
    minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["policy", "metric_type", "priority"]
        verbose_name = "SLA target"
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "priority", "metric_type"], name="sla_target_unique"
            ),
            models.CheckConstraint(condition=models.Q(minutes__gte=1), name="sla_target_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_type_display()} {self.priority}: {self.minutes} min"


class SLAMetric(models.Model):
    """One clock on one ticket: e.g. "first response within 4 business hours".

    Business time is accounted in seconds. While the clock runs, ``deadline`` and
    ``warning_at`` are wall-clock instants computed from the calendar and the time still
    left; while it is paused they are empty and ``elapsed_seconds`` holds the business
    time used so far. ``paused_seconds`` adds up the business time spent paused (which
    does not count against the target).
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_metrics")
    policy = models.ForeignKey(SLAPolicy, on_delete=models.PROTECT, related_name="metrics")
    metric_type = models.CharField(max_length=16, choices=MetricType.choices)
    status = models.CharField(max_length=16, choices=SLAStatus.choices, default=SLAStatus.RUNNING)
    target_seconds = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    # When the current running stretch began (the start, or the last resume).
    running_since = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    warning_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.PositiveBigIntegerField(default=0)
    # Business time used up to ``running_since`` (or to completion once completed).
    elapsed_seconds = models.PositiveBigIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["ticket", "started_at", "id"]
        verbose_name = "SLA metric"
        indexes = [
            # The monitor's two queries: clocks past their deadline / warning time. Partial,
            # so that completed clocks (the vast majority) cost nothing.
            models.Index(
                fields=["deadline"],
                name="sla_metric_due",
                condition=models.Q(status__in=["running", "at_risk"]),
            ),
            # With the ticket included, so that the desk's "at risk" (a ticket with a
            # clock marked AT_RISK, or RUNNING past its warning time) reads the ticket ids
            # from these two indexes alone, not from clocks scattered over the table.
            models.Index(
                fields=["warning_at"],
                include=["ticket"],
                name="sla_metric_warning",
                condition=models.Q(status="running"),
            ),
            # At-risk clocks for the dashboard and the desk: marked AT_RISK by the monitor
            # (this index) or RUNNING past their warning time (``sla_metric_warning``).
            models.Index(
                fields=["deadline"],
                include=["ticket"],
                name="sla_metric_at_risk",
                condition=models.Q(status="at_risk"),
            ),
            # Breached clocks not completed yet: the dashboard counts them as decided.
            models.Index(
                fields=["policy"],
                name="sla_metric_breached_open",
                condition=models.Q(status="breached", completed_at__isnull=True),
            ),
            models.Index(fields=["ticket", "metric_type"], name="sla_metric_ticket"),
            # The desk's "paused" filter: the tickets of waiting clocks, from this index
            # alone (a few percent of the clocks; the open ones are ten times as many).
            models.Index(fields=["ticket"], name="sla_metric_waiting", condition=WAITING_CLOCK),
            # Covering, so the dashboard's window-edge counts read the index alone.
            models.Index(
                fields=["completed_at"],
                include=["status", "policy", "metric_type"],
                name="sla_metric_completed",
            ),
            # The medians: completed clocks of a type in elapsed order, read up to the
            # middle (no sort); ``completed_at`` included to filter the window.
            models.Index(
                fields=["metric_type", "elapsed_seconds"],
                include=["completed_at"],
                name="sla_metric_elapsed",
                condition=models.Q(status__in=["met", "breached"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=SLAStatus.values), name="sla_metric_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["running", "at_risk"])
                | models.Q(deadline__isnull=False, running_since__isnull=False),
                name="sla_metric_ticking_has_deadline",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="paused") | models.Q(paused_at__isnull=False),
                name="sla_metric_paused_has_paused_at",
            ),
            # At most one clock of a kind open per ticket (next response starts anew after
            # each requester reply, but never runs twice at once).
            models.UniqueConstraint(
                fields=["ticket", "metric_type"],
                condition=models.Q(status__in=["running", "at_risk", "paused"]),
                name="sla_metric_one_open_per_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_type_display()} on {self.ticket.key}: {self.status}"


class SLABreach(models.Model):
    """A metric that passed its deadline, recorded once, acknowledged once."""

    metric = models.OneToOneField(SLAMetric, on_delete=models.CASCADE, related_name="breach")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_breaches")
    policy = models.ForeignKey(SLAPolicy, on_delete=models.PROTECT, related_name="breaches")
    breach_type = models.CharField(max_length=16, choices=SLABreachType.choices)
    breached_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-breached_at", "-id"]
        verbose_name = "SLA breach"
        verbose_name_plural = "SLA breaches"
        indexes = [
            models.Index(
                fields=["-breached_at"],
                name="sla_breach_unacknowledged",
                condition=models.Q(acknowledged_at__isnull=True),
            ),
            models.Index(fields=["-breached_at"], name="sla_breach_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(acknowledged_at__isnull=True)
                | models.Q(acknowledged_by__isnull=False),
                name="sla_breach_acknowledged_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_breach_type_display()} breach on {self.ticket.key}"


class SLADailyTally(models.Model):
    """Completed clocks per UTC day of completion, policy and metric type: the
    dashboard's compliance figures without reading every clock of the last 30 days.

    Kept by the database, not by Python: triggers on ``sla_slametric`` (migration sla
    0004) append a row of +1 / -1 for every clock that becomes completed (MET or
    BREACHED with ``completed_at``) or stops being so (a reopened ticket resumes its
    resolution clock; a deleted ticket takes its clocks along), whoever writes it:
    services, bulk loads, cascades, or SQL by hand. Appending never blocks a concurrent
    writer; ``sla.services.tally_compact`` (run by the monitor task) sums the rows of
    each (day, policy, metric type) into one, so the table stays about days x policies
    x metric types long. Readers always sum, so they are exact compacted or not.
    """

    day = models.DateField()
    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="+")
    metric_type = models.CharField(max_length=16, choices=MetricType.choices)
    # Net changes: a single row may be negative until compacted; a day's sum never is.
    met = models.BigIntegerField(default=0)
    breached = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "SLA daily tally"
        indexes = [models.Index(fields=["day"], name="sla_tally_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.metric_type}: {self.met} met, {self.breached} breached"
