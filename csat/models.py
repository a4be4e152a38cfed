"""Satisfaction surveys: a policy per workflow, one survey and at most one rating per
ticket.

- ``SurveyPolicy``: whether a workflow's resolved tickets are surveyed, how long after
  the resolution the mail goes out, and for how many days the rating may be changed.
  Keyed one-to-one to the workflow, so the core's table is untouched; a workflow
  without a row uses the defaults (``csat.services.policy_for``).
- ``Survey``: one per ticket, written when the ticket is first resolved, in the
  transaction of that change. It remembers who worked the ticket at the resolution
  (the assignee and team) and when the mail is due; it never holds the mail's link.
- ``Rating``: the requester's answer, one per ticket (a unique ticket), changed in place
  while the survey is open.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

# The longest a rating may stay changeable; also the age beyond which a link's
# signature is refused before any row is read (csat.services.tokens).
MAX_CHANGEABLE_DAYS = 365
# A month: a survey mailed later than that after the resolution is no longer about it.
MAX_DELAY_MINUTES = 30 * 24 * 60


class SurveyPolicy(models.Model):
    workflow = models.OneToOneField(
        "nixflow.Workflow",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="csat_policy",
    )
    enabled = models.BooleanField(
        default=True, help_text="Send a satisfaction survey when a ticket is resolved."
    )
    delay_minutes = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_DELAY_MINUTES)],
        help_text="Minutes between the resolution and the mail (0: at once; 1440: a day).",
    )
    changeable_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CHANGEABLE_DAYS)],
        help_text="Days after the mail during which the requester may rate or change the rating.",
    )

    class Meta:
        verbose_name = "survey policy"
        verbose_name_plural = "survey policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(delay_minutes__lte=MAX_DELAY_MINUTES),
                name="csat_policy_delay_range",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    changeable_days__gte=1, changeable_days__lte=MAX_CHANGEABLE_DAYS
                ),
                name="csat_policy_days_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Survey policy of {self.workflow}"


class SurveyStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"  # waits for its due time
    QUEUED = "queued", "Queued"  # due: the mail is in the outbox
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"  # reopened (or the policy turned off) before the mail
    SKIPPED = "skipped", "Skipped"  # nobody to mail: no address or a deactivated account
    FAILED = "failed", "Failed"  # the mail server refused it after every retry


# A survey in one of these may be armed again when the ticket is resolved again; the
# others have mailed (or are about to): one mail per ticket.
REARMABLE = frozenset({SurveyStatus.CANCELLED, SurveyStatus.SKIPPED})


class Survey(models.Model):
    ticket = models.OneToOneField(
        "nixflow.Ticket", on_delete=models.CASCADE, related_name="csat_survey"
    )
    status = models.CharField(
        max_length=10, choices=SurveyStatus.choices, default=SurveyStatus.SCHEDULED
    )
    # Who worked the ticket when it was resolved: the rating is credited to them, even
    # if the ticket changes hands afterwards.
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    team = models.ForeignKey(
        "nixflow.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField()
    due_at = models.DateTimeField()
    changeable_days = models.PositiveSmallIntegerField(default=7)
    # Whom the mail went to: a link is honoured only for them.
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=SurveyStatus.values), name="csat_survey_status_valid"
            ),
        ]
        indexes = [
            # The scan for due surveys reads only the waiting ones, however many were sent.
            models.Index(
                fields=["due_at"],
                name="csat_survey_due",
                condition=models.Q(status="scheduled"),
            ),
        ]

    def __str__(self) -> str:
        return f"Survey of ticket {self.ticket_id}"


class RatingValue(models.TextChoices):
    GOOD = "good", pgettext_lazy("satisfaction rating", "Good")
    BAD = "bad", pgettext_lazy("satisfaction rating", "Bad")


class Rating(models.Model):
    # One rating per ticket: the unique ticket is what makes two concurrent first
    # answers one row (the service also locks the survey, so the second reads the first).
    ticket = models.OneToOneField(
        "nixflow.Ticket", on_delete=models.CASCADE, related_name="csat_rating"
    )
    survey = models.OneToOneField(Survey, on_delete=models.CASCADE, related_name="rating")
    rating = models.CharField(max_length=4, choices=RatingValue.choices)
    comment = models.TextField(blank=True, max_length=2000, verbose_name=_("comment"))
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="csat_ratings",
        db_index=False,  # csat_rating_agent_created leads with it
    )
    team = models.ForeignKey(
        "nixflow.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="csat_ratings",
        db_index=False,  # csat_rating_team_created leads with it
    )
    created = models.DateTimeField()  # first answered; lists and filters use it
    updated = models.DateTimeField()  # last changed

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__in=RatingValue.values), name="csat_rating_value_valid"
            ),
        ]
        # Each filter of the API and the admin with the list's order, so one page of a
        # filter is an index range scan (as the ticket list's indexes).
        indexes = [
            models.Index(fields=["-created", "-id"], name="csat_rating_created"),
            models.Index(fields=["agent", "-created"], name="csat_rating_agent_created"),
            models.Index(fields=["team", "-created"], name="csat_rating_team_created"),
            models.Index(fields=["rating", "-created"], name="csat_rating_value_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rating_display()} for ticket {self.ticket_id}"
