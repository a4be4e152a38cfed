"""Demo data (``manage.py seed_demo``): the desk's last 90 days as the reports read them.

The core's demo tickets already span ``nixflow.demo.DEMO_DAYS`` (90) days through the
services: channels, workflows, priorities, tags, answers, resolutions and reopenings;
csat answers their surveys. What no other app's demo writes, the reports' would show
empty, so it is written here, through those apps' models, dated over the same 90 days:

- the demo teams, before the reports need them: ``seed_demo`` makes them after every
  app's demo (``nixflow.demo.ensure_demo_teams``, idempotent), which is after csat
  answered the surveys, so the ratings would name no team; the surveys and ratings of
  the demo tickets then get their ticket's team, as if the team had been there;
- help-center searches, each with the number of articles the real search finds for its
  words (``knowledge.search.article_search``, as an anonymous reader), so the ones that
  find nothing are the queries the knowledge base cannot answer, and a third of the
  others opened the first result;
- article views of the published public articles (a few read most), each article's
  ``view_count`` raised to match;
- deflection attempts on the portal's "New request" page: the demo's web tickets were
  filed from one, some after opening a suggestion; others ended with a suggestion read
  and no request (deflected), a few with nothing opened;
- the mail of two accounts: the messages that opened the demo's e-mail tickets
  (processed), automatic replies and bounces (ignored), messages held for review
  (suspended), a few failures and one not processed yet.

Written directly, like the core's backdating: these rows are the desk's past, not
changes happening now (the services stamp "now" and publish events). Once: nothing is
written when the demo's mail accounts exist.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from csat.models import Rating, Survey
from email_integration.models import (
    EmailAccount,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    InboundProtocol,
    SenderAuth,
)
from knowledge.models import (
    KnowledgeArticle,
    KnowledgeArticleStatus,
    KnowledgeArticleView,
    KnowledgeSearchHistory,
    Visibility,
)
from knowledge.query import parse
from knowledge.search import article_search
from nixflow import demo
from nixflow.models import Source, Ticket, User
from portal.models import DeflectionAttempt

DAYS = demo.DEMO_DAYS
ACCOUNTS = [
    # name, address, the workflow whose mail it receives (None: every other one)
    ("Support mailbox", "support@nixflow.example", None),
    ("Access requests mailbox", "access@nixflow.example", demo.ACCESS_REQUESTS),
]
# What people type into the help center's search box, and how often (relative).
SEARCHES = {
    "vpn": 14,
    "reset password": 12,
    "password": 9,
    "printer": 8,
    "outlook": 7,
    "mfa": 7,
    "wi-fi": 6,
    "laptop": 6,
    "mailbox": 4,
    "phishing": 3,
    "onboarding": 3,
    "expenses": 2,
    # Nothing in the demo's knowledge base answers these: the failed queries to act on.
    "parking permit": 4,
    "teams camera": 3,
    "linux vpn client": 3,
    "ergonomic chair": 2,
    "holiday calendar 2027": 2,
}
SEARCHES_PER_DAY = 5
VIEWS_PER_DAY = 8
DEFLECTED_PER_DAY = 1.2
ABANDONED_PER_DAY = 0.3
WEB_ATTEMPT_SHARE = 0.7  # of the web tickets, those filed from a page that suggested
MAIL_TROUBLE = [
    # type, status, reason, how many over the 90 days
    (EmailMessageType.AUTO_REPLY, EmailMessageStatus.IGNORED,
     "Automatic mail: Auto-Submitted: auto-replied.", 24),
    (EmailMessageType.BOUNCE, EmailMessageStatus.IGNORED,
     "Automatic mail: a delivery status notification.", 12),
    (EmailMessageType.INBOUND, EmailMessageStatus.IGNORED,
     "Sent by one of our own addresses (a loop).", 3),
    (EmailMessageType.INBOUND, EmailMessageStatus.SUSPENDED,
     "The sender is an agent but the message is not authenticated.", 9),
    (EmailMessageType.INBOUND, EmailMessageStatus.FAILED,
     "OperationalError: could not serialize access due to concurrent update", 6),
    (EmailMessageType.INBOUND, EmailMessageStatus.RECEIVED, "", 1),
]  # fmt: skip


def seed_history(*, rng: random.Random, requesters: Sequence[User]) -> str:
    """Everything above, once; the line ``seed_demo`` prints."""
    if EmailAccount.objects.filter(name__in=[a[0] for a in ACCOUNTS]).exists():
        return "Report history created: none (already there)"
    now = timezone.now()
    teams = demo.ensure_demo_teams()
    with transaction.atomic():
        rated = _teams_on_ratings()
        searches = _searches(rng, now, requesters)
        views = _views(rng, now, requesters)
        attempts = _attempts(rng, now, requesters)
        mail = _mail(rng, now)
    return (
        f"Report history created over {DAYS} days: {searches} help-center searches, "
        f"{views} article views, {attempts} deflection attempts, {mail} mail messages, "
        f"teams on {rated} ratings. {teams}"
    )


def _when(rng: random.Random, now: datetime, *, after: datetime | None = None) -> datetime:
    """A time in the last ``DAYS`` days (after ``after`` when given), in office hours
    more often than not, never in the future."""
    start = max(after or now - timedelta(days=DAYS), now - timedelta(days=DAYS))
    at = start + (now - start) * rng.random()
    if rng.random() < 0.7:
        at = at.replace(hour=rng.randint(8, 17))
    return min(at, now - timedelta(minutes=1))


def _teams_on_ratings() -> int:
    """Surveys and ratings without a team get their ticket's (see the module's
    docstring); how many ratings."""
    team = Subquery(Ticket.objects.filter(pk=OuterRef("ticket_id")).values("team_id")[:1])
    Survey.objects.filter(team=None).update(team_id=team)
    return Rating.objects.filter(team=None).update(team_id=team)


def _published() -> list[KnowledgeArticle]:
    return list(
        KnowledgeArticle.objects.filter(
            status=KnowledgeArticleStatus.PUBLISHED, visibility=Visibility.PUBLIC
        ).order_by("pk")
    )


def _searches(rng: random.Random, now: datetime, requesters: Sequence[User]) -> int:
    found = {}
    for query in SEARCHES:
        results = article_search(user=None, query=query, limit=1)
        found[query] = (results.count, results.hits[0].article if results.hits else None)
    queries, weights = list(SEARCHES), list(SEARCHES.values())
    rows = []
    for _ in range(SEARCHES_PER_DAY * DAYS):
        query = rng.choices(queries, weights=weights)[0]
        count, first = found[query]
        at = _when(rng, now)
        clicked = first if first is not None and rng.random() < 1 / 3 else None
        rows.append(
            KnowledgeSearchHistory(
                query=query,
                normalized_query=parse(query).normalized(),
                user=rng.choice(requesters) if requesters and rng.random() < 0.6 else None,
                results_count=count,
                clicked_article=clicked,
                clicked_at=at + timedelta(seconds=rng.randint(5, 60)) if clicked else None,
                created=at,
            )
        )
    KnowledgeSearchHistory.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def _views(rng: random.Random, now: datetime, requesters: Sequence[User]) -> int:
    articles = _published()
    if not articles:
        return 0
    weights = [1 / (rank + 1) for rank in range(len(articles))]  # a few read most
    rows, counts = [], Counter[int]()
    for n in range(VIEWS_PER_DAY * DAYS):
        article = rng.choices(articles, weights=weights)[0]
        reader = rng.choice(requesters) if requesters and rng.random() < 0.5 else None
        key = (
            f"user:{reader.pk}" if reader else f"anon:{hashlib.sha256(b'%d' % n).hexdigest()[:40]}"
        )
        rows.append(
            KnowledgeArticleView(
                article=article, user=reader, viewer_key=key, viewed_at=_when(rng, now)
            )
        )
        counts[article.pk] += 1
    KnowledgeArticleView.objects.bulk_create(rows, batch_size=500)
    for pk, count in counts.items():
        KnowledgeArticle.objects.filter(pk=pk).update(view_count=F("view_count") + count)
    return len(rows)


def _attempts(rng: random.Random, now: datetime, requesters: Sequence[User]) -> int:
    articles = [a.pk for a in _published()]
    if not articles or not requesters:
        return 0
    rows = []
    web = Ticket.objects.filter(
        requester__in=requesters, source=Source.WEB, created__gte=now - timedelta(days=DAYS)
    )
    for ticket in web.select_related("requester").order_by("pk"):
        if rng.random() >= WEB_ATTEMPT_SHARE:
            continue
        started = ticket.created - timedelta(minutes=rng.uniform(1, 6))
        opened = rng.random() < 0.3
        rows.append(
            _attempt(
                rng,
                requester=ticket.requester,
                subject=ticket.title,
                articles=articles,
                started=started,
                opened=opened,
                ticket=ticket,
            )
        )
    titles = [issue.title for issue in demo.ISSUES]
    for share, opened in ((DEFLECTED_PER_DAY, True), (ABANDONED_PER_DAY, False)):
        for _ in range(round(share * DAYS)):
            # At least a day old: its window has passed, so a deflection counts already.
            started = _when(rng, now - timedelta(days=1))
            requester = rng.choice(requesters)
            rows.append(
                _attempt(
                    rng,
                    requester=requester,
                    subject=rng.choice(titles),
                    articles=articles,
                    started=started,
                    opened=opened,
                    ticket=None,
                )
            )
    DeflectionAttempt.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def _attempt(
    rng: random.Random,
    *,
    requester: User,
    subject: str,
    articles: list[int],
    started: datetime,
    opened: bool,
    ticket: Ticket | None,
) -> DeflectionAttempt:
    shown = rng.sample(articles, min(3, len(articles)))
    return DeflectionAttempt(
        token=uuid.uuid4(),
        requester=requester,
        subject=subject[:200],
        shown=shown,
        opened=shown[:1] if opened else [],
        first_opened_at=started + timedelta(seconds=rng.randint(15, 90)) if opened else None,
        ticket=ticket,
        created=started,
    )


def _mail(rng: random.Random, now: datetime) -> int:
    accounts = {}
    for name, address, workflow in ACCOUNTS:
        account = EmailAccount.objects.create(
            name=name, address=address, protocol=InboundProtocol.NONE
        )
        accounts[workflow] = account
    rows = []
    mailed = Ticket.objects.filter(
        requester__username__in=demo.demo_requester_usernames(),
        source=Source.EMAIL,
        created__gte=now - timedelta(days=DAYS),
    ).select_related("requester", "workflow")
    for ticket in mailed.order_by("pk"):
        account = accounts.get(ticket.workflow.name, accounts[None])
        rows.append(
            _message(
                account,
                EmailMessageType.INBOUND,
                EmailMessageStatus.PROCESSED,
                sender=ticket.requester.email,
                subject=ticket.title,
                at=ticket.created,
                ticket=ticket,
            )
        )
    people = list(User.objects.filter(username__in=demo.demo_requester_usernames()))
    for message_type, status, reason, count in MAIL_TROUBLE:
        for _ in range(count):
            account = rng.choice(list(accounts.values()))
            if message_type == EmailMessageType.BOUNCE:
                sender, subject = "mailer-daemon@mx.customer.example", "Undelivered Mail Returned"
            else:
                person = rng.choice(people) if people else None
                sender = person.email if person else "someone@customer.example"
                issue = rng.choice(demo.ISSUES).title
                auto = message_type == EmailMessageType.AUTO_REPLY
                subject = f"Automatic reply: Re: {issue}" if auto else issue
            pending = status == EmailMessageStatus.RECEIVED
            at = now - timedelta(minutes=2) if pending else _when(rng, now)
            rows.append(
                _message(
                    account,
                    message_type,
                    status,
                    sender=sender,
                    subject=subject,
                    at=at,
                    reason=reason,
                )
            )
    EmailMessage.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def _message(
    account: EmailAccount,
    message_type: str,
    status: str,
    *,
    sender: str,
    subject: str,
    at: datetime,
    ticket: Ticket | None = None,
    reason: str = "",
) -> EmailMessage:
    message_id = f"<{uuid.uuid4().hex}@demo.nixflow.example>"
    body = f"{subject}\n"
    raw = (
        f"Message-ID: {message_id}\r\nFrom: {sender}\r\nTo: {account.address}\r\n"
        f"Subject: {subject}\r\n\r\n{body}"
    ).encode()
    handled = status not in {EmailMessageStatus.RECEIVED, EmailMessageStatus.SUSPENDED}
    return EmailMessage(
        account=account,
        message_type=message_type,
        status=status,
        message_id=message_id,
        from_address=sender,
        to_addresses=[account.address],
        subject=subject,
        text_body=body,
        reply_text=body,
        raw=raw,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        error_reason=reason,
        ticket=ticket,
        received_at=at,
        processed_at=at + timedelta(seconds=3) if handled else None,
        attempts=1 if status == EmailMessageStatus.FAILED else 0,
        sender_auth=SenderAuth.DKIM if ticket is not None else SenderAuth.NONE,
    )
