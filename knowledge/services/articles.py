"""Articles and their versions: writing, the publishing workflow, restoring, deleting.

Articles are written by agents. Every change of title, summary or body renders the
Markdown again (``knowledge.rendering``), makes the next numbered version and adds the
text's words to the vocabulary; kind, visibility, category, tags and slug change without
a version. Each service locks the article's row and records one event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from knowledge import events, rendering
from knowledge.models import (
    STATUS_TRANSITIONS,
    KBCategory,
    KnowledgeArticle,
    KnowledgeArticleFormerSlug,
    KnowledgeArticleStatus,
    KnowledgeArticleVersion,
    KnowledgeCategory,
    KnowledgeTag,
    Visibility,
)
from knowledge.services._common import (
    lock_article,
    require_agent,
    save_new,
    unique_slug,
    unique_violations_as_errors,
)
from knowledge.services.vocabulary import vocabulary_add
from nixflow.models import User
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.services import model_update

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
    require_agent(author, "write articles")
    _validate_body(body)
    now = timezone.now()
    # Keyword arguments one a line: alike in shape to other constructor calls, different fields.
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
    article.slug = slug or unique_slug(KnowledgeArticle, article.title, limit=220)
    article.full_clean()
    save_new(article)
    # A former address of another article is this one's from now on.
    KnowledgeArticleFormerSlug.objects.filter(slug=article.slug).delete()
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


def _new_tags(
    article: KnowledgeArticle, tags: Iterable[KnowledgeTag] | None
) -> list[KnowledgeTag] | None:
    """``tags`` when they differ from the article's, else None (nothing to change)."""
    if tags is None:
        return None
    tags = list(tags)
    if {t.pk for t in tags} == set(article.tags.values_list("pk", flat=True)):
        return None
    return tags


@transaction.atomic
def article_update(
    *, article: KnowledgeArticle, actor: User | None, data: dict[str, Any], note: str = ""
) -> KnowledgeArticle:
    """Change an article. A change of title, summary or body is a new version (with
    ``note``); kind, visibility, category, tags and slug change without one."""
    require_agent(actor, "edit articles")
    unknown = set(data) - set(CONTENT_FIELDS) - set(META_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown article fields: {', '.join(sorted(unknown))}.")
    if "body" in data:
        _validate_body(data["body"])
    article = lock_article(article)
    now = timezone.now()
    tags = _new_tags(article, data.get("tags"))
    fields = {
        # Title and summary are stored stripped and without highlight markers, as on create.
        name: rendering.strip_markers(value.strip()) if name in {"title", "summary"} else value
        for name, value in data.items()
        if name != "tags"
    }
    # Validated below, once the new content is rendered; saved with it.
    changes = model_update(instance=article, data=fields, validate=None, save=False)
    changed = (["tags"] if tags is not None else []) + list(changes)
    if not changed:
        return article
    if "slug" in changes:
        _keep_former_slug(article, old=changes["slug"][0])
    content_changed = any(name in CONTENT_FIELDS for name in changed)
    if content_changed:
        _render_into(article)
        article.version += 1
    article.updated = now
    article.full_clean()
    with unique_violations_as_errors():  # a slug taken by a concurrent write
        article.save()
    if tags is not None:
        article.tags.set(tags)
    if content_changed:
        _new_version(article, author=actor, note=note, at=now)
        vocabulary_add(texts=[article.title, article.summary, article.body_text])
    # One event, named by keyword arguments: alike in shape to the other publish calls, another
    # fact.
    events.publish(
        events.ARTICLE_UPDATED,
        subject=article,
        actor=actor,
        payload={"fields": changed, "version": article.version},
    )
    return article


def _keep_former_slug(article: KnowledgeArticle, *, old: str) -> None:
    """The article's old slug keeps leading to it (the help center answers it with a
    301); its new slug, if it was a former address of any article (this one's included),
    is only its current one now."""
    KnowledgeArticleFormerSlug.objects.filter(slug=article.slug).delete()
    KnowledgeArticleFormerSlug.objects.update_or_create(slug=old, defaults={"article": article})


@transaction.atomic
def article_restore(
    *, article: KnowledgeArticle, version_number: int, actor: User | None
) -> KnowledgeArticle:
    """Make the content of an earlier version current again, as a new version."""
    require_agent(actor, "restore versions")
    article = lock_article(article)
    old = article.versions.filter(number=version_number).first()
    if old is None:
        raise ValidationError({"version": f"The article has no version {version_number}."})
    if (old.title, old.summary, old.body) == (article.title, article.summary, article.body):
        raise ConflictError(
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
    # One event, named by keyword arguments: alike in shape to the other publish calls, another
    # fact.
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
    require_agent(actor, "change the status of articles")
    to_status = KnowledgeArticleStatus(to_status)
    article = lock_article(article)
    current = KnowledgeArticleStatus(article.status)
    if to_status not in STATUS_TRANSITIONS[current]:
        allowed = ", ".join(
            KnowledgeArticleStatus(s).label for s in sorted(STATUS_TRANSITIONS[current])
        )
        raise ConflictError(
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
    require_agent(actor, "delete articles")
    article = lock_article(article)
    if article.published_at is not None:
        raise ConflictError("This article has been published; archive it instead of deleting it.")
    events.publish(
        events.ARTICLE_DELETED,
        subject=article,
        actor=actor,
        payload={"title": article.title, "version": article.version},
    )
    files = [attachment.file for attachment in article.attachments.all()]
    article.delete()
    transaction.on_commit(lambda: [file.delete(save=False) for file in files])
