"""``load_data --extras reports``: the help-center traffic and the mail trouble the desk's
reports read, for the loaded tickets.

The reports only read other apps' rows; what the other loaders leave out is written here,
through those apps' tables (COPY, like every loader), so a benchmark of the reports has
the self-service and mail-health figures of a real desk to compute:

- **article views** (``knowledge``): ``VIEWS_PER_TICKET`` a loaded ticket on average,
  each of a published public article (a few articles get most of the reads, as on every
  help center), by the ticket's requester or an anonymous reader, in the days before the
  ticket; the articles' ``view_count`` is raised by what was written (``finish``). When
  the knowledge base has no published public article, ``ARTICLES`` are generated first
  (``knowledge.demo.generate_articles``, as ``knowledge_load`` does).
- **deflection attempts** (``portal``): a ticket filed from the web had its attempt, with
  the suggestions shown, one of them opened now and then, and the ticket filed from it;
  besides, ``DEFLECTED_PER_TICKET`` attempts a ticket whose requester opened a suggestion
  and filed nothing: the questions the help center answered.
- **reopenings** (``nixflow`` history): ``REOPENED_SHARE`` of the resolved and closed
  tickets were resolved once before and reopened by their requester, between the first
  response and the last resolution. load_data's history summarises a ticket's stages in
  one row; these tickets get the two ``resolved_at`` rows the services would have
  written (emptied by the reopening, set again by the last resolution), which is what
  the reports' daily tally counts reopenings from (its triggers on the history table).
  ``finish`` then folds the tally (``reports.services.tally_compact``), as its periodic
  task does.
- **mail that became no ticket** (``email_integration``): automatic replies and bounces
  ignored, messages suspended for review, a few failed ones, over two accounts (the mail
  loader's ``Load data`` and ``Load data: billing``), about ``MAIL_TROUBLE_PER_TICKET``
  a ticket.

Each kind's share is below; about 3.7 rows a ticket in all.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from email_integration.models import (
    EmailAccount,
    EmailMessageStatus,
    EmailMessageType,
    InboundProtocol,
    SenderAuth,
)
from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus, Visibility
from nixflow.models import Source
from nixflow.toolkit.loading import LoadBatch, LoadedTicket, LoadRun, copy_rows

ARTICLES = 120
VIEWS_PER_TICKET = 2.0
ANONYMOUS_VIEW_SHARE = 0.5
WEB_ATTEMPT_SHARE = 0.6  # of tickets filed from the web, those that saw suggestions first
OPENED_BEFORE_FILING_SHARE = 0.3
DEFLECTED_PER_TICKET = 0.4
MAIL_TROUBLE_PER_TICKET = 0.1
REOPENED_SHARE = 0.06
# What went wrong with a message that became no ticket: (type, status, reason, weight).
MAIL_TROUBLE = [
    (EmailMessageType.AUTO_REPLY, EmailMessageStatus.IGNORED,
     "Automatic mail: Auto-Submitted: auto-replied.", 50),
    (EmailMessageType.BOUNCE, EmailMessageStatus.IGNORED,
     "Automatic mail: a delivery status notification.", 20),
    (EmailMessageType.INBOUND, EmailMessageStatus.IGNORED,
     "Sent by one of our own addresses (a loop).", 5),
    (EmailMessageType.INBOUND, EmailMessageStatus.SUSPENDED,
     "The sender is an agent but the message is not authenticated.", 15),
    (EmailMessageType.INBOUND, EmailMessageStatus.FAILED,
     "OperationalError: could not serialize access due to concurrent update", 10),
]  # fmt: skip
HISTORY_COLUMNS = ("ticket_id", "actor_id", "field", "old_value", "new_value", "created")
ACCOUNTS = [("Load data", "desk@load.example"), ("Load data: billing", "billing@load.example")]
VIEW_COLUMNS = ("article_id", "user_id", "viewer_key", "viewed_at")
ATTEMPT_COLUMNS = (
    "token",
    "requester_id",
    "subject",
    "shown",
    "opened",
    "first_opened_at",
    "ticket_id",
    "created",
)
MAIL_COLUMNS = (
    "account_id",
    "message_type",
    "status",
    "message_id",
    "in_reply_to",
    "references",
    "from_address",
    "from_name",
    "to_addresses",
    "cc_addresses",
    "subject",
    "text_body",
    "reply_text",
    "html_body",
    "raw",
    "raw_sha256",
    "error_reason",
    "received_at",
    "processed_at",
    "attempts",
    "sender_auth",
    "authentication",
)


class ReportsLoader:
    def __init__(self, run: LoadRun) -> None:
        self.run = run
        # Vacuumed and analyzed at the end, after ``finish`` folded them: every tally the
        # triggers fed during the load (the reports read them all), where the reports keep one.
        self.tables = [
            "knowledge_knowledgearticleview",
            "knowledge_knowledgearticle",
            "portal_deflectionattempt",
            "email_integration_emailmessage",
            "nixflow_historylog",
            *sorted(
                t
                for t in connection.introspection.table_names()
                if t.startswith("reports_") and t.endswith("daytally")
            ),
        ]
        self.articles = published_articles()
        if not self.articles:
            from knowledge.demo import generate_articles

            generate_articles(count=ARTICLES, seed=int(run.rng.random() * 1_000_000))
            self.articles = published_articles()
        # A few articles get most of the reads: the cumulative weights of 1/rank.
        total, self.weights = 0.0, []
        for rank in range(len(self.articles)):
            total += 1 / (rank + 1)
            self.weights.append(total)
        self.views: Counter[int] = Counter()
        self.accounts = [
            (
                EmailAccount.objects.get_or_create(
                    name=name, defaults={"address": address, "protocol": InboundProtocol.NONE}
                )[0].pk,
                address,
            )
            for name, address in ACCOUNTS
        ]
        self.messages = 0

    def load(self, batch: LoadBatch) -> Mapping[str, int]:
        views = copy_rows("knowledge_knowledgearticleview", VIEW_COLUMNS, self.view_rows(batch))
        attempts = copy_rows("portal_deflectionattempt", ATTEMPT_COLUMNS, self.attempt_rows(batch))
        mail = copy_rows("email_integration_emailmessage", MAIL_COLUMNS, self.mail_rows(batch))
        reopened = copy_rows("nixflow_historylog", HISTORY_COLUMNS, self.reopen_rows(batch))
        return {
            "article views": views,
            "deflection attempts": attempts,
            "mail not ticketed": mail,
            "reopenings": reopened // 2,
        }

    def article(self) -> int:
        rng, weights = self.run.rng, self.weights
        pick = rng.random() * weights[-1]
        low, high = 0, len(weights) - 1
        while low < high:  # bisect: the first cumulative weight above the pick
            middle = (low + high) // 2
            if weights[middle] > pick:
                high = middle
            else:
                low = middle + 1
        return self.articles[low]

    def view_rows(self, batch: LoadBatch) -> Iterator[tuple[Any, ...]]:
        if not self.articles:
            return
        rng = self.run.rng
        for ticket in batch.tickets:
            for _ in range(_count(rng.random(), VIEWS_PER_TICKET)):
                article = self.article()
                at = ticket.created - timedelta(seconds=rng.random() * 3 * 86400)
                self.views[article] += 1
                if rng.random() < ANONYMOUS_VIEW_SHARE:
                    key = "anon:" + hashlib.sha256(f"{ticket.id}/{at}".encode()).hexdigest()[:40]
                    yield (article, None, key, at)
                else:
                    yield (article, ticket.requester_id, f"user:{ticket.requester_id}", at)

    def attempt_rows(self, batch: LoadBatch) -> Iterator[tuple[Any, ...]]:
        rng, articles = self.run.rng, self.articles
        for ticket in batch.tickets:
            shown = rng.sample(articles, min(3, len(articles)))
            if ticket.source == Source.WEB and shown and rng.random() < WEB_ATTEMPT_SHARE:
                started = ticket.created - timedelta(seconds=60 + rng.random() * 240)
                opened = rng.random() < OPENED_BEFORE_FILING_SHARE
                yield self.attempt(ticket, started, shown, opened, ticket.id)
            for _ in range(_count(rng.random(), DEFLECTED_PER_TICKET)):
                if not shown:
                    break
                # Days before the ticket: nothing the requester filed follows it closely.
                started = ticket.created - timedelta(days=1 + rng.random() * 20)
                yield self.attempt(ticket, started, shown, True, None)

    def attempt(
        self,
        ticket: LoadedTicket,
        started: datetime,
        shown: list[int],
        opened: bool,
        filed: int | None,
    ) -> tuple[Any, ...]:
        first_opened = started + timedelta(seconds=20 + self.run.rng.random() * 40)
        return (
            uuid.uuid4(),  # the page's secret: not from the seeded generator
            ticket.requester_id,
            ticket.title,
            shown,
            shown[:1] if opened else [],
            first_opened if opened else None,
            filed,
            started,
        )

    def mail_rows(self, batch: LoadBatch) -> Iterator[tuple[Any, ...]]:
        rng, run = self.run.rng, self.run
        weights = [kind[3] for kind in MAIL_TROUBLE]
        for ticket in batch.tickets:
            if rng.random() >= MAIL_TROUBLE_PER_TICKET:
                continue
            message_type, status, reason, _ = rng.choices(MAIL_TROUBLE, weights=weights)[0]
            account, address = self.accounts[int(rng.random() * len(self.accounts))]
            self.messages += 1
            message_id = f"<trouble{self.messages}.{run.prefix}@mail.load.example>"
            sender = (
                "mailer-daemon@mx.load.example"
                if message_type == EmailMessageType.BOUNCE
                else run.emails.get(ticket.requester_id, "someone@load.example")
            )
            subject = (
                f"Automatic reply: {ticket.title}"
                if message_type == EmailMessageType.AUTO_REPLY
                else ticket.title
            )
            body = f"Loaded mail that became no ticket: {subject}\n"
            raw = (
                f"Message-ID: {message_id}\r\nFrom: {sender}\r\nTo: {address}\r\n"
                f"Subject: {subject}\r\n\r\n{body}"
            ).encode()
            at = ticket.created - timedelta(seconds=rng.random() * 86400)
            done = at + timedelta(seconds=2 + 10 * rng.random())
            yield (
                account,
                message_type,
                status,
                message_id,
                "",
                [],
                sender,
                "",
                [address],
                [],
                subject,
                body,
                body,
                "",
                raw,
                hashlib.sha256(raw).hexdigest(),
                reason,
                at,
                None if status == EmailMessageStatus.SUSPENDED else done,
                1 if status == EmailMessageStatus.FAILED else 0,
                SenderAuth.NONE,
                "",
            )

    def reopen_rows(self, batch: LoadBatch) -> Iterator[tuple[Any, ...]]:
        """Two ``resolved_at`` history rows per reopened ticket, as ``nixflow.services``
        records a time field (ISO text): emptied when its requester reopened it, set to
        its loaded ``resolved_at`` by the last resolution."""
        rng = self.run.rng
        for ticket in batch.tickets:
            if ticket.resolved_at is None or rng.random() >= REOPENED_SHARE:
                continue
            start = ticket.first_response_at or ticket.created
            first = start + (ticket.resolved_at - start) * (0.2 + 0.2 * rng.random())
            back = first + (ticket.resolved_at - first) * rng.random()
            last = ticket.resolved_at.isoformat()
            yield (ticket.id, ticket.requester_id, "resolved_at", first.isoformat(), "", back)
            yield (ticket.id, ticket.assignee_id, "resolved_at", "", last, ticket.resolved_at)

    def finish(self) -> None:
        """Each article's ``view_count`` counts the views written for it; the reports'
        tally folded."""
        fold_tally()
        if not self.views:
            return
        articles, counts = zip(*sorted(self.views.items()), strict=True)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE knowledge_knowledgearticle AS a SET view_count = a.view_count + v.n "
                "FROM unnest(%s::bigint[], %s::int[]) AS v(id, n) WHERE a.id = v.id",
                [list(articles), list(counts)],
            )


def published_articles() -> list[int]:
    """Published public articles, the ones a requester can read (at most 1,000)."""
    return list(
        KnowledgeArticle.objects.filter(
            status=KnowledgeArticleStatus.PUBLISHED, visibility=Visibility.PUBLIC
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )


def fold_tally() -> None:
    """Fold the reports' daily tally, as its periodic task does on a live desk: a bulk
    load appends a row or two per ticket, which the reports would otherwise sum."""
    from reports.services import tally_compact

    tally_compact()


def _count(draw: float, mean: float) -> int:
    """A whole number of things with the given mean: the integer part, plus one more
    with the probability of the fraction (``draw`` in [0, 1))."""
    whole = int(mean)
    return whole + (1 if draw < mean - whole else 0)


def loader(run: LoadRun) -> ReportsLoader:
    return ReportsLoader(run)
