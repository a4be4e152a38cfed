"""Writes of the knowledge base. The admin, the API, demo data and tasks all call these.

Each service checks who may do it, locks the row it changes (``select_for_update``),
changes it, and records one event (``knowledge.events``), all in one transaction.
Articles are written by agents; readers (requesters, anonymous visitors) only rate,
comment on and read published articles they can see.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.text import slugify

from knowledge import events, rendering, selectors
from knowledge.models import (
    STATUS_TRANSITIONS,
    FeedbackStatus,
    KBCategory,
    KnowledgeArticle,
    KnowledgeArticleAttachment,
    KnowledgeArticleFeedback,
    KnowledgeArticleRating,
    KnowledgeArticleStatus,
    KnowledgeArticleTicketLink,
    KnowledgeArticleVersion,
    KnowledgeArticleView,
    KnowledgeCategory,
    KnowledgeSearchHistory,
    KnowledgeTag,
    Visibility,
)
from nixflow.models import Source, Ticket, User

# Views of one reader within this window count once (a reload, a back button).
VIEW_WINDOW = timedelta(minutes=30)
# Articles are for reading: far below PostgreSQL's 1 MB limit of a tsvector.
MAX_BODY_CHARS = 200_000
CONTENT_FIELDS = ("title", "summary", "body")
META_FIELDS = ("kind", "visibility", "category", "tags", "slug")

_STATUS_EVENTS = {
    KnowledgeArticleStatus.IN_REVIEW: events.ARTICLE_SUBMITTED,
    KnowledgeArticleStatus.PUBLISHED: events.ARTICLE_PUBLISHED,
    KnowledgeArticleStatus.ARCHIVED: events.ARTICLE_ARCHIVED,
    KnowledgeArticleStatus.DRAFT: events.ARTICLE_RETURNED_TO_DRAFT,
}


def _require_agent(actor: User | None, action: str) -> None:
    """``actor`` None is the system (demo data, tasks); people must be agents."""
    if actor is not None and not getattr(actor, "is_agent", False):
        raise PermissionDenied(f"Only agents can {action}.")


def _require_reader(user: User | None, article: KnowledgeArticle) -> None:
    if not selectors.article_is_readable(user=user, article=article):
        raise PermissionDenied("You cannot see this article.")


def _lock(article: KnowledgeArticle) -> KnowledgeArticle:
    return KnowledgeArticle.objects.select_for_update().get(pk=article.pk)


def _unique_slug(model: Any, text: str, *, exclude_pk: int | None = None, limit: int) -> str:
    """``slugify(text)``, with ``-2``, ``-3``, … when taken (one query)."""
    base = slugify(text)[: limit - 8].strip("-") or "item"
    taken = set(
        model.objects.filter(slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _save_new(instance: Any, field: str = "slug") -> None:
    """Insert ``instance``; a concurrent insert of the same slug becomes a field error
    (the unique index decides; the check before it only makes the message friendly)."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as error:
        if field in str(error):
            raise ValidationError(
                {field: "This slug was taken a moment ago; try again."}
            ) from error
        raise


# --- Vocabulary ---------------------------------------------------------------------------
# Lower-cased words (the 'simple' configuration neither stems nor drops stop words) of
# three to forty letters: numbers, codes and URLs are not typo-corrected.
_VOCABULARY_SQL = """
    INSERT INTO knowledge_knowledgeword (word)
    SELECT DISTINCT w
    FROM unnest(%s::text[]) AS t(text),
         unnest(tsvector_to_array(to_tsvector('simple', t.text))) AS w
    WHERE w ~ '^[[:alpha:]]{3,40}$'
    -- In order: two writers adding the same new words wait for each other on the
    -- first one instead of each holding a word the other needs (a deadlock).
    ORDER BY w
    ON CONFLICT (word) DO NOTHING
"""


def vocabulary_add(*, texts: Sequence[str]) -> None:
    """Add the words of ``texts`` to the vocabulary behind typo tolerance."""
    texts = [text for text in texts if text]
    if not texts:
        return
    with connection.cursor() as cursor:
        cursor.execute(_VOCABULARY_SQL, [texts])


def vocabulary_rebuild() -> int:
    """The vocabulary recomputed from every article (words of deleted articles go)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM knowledge_knowledgeword")
        cursor.execute(
            """
            INSERT INTO knowledge_knowledgeword (word)
            SELECT word FROM ts_stat(
                'SELECT to_tsvector(''simple'', title || '' '' || summary || '' '' || body_text)
                 FROM knowledge_knowledgearticle'
            )
            WHERE word ~ '^[[:alpha:]]{3,40}$'
            """
        )
        return cursor.rowcount


# --- Categories and tags -----------------------------------------------------------------
@transaction.atomic
def category_create(
    *,
    name: str,
    actor: User | None,
    slug: str = "",
    parent: KnowledgeCategory | None = None,
    description: str = "",
    position: int = 0,
) -> KnowledgeCategory:
    _require_agent(actor, "manage knowledge categories")
    category = KnowledgeCategory(
        name=name.strip(),
        slug=slug or _unique_slug(KnowledgeCategory, name, limit=120),
        parent=parent,
        description=description,
        position=position,
    )
    category.full_clean()
    _save_new(category)
    events.publish(
        events.CATEGORY_CREATED,
        subject=category,
        actor=actor,
        payload={"name": category.name, "slug": category.slug, "parent_id": category.parent_id},
    )
    return category


@transaction.atomic
def category_update(
    *, category: KnowledgeCategory, actor: User | None, data: dict[str, Any]
) -> KnowledgeCategory:
    """Change name, slug, parent, description or position."""
    _require_agent(actor, "manage knowledge categories")
    unknown = set(data) - {"name", "slug", "parent", "description", "position"}
    if unknown:
        raise ValidationError(f"Unknown category fields: {', '.join(sorted(unknown))}.")
    category = KnowledgeCategory.objects.select_for_update().get(pk=category.pk)
    changed = [name for name, value in data.items() if getattr(category, name) != value]
    if not changed:
        return category
    for name in changed:
        setattr(category, name, data[name])
    category.full_clean()
    category.save(update_fields=changed)
    events.publish(
        events.CATEGORY_UPDATED, subject=category, actor=actor, payload={"fields": changed}
    )
    return category


@transaction.atomic
def category_delete(*, category: KnowledgeCategory, actor: User | None) -> None:
    """Only an empty category: no articles and no subcategories."""
    _require_agent(actor, "manage knowledge categories")
    category = KnowledgeCategory.objects.select_for_update().get(pk=category.pk)
    if category.children.exists():
        raise ValidationError("The category has subcategories; move or delete them first.")
    if category.articles.exists():
        raise ValidationError("The category has articles; move them to another category first.")
    events.publish(
        events.CATEGORY_DELETED, subject=category, actor=actor, payload={"slug": category.slug}
    )
    category.delete()


@transaction.atomic
def tag_create(*, name: str, actor: User | None, slug: str = "") -> KnowledgeTag:
    _require_agent(actor, "manage knowledge tags")
    tag = KnowledgeTag(name=name.strip(), slug=slug or _unique_slug(KnowledgeTag, name, limit=60))
    tag.full_clean()
    _save_new(tag)
    events.publish(events.TAG_CREATED, subject=tag, actor=actor, payload={"name": tag.name})
    return tag


@transaction.atomic
def tag_update(*, tag: KnowledgeTag, actor: User | None, data: dict[str, Any]) -> KnowledgeTag:
    _require_agent(actor, "manage knowledge tags")
    unknown = set(data) - {"name", "slug"}
    if unknown:
        raise ValidationError(f"Unknown tag fields: {', '.join(sorted(unknown))}.")
    tag = KnowledgeTag.objects.select_for_update().get(pk=tag.pk)
    changed = [name for name, value in data.items() if getattr(tag, name) != value]
    if not changed:
        return tag
    for name in changed:
        setattr(tag, name, data[name])
    tag.full_clean()
    tag.save(update_fields=changed)
    events.publish(events.TAG_UPDATED, subject=tag, actor=actor, payload={"fields": changed})
    return tag


@transaction.atomic
def tag_delete(*, tag: KnowledgeTag, actor: User | None) -> None:
    """Deleting a tag removes it from its articles (their content is unchanged)."""
    _require_agent(actor, "manage knowledge tags")
    events.publish(events.TAG_DELETED, subject=tag, actor=actor, payload={"name": tag.name})
    tag.delete()


# --- Articles -----------------------------------------------------------------------------
def _validate_body(body: str) -> None:
    if not body.strip():
        raise ValidationError({"body": "An article needs a body."})
    if len(body) > MAX_BODY_CHARS:
        raise ValidationError(
            {"body": f"The body is {len(body):,} characters; the limit is {MAX_BODY_CHARS:,}."}
        )


def _render_into(article: KnowledgeArticle) -> None:
    rendered = rendering.render(article.body)
    article.body_html, article.body_text = rendered.html, rendered.text
    article.title = rendering.strip_markers(article.title.strip())
    article.summary = rendering.strip_markers(article.summary.strip())


def _new_version(
    article: KnowledgeArticle,
    *,
    author: User | None,
    note: str,
    at: datetime,
    restored_from: int | None = None,
) -> KnowledgeArticleVersion:
    return KnowledgeArticleVersion.objects.create(
        article=article,
        number=article.version,
        title=article.title,
        summary=article.summary,
        body=article.body,
        author=author if getattr(author, "is_authenticated", False) else None,
        note=note[:300],
        restored_from=restored_from,
        created=at,
    )


@transaction.atomic
def article_create(
    *,
    title: str,
    body: str,
    author: User,
    summary: str = "",
    kind: KBCategory = KBCategory.HOW_TO,
    visibility: Visibility = Visibility.PUBLIC,
    category: KnowledgeCategory | None = None,
    tags: Iterable[KnowledgeTag] = (),
    slug: str = "",
    note: str = "",
) -> KnowledgeArticle:
    """A new draft by ``author`` (an agent), with version 1."""
    _require_agent(author, "write articles")
    _validate_body(body)
    now = timezone.now()
    article = KnowledgeArticle(
        title=title,
        summary=summary,
        body=body,
        kind=kind,
        visibility=visibility,
        category=category,
        author=author,
        status=KnowledgeArticleStatus.DRAFT,
        version=1,
        created=now,
        updated=now,
    )
    _render_into(article)
    article.slug = slug or _unique_slug(KnowledgeArticle, article.title, limit=220)
    article.full_clean()
    _save_new(article)
    tags = list(tags)
    if tags:
        article.tags.set(tags)
    _new_version(article, author=author, note=note or "Created.", at=now)
    vocabulary_add(texts=[article.title, article.summary, article.body_text])
    events.publish(
        events.ARTICLE_CREATED,
        subject=article,
        actor=author,
        payload={"version": 1, "title": article.title, "visibility": article.visibility},
    )
    return article


@transaction.atomic
def article_update(
    *, article: KnowledgeArticle, actor: User | None, data: dict[str, Any], note: str = ""
) -> KnowledgeArticle:
    """Change an article. A change of title, summary or body is a new version (with
    ``note``); kind, visibility, category, tags and slug change without one."""
    _require_agent(actor, "edit articles")
    unknown = set(data) - set(CONTENT_FIELDS) - set(META_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown article fields: {', '.join(sorted(unknown))}.")
    if "body" in data:
        _validate_body(data["body"])
    article = _lock(article)
    now = timezone.now()
    changed: list[str] = []
    tags = data.get("tags")
    if tags is not None:
        tags = list(tags)
        if {t.pk for t in tags} != set(article.tags.values_list("pk", flat=True)):
            changed.append("tags")
    for name, value in data.items():
        if name == "tags":
            continue
        if name in {"title", "summary"}:
            value = rendering.strip_markers(value.strip())  # noqa: PLW2901 -- as on create
        if getattr(article, name) != value:
            setattr(article, name, value)
            changed.append(name)
    if not changed:
        return article
    content_changed = any(name in CONTENT_FIELDS for name in changed)
    if content_changed:
        _render_into(article)
        article.version += 1
    article.updated = now
    article.full_clean()
    article.save()
    if "tags" in changed and tags is not None:
        article.tags.set(tags)
    if content_changed:
        _new_version(article, author=actor, note=note, at=now)
        vocabulary_add(texts=[article.title, article.summary, article.body_text])
    events.publish(
        events.ARTICLE_UPDATED,
        subject=article,
        actor=actor,
        payload={"fields": changed, "version": article.version},
    )
    return article


@transaction.atomic
def article_restore(
    *, article: KnowledgeArticle, version_number: int, actor: User | None
) -> KnowledgeArticle:
    """Make the content of an earlier version current again, as a new version."""
    _require_agent(actor, "restore versions")
    article = _lock(article)
    old = article.versions.filter(number=version_number).first()
    if old is None:
        raise ValidationError({"version": f"The article has no version {version_number}."})
    if (old.title, old.summary, old.body) == (article.title, article.summary, article.body):
        raise ValidationError(
            {"version": f"Version {version_number} is the same as the current content."}
        )
    now = timezone.now()
    article.title, article.summary, article.body = old.title, old.summary, old.body
    _render_into(article)
    article.version += 1
    article.updated = now
    article.full_clean()
    article.save()
    _new_version(
        article,
        author=actor,
        note=f"Restored version {version_number}.",
        at=now,
        restored_from=version_number,
    )
    events.publish(
        events.ARTICLE_RESTORED,
        subject=article,
        actor=actor,
        payload={"version": article.version, "restored_from": version_number},
    )
    return article


@transaction.atomic
def article_transition(
    *, article: KnowledgeArticle, to_status: KnowledgeArticleStatus | str, actor: User | None
) -> KnowledgeArticle:
    """Move along the publishing workflow: draft → in review → published → archived
    (review may send it back to draft; an archived article goes back to draft)."""
    _require_agent(actor, "change the status of articles")
    to_status = KnowledgeArticleStatus(to_status)
    article = _lock(article)
    current = KnowledgeArticleStatus(article.status)
    if to_status not in STATUS_TRANSITIONS[current]:
        allowed = ", ".join(
            KnowledgeArticleStatus(s).label for s in sorted(STATUS_TRANSITIONS[current])
        )
        raise ValidationError(
            {
                "status": f"A {current.label.lower()} article cannot become "
                f"{to_status.label.lower()}; from {current.label.lower()} it can become: "
                f"{allowed.lower()}."
            }
        )
    now = timezone.now()
    article.status = to_status
    article.updated = now
    fields = ["status", "updated"]
    if to_status == KnowledgeArticleStatus.PUBLISHED:
        article.published_at = now
        fields.append("published_at")
    article.save(update_fields=fields)
    events.publish(
        _STATUS_EVENTS[to_status],
        subject=article,
        actor=actor,
        payload={"from": current, "to": to_status, "version": article.version},
    )
    return article


@transaction.atomic
def article_delete(*, article: KnowledgeArticle, actor: User | None) -> None:
    """Delete an article that was never published; published ones are archived instead,
    so that links to them and their history stay."""
    _require_agent(actor, "delete articles")
    article = _lock(article)
    if article.published_at is not None:
        raise ValidationError("This article has been published; archive it instead of deleting it.")
    events.publish(
        events.ARTICLE_DELETED,
        subject=article,
        actor=actor,
        payload={"title": article.title, "version": article.version},
    )
    files = [attachment.file for attachment in article.attachments.all()]
    article.delete()
    transaction.on_commit(lambda: [file.delete(save=False) for file in files])


# --- Readers: ratings, views, feedback ----------------------------------------------------
@transaction.atomic
def article_rate(*, article: KnowledgeArticle, user: User, helpful: bool) -> KnowledgeArticleRating:
    """Record ``user``'s answer to "Was this helpful?"; a second call changes it.

    The article row is locked, so that the figures on it are recounted from the
    ratings by one transaction at a time (a recount, not an increment: it cannot
    drift, whatever happened before).
    """
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Sign in to rate articles.")
    _require_reader(user, article)
    article = _lock(article)
    now = timezone.now()
    rating, created = KnowledgeArticleRating.objects.get_or_create(
        article=article, user=user, defaults={"helpful": helpful, "created": now, "updated": now}
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
        actor=user,
        payload={"helpful": helpful, "changed": not created},
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
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"knowledge.view:{article.pk}:{viewer_key}"],
            )
        if recent.exists():
            return False
        KnowledgeArticleView.objects.create(
            article_id=article.pk,
            user=user if getattr(user, "is_authenticated", False) else None,
            viewer_key=viewer_key,
            viewed_at=at,
        )
        KnowledgeArticle.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)
    return True


@transaction.atomic
def feedback_create(
    *, article: KnowledgeArticle, author: User, comment: str, contact: str = ""
) -> KnowledgeArticleFeedback:
    """A reader's comment on an article they can read, for its editors."""
    if not getattr(author, "is_authenticated", False):
        raise PermissionDenied("Sign in to send feedback.")
    _require_reader(author, article)
    if not comment.strip():
        raise ValidationError({"comment": "Tell us what is wrong or missing."})
    feedback = KnowledgeArticleFeedback(
        article=article, author=author, comment=comment.strip(), contact=contact.strip()
    )
    feedback.full_clean()
    feedback.save()
    events.publish(
        events.FEEDBACK_CREATED,
        subject=feedback,
        actor=author,
        payload={"article_id": article.pk},
    )
    return feedback


def _lock_open_feedback(feedback: KnowledgeArticleFeedback) -> KnowledgeArticleFeedback:
    feedback = KnowledgeArticleFeedback.objects.select_for_update().get(pk=feedback.pk)
    if feedback.status != FeedbackStatus.OPEN:
        raise ValidationError(
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
    _require_agent(actor, "resolve feedback")
    if status not in {FeedbackStatus.RESOLVED, FeedbackStatus.DISMISSED}:
        raise ValidationError({"status": "Feedback is resolved or dismissed here."})
    feedback = _lock_open_feedback(feedback)
    feedback.status = status
    feedback.resolution_note = note
    feedback.resolved_by = actor
    feedback.resolved_at = timezone.now()
    feedback.save(update_fields=["status", "resolution_note", "resolved_by", "resolved_at"])
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
    from nixflow.services import ticket_create

    _require_agent(actor, "turn feedback into tickets")
    feedback = _lock_open_feedback(feedback)
    article = feedback.article
    requester = feedback.author if feedback.author and feedback.author.is_active else actor
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
    events.publish(
        events.FEEDBACK_TURNED_INTO_TICKET,
        subject=feedback,
        actor=actor,
        payload={"article_id": article.pk},
        ticket_key=ticket.key,
    )
    return ticket


# --- Attachments --------------------------------------------------------------------------
# Types are recognised from the file's first bytes, not from its name or the type the
# client declared. SVG and HTML are refused: a browser runs their scripts.
_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
]
_TEXT_TYPES = {".txt": "text/plain", ".csv": "text/csv", ".log": "text/plain"}


def _sniff(head: bytes, filename: str) -> str | None:
    for signature, offset, content_type in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return content_type
    extension = filename[filename.rfind(".") :].lower() if "." in filename else ""
    if extension in _TEXT_TYPES and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as error:
            # A multi-byte character may be cut at the end of the sample.
            if error.start < len(head) - 4:
                return None
        lowered = head.lower()
        if b"<script" in lowered or b"<html" in lowered or b"<svg" in lowered:
            return None
        return _TEXT_TYPES[extension]
    return None


@transaction.atomic
def attachment_add(
    *, article: KnowledgeArticle, upload: UploadedFile, actor: User | None
) -> KnowledgeArticleAttachment:
    """Attach a file: at most ``KNOWLEDGE_MAX_ATTACHMENT_BYTES``, of an allowed type
    recognised from its content, stored under its SHA-256. The same file twice on one
    article is the existing attachment."""
    _require_agent(actor, "attach files")
    limit = getattr(settings, "KNOWLEDGE_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
    size = upload.size or 0
    if size > limit:
        raise ValidationError({"file": f"The file is {size:,} bytes; the limit is {limit:,}."})
    if size == 0:
        raise ValidationError({"file": "The file is empty."})
    filename = re.sub(r"[^\w.\- ]", "_", (upload.name or "attachment").rsplit("/", 1)[-1])[:200]
    upload.seek(0)
    head = upload.read(512)
    content_type = _sniff(head, filename)
    if content_type is None:
        raise ValidationError(
            {"file": "Allowed are PNG, JPEG, GIF and WebP images, PDF, ZIP and plain text."}
        )
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    sha256 = digest.hexdigest()
    article = _lock(article)
    existing = article.attachments.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    upload.seek(0)
    attachment = KnowledgeArticleAttachment(
        article=article,
        filename=filename,
        content_type=content_type,
        size=size,
        sha256=sha256,
        uploaded_by=actor,
    )
    # Storage has no transactions: the file is written first and removed again when
    # the row cannot be written. (A rollback of an enclosing transaction leaves the
    # file behind, under a name no row points to.)
    attachment.file.save(filename, upload, save=False)
    try:
        with transaction.atomic():
            attachment.save()
            events.publish(
                events.ATTACHMENT_ADDED,
                subject=attachment,
                actor=actor,
                payload={"article_id": article.pk, "sha256": sha256, "size": size},
            )
    except Exception:
        attachment.file.delete(save=False)
        raise
    return attachment


@transaction.atomic
def attachment_remove(*, attachment: KnowledgeArticleAttachment, actor: User | None) -> None:
    _require_agent(actor, "remove attachments")
    events.publish(
        events.ATTACHMENT_REMOVED,
        subject=attachment,
        actor=actor,
        payload={"article_id": attachment.article_id, "sha256": attachment.sha256},
    )
    file = attachment.file
    attachment.delete()
    # Only once the row is gone for good: a rollback must not leave a row without a file.
    transaction.on_commit(lambda: file.delete(save=False))


# --- Tickets ------------------------------------------------------------------------------
@transaction.atomic
def article_link_ticket(
    *, article: KnowledgeArticle, ticket: Ticket, actor: User | None
) -> KnowledgeArticleTicketLink:
    """Record that ``article`` helped with ``ticket`` (idempotent)."""
    _require_agent(actor, "link articles to tickets")
    link, created = KnowledgeArticleTicketLink.objects.get_or_create(
        article=article, ticket=ticket, defaults={"linked_by": actor}
    )
    if created:
        events.publish(
            events.ARTICLE_LINKED_TO_TICKET,
            subject=article,
            actor=actor,
            payload={"ticket_id": ticket.pk},
            ticket_key=ticket.key,
        )
    return link


@transaction.atomic
def article_unlink_ticket(*, article: KnowledgeArticle, ticket: Ticket, actor: User | None) -> bool:
    _require_agent(actor, "unlink articles from tickets")
    deleted, _ = KnowledgeArticleTicketLink.objects.filter(article=article, ticket=ticket).delete()
    if deleted:
        events.publish(
            events.ARTICLE_UNLINKED_FROM_TICKET,
            subject=article,
            actor=actor,
            payload={"ticket_id": ticket.pk},
            ticket_key=ticket.key,
        )
    return bool(deleted)


# --- Search history -----------------------------------------------------------------------
def search_record(
    *,
    query: str,
    normalized_query: str,
    user: User | None,
    results_count: int,
    corrected_query: str = "",
) -> KnowledgeSearchHistory:
    """Record a search (one INSERT, no event: searches are analytics, not changes).

    On its own, the INSERT commits without waiting for the WAL to reach the disk
    (``synchronous_commit = off`` for that transaction only): every search writes a
    row, and a flush per search would cost more than the search. A crash may lose the
    last fraction of a second of search history, never anything else. Inside a caller's
    transaction nothing is changed, so the caller's own writes keep their durability.
    """
    row = KnowledgeSearchHistory(
        query=query[:300],
        normalized_query=normalized_query[:300],
        user=user if getattr(user, "is_authenticated", False) else None,
        results_count=results_count,
        corrected_query=corrected_query[:300],
    )
    if connection.in_atomic_block:
        row.save()
        return row
    # One statement, so one round trip: in autocommit it is its own transaction, and
    # set_config(..., true) in it lasts until that transaction's commit, which is where
    # synchronous_commit is read.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
            INSERT INTO knowledge_knowledgesearchhistory
                (query, normalized_query, user_id, results_count, corrected_query, token,
                 created)
            SELECT %s, %s, %s, %s, %s, %s, %s FROM relaxed
            RETURNING id
            """,
            [
                row.query,
                row.normalized_query,
                row.user_id,
                row.results_count,
                row.corrected_query,
                row.token,
                row.created,
            ],
        )
        row.pk = cursor.fetchone()[0]
    row._state.adding = False
    row._state.db = connection.alias
    return row


def search_click(*, token: Any, article: KnowledgeArticle) -> bool:
    """Record the article opened from a search's results; only the first click counts
    (a conditional UPDATE, so that two clicks at once cannot both count)."""
    updated = KnowledgeSearchHistory.objects.filter(
        token=token, clicked_article__isnull=True
    ).update(clicked_article=article, clicked_at=timezone.now())
    return bool(updated)
