"""What readers do with articles: rate them, read them (counted views), send feedback;
and what editors do with that feedback (resolve, dismiss, turn into a ticket).

Readers (requesters, anonymous visitors, agents) act only on published articles they
can see; a view is counted once per reader per ``VIEW_WINDOW``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from knowledge import events
from knowledge.models import (
    FeedbackStatus,
    KnowledgeArticle,
    KnowledgeArticleFeedback,
    KnowledgeArticleRating,
    KnowledgeArticleStatus,
    KnowledgeArticleTicketLink,
    KnowledgeArticleView,
)
from knowledge.services._common import lock_article, require_agent, require_reader
from nixflow.models import Source, Ticket, User
from nixflow.services import ticket_create
from nixflow.toolkit.errors import ConflictError

# Views of one reader within this window count once (a reload, a back button).
VIEW_WINDOW = timedelta(minutes=30)


@transaction.atomic
def article_rate(
    *, article: KnowledgeArticle, user: User | None, helpful: bool, reader_key: str = ""
) -> KnowledgeArticleRating:
    """Record a reader's answer to "Was this helpful?"; a second call changes it.

    A signed-in ``user`` answers once per article; an anonymous reader (``user`` None or
    anonymous) once per ``reader_key`` (``viewer_key_for(user=None, client=...)``: what
    stands for their browser), which they must then give.

    The article row is locked, so that the figures on it are recounted from the
    ratings by one transaction at a time (a recount, not an increment: it cannot
    drift, whatever happened before).
    """
    signed_in = bool(getattr(user, "is_authenticated", False))
    if not signed_in and not reader_key.startswith("anon:"):
        raise PermissionDenied("Sign in to rate articles.")
    require_reader(user, article)
    article = lock_article(article)
    now = timezone.now()
    defaults = {"helpful": helpful, "created": now, "updated": now}
    if signed_in:
        rating, created = KnowledgeArticleRating.objects.get_or_create(
            article=article, user=user, defaults=defaults
        )
    else:
        rating, created = KnowledgeArticleRating.objects.get_or_create(
            article=article, user=None, reader_key=reader_key[:64], defaults=defaults
        )
    if not created and rating.helpful == helpful:
        return rating
    if not created:
        rating.helpful, rating.updated = helpful, now
        rating.save(update_fields=["helpful", "updated"])
    counts = KnowledgeArticleRating.objects.filter(article=article).aggregate(
        yes=Count("pk", filter=Q(helpful=True)), no=Count("pk", filter=Q(helpful=False))
    )
    KnowledgeArticle.objects.filter(pk=article.pk).update(
        helpful_count=counts["yes"], not_helpful_count=counts["no"]
    )
    events.publish(
        events.ARTICLE_RATED,
        subject=article,
        actor=user if signed_in else None,
        payload={"helpful": helpful, "changed": not created, "anonymous": not signed_in},
    )
    return rating


def viewer_key_for(*, user: User | None, client: str = "") -> str:
    """Who a view is counted for: the user, or for anonymous readers a hash of what
    identifies their browser (session key, or address and user agent) — never the
    address itself."""
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return "anon:" + hashlib.sha256(client.encode()).hexdigest()[:40]


def article_view_record(
    *, article: KnowledgeArticle, user: User | None, viewer_key: str, at: datetime | None = None
) -> bool:
    """Count a read of a published article, once per viewer per ``VIEW_WINDOW``.
    Returns whether it counted.

    Two reads of the same viewer at the same moment (two tabs) must count once: a
    transaction-scoped advisory lock on (article, viewer) serializes the check and
    the insert for that pair only, and the counter is incremented in the same
    transaction. A repeat inside the window writes nothing.
    """
    if article.status != KnowledgeArticleStatus.PUBLISHED:
        return False
    at = at or timezone.now()
    recent = KnowledgeArticleView.objects.filter(
        article_id=article.pk, viewer_key=viewer_key, viewed_at__gt=at - VIEW_WINDOW
    )
    if recent.exists():  # the common case, answered without a lock or a write
        return False
    outer = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        # Views are analytics, as searches are (services.search_record): this
        # transaction alone commits without waiting for the WAL to reach the disk,
        # which cost a reader more than the rest of the page. A crash may lose the
        # last fraction of a second of views, nothing else. Inside a caller's
        # transaction, its durability is left alone. (One statement with the lock:
        # one round trip.)
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0)), set_config("
            "'synchronous_commit', CASE WHEN %s THEN current_setting('synchronous_commit')"
            " ELSE 'off' END, true)",
            [f"knowledge.view:{article.pk}:{viewer_key}", outer],
        )
        # Under the lock, a new statement (so a new snapshot: it sees a view the
        # lock's previous holder committed) checks, inserts and counts in one round
        # trip: every first read of an article pays for it.
        cursor.execute(
            _COUNT_VIEW_SQL,
            {
                "article": article.pk,
                "user": user.pk if user is not None and user.is_authenticated else None,
                "key": viewer_key,
                "at": at,
                "since": at - VIEW_WINDOW,
            },
        )
        return bool(cursor.rowcount)


_COUNT_VIEW_SQL = f"""
WITH recent AS (
    SELECT 1 FROM {KnowledgeArticleView._meta.db_table}
    WHERE article_id = %(article)s AND viewer_key = %(key)s AND viewed_at > %(since)s
), added AS (
    INSERT INTO {KnowledgeArticleView._meta.db_table} (article_id, user_id, viewer_key, viewed_at)
    SELECT %(article)s, %(user)s, %(key)s, %(at)s WHERE NOT EXISTS (SELECT 1 FROM recent)
    RETURNING 1
)
UPDATE {KnowledgeArticle._meta.db_table} SET view_count = view_count + 1
WHERE id = %(article)s AND EXISTS (SELECT 1 FROM added)
"""  # noqa: S608 -- table names from the models, values as parameters


@transaction.atomic
def feedback_create(
    *,
    article: KnowledgeArticle,
    author: User | None,
    comment: str,
    contact: str = "",
    as_request: bool = False,
) -> KnowledgeArticleFeedback:
    """A reader's comment on an article they can read, for its editors.

    Anonymous readers (``author`` None) may comment on public articles; their comment
    stays feedback. A signed-in reader may send it ``as_request``: a ticket is opened
    for them at once (as ``feedback_create_ticket`` opens one for an agent) and the
    feedback is closed with a link to it.
    """
    signed_in = bool(getattr(author, "is_authenticated", False))
    require_reader(author if signed_in else None, article)
    if not comment.strip():
        raise ValidationError({"comment": "Tell us what is wrong or missing."})
    if as_request and not signed_in:
        raise PermissionDenied("Sign in to send your comment as a request.")
    feedback = KnowledgeArticleFeedback(
        article=article,
        author=author if signed_in else None,
        comment=comment.strip(),
        contact=contact.strip(),
    )
    feedback.full_clean()
    feedback.save()
    events.publish(
        events.FEEDBACK_CREATED,
        subject=feedback,
        actor=author if signed_in else None,
        payload={"article_id": article.pk},
    )
    if as_request and author is not None:  # signed in: checked above
        _feedback_to_ticket(feedback, actor=author, requester=author)
    return feedback


# Same shape as email_integration's _lock_suspended: lock a row and check its state, other model
# and rule.
def _lock_open_feedback(feedback: KnowledgeArticleFeedback) -> KnowledgeArticleFeedback:
    feedback = KnowledgeArticleFeedback.objects.select_for_update().get(pk=feedback.pk)
    if feedback.status != FeedbackStatus.OPEN:
        raise ConflictError(
            {"status": f"This feedback is already {feedback.get_status_display().lower()}."}
        )
    return feedback


@transaction.atomic
def feedback_resolve(
    *,
    feedback: KnowledgeArticleFeedback,
    actor: User | None,
    status: FeedbackStatus = FeedbackStatus.RESOLVED,
    note: str = "",
) -> KnowledgeArticleFeedback:
    """Close open feedback as resolved (the article was fixed) or dismissed."""
    require_agent(actor, "resolve feedback")
    if status not in {FeedbackStatus.RESOLVED, FeedbackStatus.DISMISSED}:
        raise ValidationError({"status": "Feedback is resolved or dismissed here."})
    feedback = _lock_open_feedback(feedback)
    feedback.status = status
    feedback.resolution_note = note
    feedback.resolved_by = actor
    feedback.resolved_at = timezone.now()
    feedback.save(update_fields=["status", "resolution_note", "resolved_by", "resolved_at"])
    # One event, named by keyword arguments: alike in shape to the other publish calls, another
    # fact.
    events.publish(
        events.FEEDBACK_RESOLVED,
        subject=feedback,
        actor=actor,
        payload={"status": status, "article_id": feedback.article_id},
    )
    return feedback


@transaction.atomic
def feedback_create_ticket(*, feedback: KnowledgeArticleFeedback, actor: User) -> Ticket:
    """Turn open feedback into a ticket (source WEB) for its author, or for the agent
    when the author's account is gone, and close the feedback with a link to it."""
    require_agent(actor, "turn feedback into tickets")
    feedback = _lock_open_feedback(feedback)
    author = feedback.author
    requester = author if author is not None and author.is_active else actor
    return _feedback_to_ticket(feedback, actor=actor, requester=requester)


def _feedback_to_ticket(
    feedback: KnowledgeArticleFeedback, *, actor: User, requester: User
) -> Ticket:
    """Open the ticket for open ``feedback`` (locked or just written by the caller) and
    close the feedback with a link to it; ``actor`` is the agent who turns it into a
    ticket, or its author sending it as a request."""
    article = feedback.article
    lines = [
        f"Feedback on the knowledge base article “{article.title}” (#{article.pk}):",
        "",
        feedback.comment,
    ]
    if feedback.contact:
        lines += ["", f"Contact: {feedback.contact}"]
    ticket = ticket_create(
        requester=requester,
        title=f"Article feedback: {article.title}"[:200],
        description="\n".join(lines),
        source=Source.WEB,
        actor=actor,
    )
    feedback.status = FeedbackStatus.TICKET
    feedback.ticket = ticket
    feedback.resolved_by = actor
    feedback.resolved_at = timezone.now()
    feedback.save(update_fields=["status", "ticket", "resolved_by", "resolved_at"])
    KnowledgeArticleTicketLink.objects.get_or_create(
        article=article, ticket=ticket, defaults={"linked_by": actor}
    )
    # One event, named by keyword arguments: alike in shape to the other publish calls, another
    # fact.
    events.publish(
        events.FEEDBACK_TURNED_INTO_TICKET,
        subject=feedback,
        actor=actor,
        payload={"article_id": article.pk},
        ticket_key=ticket.key,
    )
    return ticket
