"""The reports' own tables: daily tallies kept by the database, and their zone.

Reports read every other app's rows and write none of them; these tables are the only
state the app has. ``TicketDayTally`` makes the per-day figures (created, resolved,
reopened, the backlog on each day) cost a few thousand rows at any desk size instead of
a scan of every ticket in the range; ``ReplyDayTally``, ``ArticleViewDayTally``,
``SearchDayTally``, ``MailDayTally`` and ``DeflectionDayTally`` do the same for replies,
the help center's traffic, mail and the portal's deflected requests.
"""

from __future__ import annotations

from django.db import models


class TicketDayTally(models.Model):
    """Net changes per desk day and ticket dimensions, appended by triggers.

    Triggers on ``nixflow_ticket`` (migration reports 0002) append, for every ticket
    written by any means (services, bulk loads, cascades, SQL by hand), +1 rows for its
    creation day and its resolution day and -1 rows that take back what its previous
    version counted; a ticket going from resolved to unresolved also counts one reopen
    on the day of that change. Appending never waits on another writer;
    ``reports.services.tally_compact`` folds the rows of each key into one later.
    Readers always sum, so the figures are exact compacted or not.

    ``day`` is cut in the zone named by ``TallyZone`` (the desk's reporting zone when
    the tally was last rebuilt); when the setting changes, ``manage.py
    reports_tally_rebuild`` recounts, and until then the reports count the tickets
    directly (exact, slower).
    """

    day = models.DateField()
    # Plain ids rather than foreign keys: the triggers write them, and a workflow or team
    # cannot be deleted while tickets point at it (PROTECT) anyway.
    workflow_id = models.BigIntegerField()
    team_id = models.BigIntegerField(null=True)
    source = models.CharField(max_length=8)
    priority = models.CharField(max_length=8)
    # Net changes: one row may be negative until compacted; a key's sum never is.
    created = models.BigIntegerField(default=0)
    resolved = models.BigIntegerField(default=0)
    reopened = models.BigIntegerField(default=0)
    # +1 on the creation day, -1 on the resolution day: the backlog at the end of a day
    # is the sum of this column over every day up to it.
    opened = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "ticket day tally"
        verbose_name_plural = "ticket day tallies"
        indexes = [models.Index(fields=["day"], name="reports_tally_day")]

    def __str__(self) -> str:
        return f"{self.day}: +{self.created} created, +{self.resolved} resolved"


class TallyZone(models.Model):
    """One row (id 1): the time zone the tally's days are cut in, which the triggers
    read. Written only by the migration and ``reports.services.tally_rebuild``."""

    time_zone = models.CharField(max_length=64, default="UTC")
    # The portal's deflection window the deflection tally was counted with (minutes;
    # ``DeflectionDayTally``); empty until counted. When the setting
    # PORTAL_DEFLECTION_WINDOW_MINUTES differs, readers count the attempts directly.
    deflection_window = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="reports_tallyzone_one")
        ]

    def __str__(self) -> str:
        return self.time_zone


class ReplyDayTally(models.Model):
    """Public comments per desk day, author and ticket dimensions, appended by triggers.

    The People report counts each agent's public replies over a range, and a team's on
    its tickets; counting comments means a visit to each comment's ticket for its team
    (tens of thousands a month on a large desk). Statement triggers on
    ``nixflow_comment`` (migration reports 0008) append the net change of every write,
    grouped, and a ticket that moves to another team, workflow, channel or priority
    moves its comments' counts along. Folded by ``reports.services.tally_compact`` as
    ``TicketDayTally``, cut in the same zone (``TallyZone``), and summed by readers.

    The author's role is not kept: the report asks for agents' and admins' replies and
    reads the role now, as it does counting the comments directly.
    """

    day = models.DateField()
    author_id = models.BigIntegerField()
    workflow_id = models.BigIntegerField()
    team_id = models.BigIntegerField(null=True)
    source = models.CharField(max_length=8)
    priority = models.CharField(max_length=8)
    # Net change: negative rows take back what an earlier version counted.
    replies = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "reply day tally"
        verbose_name_plural = "reply day tallies"
        indexes = [models.Index(fields=["day"], name="reports_reply_tally_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.replies} replies by {self.author_id}"


class ReplyTeamDayTally(models.Model):
    """``ReplyDayTally`` summed over the ticket dimensions but the team: public replies
    per desk day, author and ticket team, kept by statement triggers on
    ``reports_replydaytally`` itself (migration reports 0018), so every write that
    reaches that tally (comments, ticket moves, its folding and recount) reaches this one.

    At a million tickets the reply tally holds about one row per reply (a day's replies
    spread over every author, workflow, team, channel and priority), so a People report
    without those filters read as many rows as there were replies; here a day has a row
    per author and team (about 100 at 50 agents). Folded by ``tally_compact`` after the
    reply tally, summed by readers.
    """

    day = models.DateField()
    author_id = models.BigIntegerField()
    team_id = models.BigIntegerField(null=True)
    # Net change: negative rows take back what an earlier version counted.
    replies = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "reply team day tally"
        verbose_name_plural = "reply team day tallies"
        # The report asks for its agents' rows (replies by requesters are kept too, the
        # role being read when the report runs): by author first, then the range.
        indexes = [models.Index(fields=["author_id", "day"], name="reports_reply_team_author")]

    def __str__(self) -> str:
        return f"{self.day}: {self.replies} replies by {self.author_id}"


class ArticleViewDayTally(models.Model):
    """Counted article reads per desk day and article, appended by statement triggers
    on ``knowledge_knowledgearticleview`` (migration reports 0010): the Self-service
    report's views per day and top articles read a few rows a day instead of every
    view. Folded by ``tally_compact``, cut in ``TallyZone``'s zone, summed by readers."""

    day = models.DateField()
    # A plain id: the knowledge base's rows are read, never referenced (a deleted
    # article's views leave with it, through the triggers).
    article_id = models.BigIntegerField()
    views = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "article view day tally"
        verbose_name_plural = "article view day tallies"
        indexes = [models.Index(fields=["day"], name="reports_view_tally_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.views} views of {self.article_id}"


class SearchDayTally(models.Model):
    """Help-center searches per desk day and normalised query, and how many of them
    found nothing, appended by statement triggers on
    ``knowledge_knowledgesearchhistory`` (migration reports 0010): the Self-service
    report's searches per day and top failed queries. As ``ArticleViewDayTally``."""

    day = models.DateField()
    normalized_query = models.CharField(max_length=300)
    searches = models.BigIntegerField(default=0)
    no_result = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "search day tally"
        verbose_name_plural = "search day tallies"
        indexes = [models.Index(fields=["day"], name="reports_search_tally_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.searches} searches for {self.normalized_query!r}"


class MailDayTally(models.Model):
    """Mail received per desk day, account, type and state now, appended by statement
    triggers on ``email_integration_emailmessage`` (migration reports 0012): the Mail
    health report's counts per day and per account read a few rows a day instead of
    every message. A message changing state (processed, failed, reprocessed) moves its
    count from one state to the other. As ``ArticleViewDayTally``."""

    day = models.DateField()
    account_id = models.BigIntegerField()
    message_type = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    messages = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "mail day tally"
        verbose_name_plural = "mail day tallies"
        indexes = [models.Index(fields=["day"], name="reports_mail_tally_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.messages} {self.message_type} {self.status}"


class DeflectionDayTally(models.Model):
    """The portal's deflected requests per desk day of their first opened suggestion,
    kept by row triggers (migration reports 0014) on ``portal_deflectionattempt`` and
    on ``nixflow_ticket``: an attempt counts while a suggestion was opened, no request
    was filed from its page and its requester filed no ticket from the attempt's start
    until the deflection window after that opening (``portal.selectors.
    deflected_attempts``). A ticket created, moved or deleted takes its requester's
    attempts out of the count or back in.

    The count is provisional until the window has passed: readers sum the days whose
    windows are all over and count the rest from the attempts (minutes of them). The
    window is the one stored in ``TallyZone.deflection_window``. Folded by
    ``tally_compact``, cut in ``TallyZone``'s zone, summed by readers."""

    day = models.DateField()
    # Net change: negative rows take back what an earlier state counted.
    deflected = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "deflection day tally"
        verbose_name_plural = "deflection day tallies"
        indexes = [models.Index(fields=["day"], name="reports_deflection_tally_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.deflected} deflected"


class AttemptDayTally(models.Model):
    """The portal's "new request" visits that showed suggestions (``DeflectionAttempt``)
    per desk day they started, kept by statement triggers on
    ``portal_deflectionattempt`` (migration reports 0021): the Self-service report's
    "requests started with suggestions" reads a row a day instead of every attempt (a
    quarter of a million over 90 days at a million tickets). Folded by
    ``tally_compact``, cut in ``TallyZone``'s zone, summed by readers."""

    day = models.DateField()
    # Net change: negative rows take back what an earlier version counted.
    attempts = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "deflection attempt day tally"
        verbose_name_plural = "deflection attempt day tallies"
        indexes = [models.Index(fields=["day"], name="reports_attempt_tally_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.attempts} attempts"


class RatingDayTally(models.Model):
    """Good and bad ratings per desk day they were first given, agent and team (the
    rating's own, credited at the resolution), kept by statement triggers on
    ``csat_rating`` (migration reports 0023): the Satisfaction report without ticket
    filters reads a row per day, agent and team instead of every rating. Folded by
    ``tally_compact``, cut in ``TallyZone``'s zone, summed by readers."""

    day = models.DateField()
    # Plain ids, as the other tallies' (SET NULL on the rating when one is deleted).
    agent_id = models.BigIntegerField(null=True)
    team_id = models.BigIntegerField(null=True)
    # Net changes: negative rows take back what an earlier version counted.
    good = models.BigIntegerField(default=0)
    bad = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "rating day tally"
        verbose_name_plural = "rating day tallies"
        indexes = [models.Index(fields=["day"], name="reports_rating_tally_day")]

    def __str__(self) -> str:
        return f"{self.day}: {self.good} good, {self.bad} bad"


class OpenDayTally(models.Model):
    """Open tickets (no ``resolved_at``) per stage and desk day of their creation, kept
    by row triggers on ``nixflow_ticket`` (migration reports 0016) that fire only when a
    ticket's stage, creation or openness changes: the Backlog report's open tickets by
    stage and age read a few rows per stage and day of the desk's life instead of every
    open ticket. The age buckets' bounds fall inside a day; the tickets of those four
    days are counted from the rows. No ticket dimensions: with a ticket filter the
    report counts the open tickets directly. Folded by ``tally_compact``, cut in
    ``TallyZone``'s zone, summed by readers."""

    day = models.DateField()
    # A plain id, as the other tallies' (a stage holding tickets cannot be deleted).
    stage_id = models.BigIntegerField()
    # Net change: negative rows take back what an earlier version counted.
    open = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "open ticket day tally"
        verbose_name_plural = "open ticket day tallies"

    def __str__(self) -> str:
        return f"{self.day}: {self.open} open in stage {self.stage_id}"
