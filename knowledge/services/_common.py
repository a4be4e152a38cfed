"""Steps the knowledge services share: who may act, locking an article, slugs."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from knowledge import selectors
from knowledge.models import KnowledgeArticle
from nixflow.models import User
from nixflow.toolkit.auth import require_agent

__all__ = [
    "lock_article",
    "require_agent",
    "require_reader",
    "save_new",
    "unique_slug",
    "unique_violations_as_errors",
]


def require_reader(user: User | None, article: KnowledgeArticle) -> None:
    """Refuse a reader who may not see ``article`` (ratings, feedback)."""
    if not selectors.article_is_readable(user=user, article=article):
        raise PermissionDenied("You cannot see this article.")


def lock_article(article: KnowledgeArticle) -> KnowledgeArticle:
    """The article's row, locked for this transaction and fresh from the database."""
    return KnowledgeArticle.objects.select_for_update().get(pk=article.pk)


def unique_slug(
    model: Any,
    text: str,
    *,
    exclude_pk: int | None = None,
    limit: int,
    reserved: Collection[str] = (),
) -> str:
    """``slugify(text)``, with ``-2``, ``-3``, … when taken (one query) or ``reserved``."""
    base = slugify(text)[: limit - 8].strip("-") or "item"
    taken = set(
        model.objects.filter(slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    ) | set(reserved)
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


SLUG_TAKEN = {"_slug_": ("slug", "This slug was taken a moment ago; try again.")}


@contextmanager
def unique_violations_as_errors(
    violations: Mapping[str, tuple[str, str]] = SLUG_TAKEN,
) -> Iterator[None]:
    """Turn the violation of a unique index into a field error.

    ``full_clean`` checks uniqueness first, for a friendly message, but a concurrent
    transaction may insert the same value between that check and this one's write: then
    the index decides. ``violations`` maps a part of the index's name to the field and
    message to report; any other IntegrityError propagates. The savepoint keeps the
    caller's transaction usable.
    """
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        for index, (field, message) in violations.items():
            if index in str(error):
                raise ValidationError({field: message}) from error
        raise


def save_new(instance: Any, violations: Mapping[str, tuple[str, str]] = SLUG_TAKEN) -> None:
    """Insert ``instance``, a unique violation a field error (``unique_violations_as_errors``)."""
    with unique_violations_as_errors(violations):
        instance.save()
